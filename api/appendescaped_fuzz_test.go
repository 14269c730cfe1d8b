package api

import (
	"bytes"
	"io"
	"math"
	"math/rand/v2"
	"strings"
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

// FuzzNotedPayload: a conversation whose body fields are noted escaped,
// large enough at times for writeTo to write them from where they are, is
// read, sized and written through writeTo after reads of any size as
// encoding/json writes it.
func FuzzNotedPayload(f *testing.F) {
	f.Add("a \"quoted\" line\n\u2028\xff", uint16(3000), uint32(7), uint32(70000))
	f.Fuzz(func(t *testing.T, s string, reps uint16, first, buf uint32) {
		text := strings.Repeat(s, int(reps)%(1+(200<<10)/max(len(s), 1)))
		c := &Conversation{Body: s, BodyPlain: text, BodyClean: text + s,
			Attachments: []Attachment{{Name: s, Content: []byte(text)}}}
		for _, f := range []string{c.BodyPlain, c.BodyClean} {
			esc, _ := AppendEscaped(nil, f, math.MaxInt)
			c.NoteJSON(f, esc)
		}
		checkPayload(t, c, rand.New(rand.NewPCG(uint64(reps), uint64(first))))
		want := referenceJSON(t, c)
		r := sendReader(t, c)
		head := make([]byte, int(first)%(len(want)+1))
		n, _ := io.ReadFull(r, head)
		var got bytes.Buffer
		got.Write(head[:n])
		if _, err := r.writeTo(&got, int64(len(want)-n), make([]byte, 1+int(buf)%(300<<10))); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("writeTo after %d bytes read differs from encoding/json", n)
		}
	})
}
