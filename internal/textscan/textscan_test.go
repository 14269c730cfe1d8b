package textscan

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// Index finds what a byte-at-a-time search finds, wherever the byte is
// in a vector block or the tail, for texts of every length around the
// block size.
func TestIndexMatchesBytewise(t *testing.T) {
	sets := []*Set{NewSet(""), NewSet(`"\`), NewSet(`"\&'<>`), NewSet("\x7f"), NewSet("abcdefgh")}
	alphabet := []byte("abcdefghijklmnopqrstuvwxyz ,.?!0123456789\"\\&'<>\x00\x01\x1f\x20\x7f\x80\xc3\xa4\xff\n\r\t")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, set := range sets {
		for n := range 100 {
			for range 200 {
				b := make([]byte, n)
				for i := range b {
					b[i] = 'a' + byte(rng.IntN(26))
				}
				// Zero to three bytes from the whole alphabet, anywhere.
				for range rng.IntN(4) {
					if n > 0 {
						b[rng.IntN(n)] = alphabet[rng.IntN(len(alphabet))]
					}
				}
				s := string(b)
				for _, off := range []int{0, min(1, n), min(7, n)} {
					if got, want := set.Index(s[off:]), set.indexBytewise(s[off:]); got != want {
						t.Fatalf("Index(%q) = %d, byte by byte %d", s[off:], got, want)
					}
				}
			}
		}
	}
}

func TestSetHas(t *testing.T) {
	set := NewSet(`"\`)
	for c := range 256 {
		want := c < 0x20 || c >= 0x80 || c == '"' || c == '\\'
		if got := set.Has(byte(c)); got != want {
			t.Fatalf("Has(%#x) = %v, want %v", c, got, want)
		}
		if got := set.Index(strings.Repeat("a", 40)+string([]byte{byte(c)})) == 40; got != want {
			t.Fatalf("Index finds %#x after 40 bytes: %v, want %v", c, got, want)
		}
	}
}

func BenchmarkIndexLines(b *testing.B) {
	line := "Hello support team, the invoice for order 4711 still shows the old address. Thanks.\n"
	s := strings.Repeat(line, 1<<20/len(line))
	set := NewSet(`"\`)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		for i := 0; i < len(s); i++ {
			i += set.Index(s[i:])
		}
	}
}

// FuzzIndex checks Index against the byte-at-a-time search on any text,
// from any offset, for the sets the escapers use.
func FuzzIndex(f *testing.F) {
	f.Add("plain ascii text that runs past sixteen bytes", 0)
	f.Add("\"quoted\" <tag> & \x00\x7f\xc3\xa4", 3)
	sets := []*Set{NewSet(""), NewSet(`"\`), NewSet(`"\&'<>`), NewSet("\n\r\t\"&<>")}
	f.Fuzz(func(t *testing.T, s string, off int) {
		if off < 0 || off > len(s) {
			off = 0
		}
		for _, set := range sets {
			if got, want := set.Index(s[off:]), set.indexBytewise(s[off:]); got != want {
				t.Fatalf("Index(%q) = %d, byte by byte %d", s[off:], got, want)
			}
		}
	})
}
