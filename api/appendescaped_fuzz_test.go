package api

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// FuzzAppendEscaped holds AppendEscaped to encoding/json for any bytes,
// room and starting buffer: the escape of the longest prefix that fits.
func FuzzAppendEscaped(f *testing.F) {
	f.Add("a\"b\\c\n\u2028\u2029\xff\xe2\x80<&>\x01\x7f", 7, 3)
	f.Fuzz(func(t *testing.T, s string, room, startCap int) {
		if room < 0 || room > 8*len(s)+16 || startCap < 0 || startCap > 64 {
			return
		}
		start := append(make([]byte, 0, startCap+1), 'p')
		got, r := AppendEscaped(start, s, 1+room)
		if len(got) > 1+room || got[0] != 'p' {
			t.Fatalf("AppendEscaped(%q, %d) = %q: past the limit or the prefix lost", s, room, got)
		}
		if want := escaped(t, s[:r]); !bytes.Equal(got[1:], want) {
			t.Fatalf("AppendEscaped(%q, %d) = %q for %d bytes, encoding/json says %q", s, room, got[1:], r, want)
		}
		if r < len(s) {
			_, size := utf8.DecodeRuneInString(s[r:])
			if next := escaped(t, s[:r+size]); len(next) <= room {
				t.Fatalf("AppendEscaped(%q, %d) stopped at %d, but %q fits", s, room, r, next)
			}
		}
	})
}
