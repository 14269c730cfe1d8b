package mapper

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// hasC1 scans bytes; it must agree with decoding rune by rune.
func TestHasC1(t *testing.T) {
	for _, s := range []string{
		"", "plain ASCII", "\u0080", "x\u009f", "\u00a0 no-break space", "Â£ ¢ ©",
		"€ and „quotes“", "ends in a lead byte \xc2", "\xc2\xc2\x85", "日本語 \u0085 text",
		strings.Repeat("a", 100) + "\u0092",
	} {
		want := strings.ContainsFunc(strings.ToValidUTF8(s, "\uFFFD"), isC1)
		if got := hasC1(strings.ToValidUTF8(s, "\uFFFD")); got != want {
			t.Errorf("hasC1(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzHasC1(f *testing.F) {
	f.Add("\u0080 \u00c2")
	f.Fuzz(func(t *testing.T, s string) {
		s = strings.ToValidUTF8(s, "\uFFFD")
		if hasC1(s) != strings.ContainsFunc(s, isC1) {
			t.Fatalf("hasC1(%q) disagrees with rune decoding", s)
		}
		if c := cleanText(s); !utf8.ValidString(c) || hasC1(c) {
			t.Fatalf("cleanText(%q) = %q", s, c)
		}
	})
}
