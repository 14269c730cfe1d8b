package enmime

import (
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
