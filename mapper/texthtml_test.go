package mapper

import (
	"html"
	"strings"
	"testing"
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
