package mapper_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestSizeOfRandomBodies is TestSizeOfCutBodies over random texts dense in
// what the escapes and the cut care about.
func TestSizeOfRandomBodies(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	alphabet := []string{"a", "b ", "\r\n", "\n", "\r", "&", "<", ">", "'", "\"", "\\", "\t", "\x01", "\x7f",
		"é", "€", "\u2028", "\u2029", "\xff", "\xc3", "\xed\xa0\x80", "\ufffd", "> quoted\r\n", "-- \r\n", "On x wrote:\r\n"}
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := 0; i < n; i++ {
		var b strings.Builder
		for k := rng.IntN(400); k > 0; k-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		ct := "text/plain; charset=utf-8"
		raw := []byte("Subject: s\r\nContent-Type: " + ct + "\r\n\r\n" + b.String())
		o := goldenOptions("size")
		o.BodyMaxBytes = 1 + rng.IntN(600)
		t.Run(fmt.Sprint(i), func(t *testing.T) { encode(t, raw, o) })
		if t.Failed() {
			t.Fatalf("raw %q limit %d", raw, o.BodyMaxBytes)
		}
	}
}

// TestLargeRandomBodies: texts large enough that the body fields are
// escaped as they are made, cut and whole, written as encoding/json
// writes them (encode checks).
func TestLargeRandomBodies(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	alphabet := []string{strings.Repeat("plain prose ", 40), "\r\n", "\n", "&", "<", ">", "'", "\"", "\\", "\t", "\x01",
		"é", "€", "\u2028", "\xff", "\r", "> quoted\r\n", "-- \r\n"}
	for i := range 12 {
		var b strings.Builder
		for b.Len() < 64<<10+rng.IntN(200<<10) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		raw := []byte("Subject: s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + b.String())
		o := goldenOptions("size")
		o.BodyMaxBytes = 64<<10 + rng.IntN(400<<10)
		t.Run(fmt.Sprint(i), func(t *testing.T) { encode(t, raw, o) })
	}
}
