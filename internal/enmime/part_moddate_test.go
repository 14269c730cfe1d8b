package enmime

import (
	"strings"
	"testing"
	"time"
)

// A part's modification-date parameter sets FileModDate; a part without
// one leaves it zero, and parsing such parts allocates no error.
func TestFileModDate(t *testing.T) {
	raw := "From: a@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
		"--b\r\nContent-Type: application/octet-stream; name=a.bin;\r\n" +
		" modification-date=\"02 Jan 06 15:04 MST\"\r\n" +
		"Content-Disposition: attachment\r\n\r\nxyz\r\n" +
		"--b--\r\n"
	env, err := ReadEnvelope(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(env.Attachments) != 1 {
		t.Fatalf("%d attachments, want 1", len(env.Attachments))
	}
	want, _ := time.Parse(time.RFC822, "02 Jan 06 15:04 MST")
	if got := env.Attachments[0].FileModDate; !got.Equal(want) {
		t.Errorf("attachment's FileModDate = %v, want %v", got, want)
	}
	if got := env.Root.FirstChild.FileModDate; !got.IsZero() {
		t.Errorf("text part's FileModDate = %v, want zero", got)
	}

	p := NewPart("text/plain")
	allocs := testing.AllocsPerRun(100, func() { p.setupContentHeaders(map[string]string{}) })
	if allocs != 0 {
		t.Errorf("a part without a modification-date: %.0f allocations, want 0", allocs)
	}
}
