package reply

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestMapsRunesEveryByte: every byte value at every offset of lines of every length up to
// 33 (tails of 0 to 7 after whole words, and offsets into a substring so the words are
// unaligned), over backgrounds of ASCII, of bytes just beside the searched ones and of
// high bytes that are not searched, alone and with a second byte set: the word-at-a-time
// test says what the four searches said.
func TestMapsRunesEveryByte(t *testing.T) {
	want := func(l string) bool {
		return strings.IndexByte(l, '\t') >= 0 || strings.IndexByte(l, 0xc2) >= 0 ||
			strings.IndexByte(l, 0xe2) >= 0 || strings.IndexByte(l, 0xef) >= 0
	}
	rng := rand.New(rand.NewPCG(1, 2))
	bgs := [][]byte{
		{'a', ' ', '0', '~'},
		{0x08, 0x0a, 0x09 ^ 0x80, 0x01, 0x00, 0x7f},
		{0xc1, 0xc3, 0xe1, 0xe3, 0xee, 0xf0, 0x80, 0xff, 0x89, 0x42, 0x62, 0x6f},
	}
	check := func(l string) {
		if got := mapsRunes(l); got != want(l) {
			t.Fatalf("mapsRunes(%q) = %v", l, got)
		}
	}
	for _, bg := range bgs {
		for range 4 {
			for n := 0; n <= 33; n++ {
				for off := 0; off < 8; off++ {
					buf := make([]byte, off+n+8)
					for i := range buf {
						buf[i] = bg[rng.IntN(len(bg))]
					}
					check(string(buf[off : off+n]))
					for i := range n {
						for c := range 256 {
							l := append([]byte(nil), buf[off:off+n]...)
							l[i] = byte(c)
							check(string(l))
							if n > 1 {
								l[rng.IntN(n)] = byte(rng.IntN(256))
								check(string(l))
							}
						}
					}
				}
			}
		}
	}
}
