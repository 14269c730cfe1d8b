package enmime

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
	"unsafe"
)

// A text-only mail's Text is its part's content, not a copy of it.
func TestTextOnlyBodyIsContent(t *testing.T) {
	body := strings.Repeat("A line of text, and a German word: Straße.\r\n", 100)
	raw := "From: a@example.org\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
	env, err := ReadEnvelope(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if env.Text != body {
		t.Fatalf("Text = %q, want the body", env.Text)
	}
	if unsafe.StringData(env.Text) != unsafe.SliceData(env.Root.Content) {
		t.Fatal("Text is a copy of the part's content")
	}
}

// A text-only mail's Text, the part's content itself, stays what it was
// read as while the pooled buffers it was read through (the part reader,
// readAll's scratch, the base64 decoder's) read other mails: none of them
// is the content's memory. Each encoding and both ways of reading (with
// and without the size of the rest known) are checked.
func TestTextOnlyBodyOutlivesPools(t *testing.T) {
	line := func(k int) string {
		return strings.Repeat(string(rune('a'+k%26)), 60) + " Straße\r\n"
	}
	encodings := map[string]func(string) string{
		"8bit": func(s string) string { return s },
		"base64": func(s string) string {
			e := base64.StdEncoding.EncodeToString([]byte(s))
			var b strings.Builder
			for len(e) > 76 {
				b.WriteString(e[:76] + "\r\n")
				e = e[76:]
			}
			return b.String() + e + "\r\n"
		},
		"quoted-printable": func(s string) string {
			var b bytes.Buffer
			w := quotedprintable.NewWriter(&b)
			_, _ = w.Write([]byte(s))
			_ = w.Close()
			return b.String()
		},
	}
	readers := map[string]func(string) io.Reader{
		"bytes":  func(s string) io.Reader { return strings.NewReader(s) },
		"stream": func(s string) io.Reader { return struct{ io.Reader }{strings.NewReader(s)} },
	}
	for _, lines := range []int{20, 1200} { // within and past the pools' 32 KB
		body := func(k int) string { return strings.Repeat(line(k), lines) }
		for enc, encode := range encodings {
			for how, reader := range readers {
				read := func(k int) *Envelope {
					raw := "From: a@example.org\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n" +
						"Content-Transfer-Encoding: " + enc + "\r\n\r\n" + encode(body(k))
					env, err := Parser{}.ReadEnvelopeContext(context.Background(), reader(raw))
					if err != nil {
						t.Fatal(err)
					}
					return env
				}
				first := read(0)
				if first.Text != body(0) {
					t.Fatalf("%s, %s, %d lines: Text is not the body", enc, how, lines)
				}
				for k := 1; k < 4; k++ {
					read(k)
				}
				if first.Text != body(0) {
					t.Fatalf("%s, %s, %d lines: Text changed while other mails were read", enc, how, lines)
				}
			}
		}
	}
}
