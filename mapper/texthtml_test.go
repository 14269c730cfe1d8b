package mapper

import (
	"context"
	"html"
	"strings"
	"testing"

	"github.com/enneo/mailbridge/mapper/reply"
)

// textToHTML escapes and breaks lines in one pass; it must say exactly what
// the two passes it replaced said.
func FuzzTextToHTML(f *testing.F) {
	for _, s := range []string{
		"", "\n\n", "a\r\nb\r\n\r\n", "<b>&amp;</b>\n'x' \"y\"\n", "lone\rcarriage\n",
		"\xff\xfe<br>\n", "ünïcödé & <tags>\n\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		trimmed := strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
		want := strings.ReplaceAll(html.EscapeString(trimmed), "\n", "<br>\n")
		if got := textToHTML(s); got != want {
			t.Fatalf("textToHTML(%q) = %q, want %q", s, got, want)
		}
	})
}

// Converting a mail's line ends once in Map must not change its payload:
// a conversion is not idempotent ("\r\r\n" is "\r\n" after one), so the
// HTML body and bodyClean must come out as when each converted the text
// on its own.
func TestDoubledCarriageReturns(t *testing.T) {
	raw := []byte("From: a@example.org\r\nTo: b@example.com\r\nSubject: cr\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Hello\r\r\nOn Mon, 2 Mar 2026, Ann <ann@example.org>\r\r\nwrote:\r\n> quoted\r\n> lines\r\n")
	env, err := readEnvelope(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Map(context.Background(), raw, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Conversation
	if want := textToHTML(env.Text); c.Body != want {
		t.Errorf("Body = %q, want %q", c.Body, want)
	}
	if want := reply.Text(env.Text, ""); c.BodyClean != want {
		t.Errorf("BodyClean = %q, want %q", c.BodyClean, want)
	}
	if want := strings.TrimSpace(strings.ReplaceAll(env.Text, "\r\n", "\n")); c.BodyPlain != want {
		t.Errorf("BodyPlain = %q, want %q", c.BodyPlain, want)
	}
}
