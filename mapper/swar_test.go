package mapper

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/enneo/mailbridge/mapper/reply"
)

// jsonPrefixBytewise and controlsBytewise are jsonPrefix and controls one
// byte at a time, the reference for the word-at-a-time versions.
func jsonPrefixBytewise(s string, n int) (string, bool) {
	if len(s) <= n/6 {
		return s, true
	}
	size := 0
	for i := 0; i < len(s); {
		c, w, l := s[i], 1, 1
		switch {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
			w = 2
		case c < 0x20:
			w = 6
		case c >= utf8.RuneSelf:
			var r rune
			r, l = utf8.DecodeRuneInString(s[i:])
			switch {
			case r == '\u2028' || r == '\u2029' || (r == utf8.RuneError && l == 1):
				w = 6
			default:
				w = l
			}
		}
		if size+w > n {
			return s[:i], false
		}
		size += w
		i += l
	}
	return s, true
}

// jsonSizeBytewise is the size of s in a JSON string, quotes left out.
func jsonSizeBytewise(s string) int {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return buf.Len() - len("\"\"\n")
}

func controlsBytewise(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// randomText is mostly plain ASCII with every kind of byte the checks
// treat apart, at random places.
func randomText(rng *rand.Rand) string {
	special := []string{"\"", "\\", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "\x20", "\x21", "\x5b", "\x5d",
		"ü", "€", "\u2028", "\u2029", "\xff", "\xc2\x85", "\xe2\x80", "<", "&", "\xc2", "\xc2\xa0", "\xdf\xbf", "\xc1\xbf", "'", "\x08", "\r\n", "\r\n"}
	var b strings.Builder
	for range rng.IntN(40) {
		if rng.IntN(3) == 0 {
			b.WriteString(special[rng.IntN(len(special))])
			continue
		}
		b.WriteString(strings.Repeat(string(rune('a'+rng.IntN(26))), rng.IntN(20)))
	}
	return b.String()
}

func TestWordChecksMatchBytewise(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		s := randomText(rng)
		n := rng.IntN(len(s)*2 + 8)
		gotS, gotOK := jsonPrefix(s, n)
		wantS, wantOK := jsonPrefixBytewise(s, n)
		if gotS != wantS || gotOK != wantOK {
			t.Fatalf("jsonPrefix(%q, %d) = %q, %v; byte by byte %q, %v", s, n, gotS, gotOK, wantS, wantOK)
		}
		if got, want := controls(s), controlsBytewise(s); got != want {
			t.Fatalf("controls(%q) = %q, byte by byte %q", s, got, want)
		}
	}
}

func TestWordTests(t *testing.T) {
	// Each byte value in each position of a word of otherwise plain bytes.
	for pos := range 8 {
		for v := range 256 {
			b := []byte("abcdefgh")
			b[pos] = byte(v)
			x := load8(string(b), 0)
			c := byte(v)
			if got, want := jsonPlain8(x), c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; got != want {
				t.Errorf("jsonPlain8 with %#x at %d = %v, want %v", v, pos, got, want)
			}
			if got, want := noControls8(x), c >= 0x20 && c != 0x7f; got != want {
				t.Errorf("noControls8 with %#x at %d = %v, want %v", v, pos, got, want)
			}
			if got, want := htmlSpecial8(x) != 0, htmlEscape(c) != ""; got != want {
				t.Errorf("htmlSpecial8 with %#x at %d = %v, want %v", v, pos, got, want)
			}
			if got, want := textSpecial.Has(c), htmlEscape(c) != "" || !(c >= 0x20 && c < 0x80 && c != '"' && c != '\\'); got != want {
				t.Errorf("textSpecial.Has(%#x) = %v, want %v", v, got, want)
			}
			if c >= 0x80 {
				continue
			}
			extra, ok := jsonExtra8(x)
			wantOK := c >= 0x20 || c == '\n' || c == '\r' || c == '\t'
			wantExtra := 0
			if c == '"' || c == '\\' || c < 0x20 {
				wantExtra = 1
			}
			if ok != wantOK || (ok && extra != wantExtra) {
				t.Errorf("jsonExtra8 with %#x at %d = %d, %v; want %d, %v", v, pos, extra, ok, wantExtra, wantOK)
			}
		}
	}
}

// BenchmarkJSONPrefix1MB measures the size check of a 1 MB plain body,
// which every large mail's text passes through.
func BenchmarkJSONPrefix1MB(b *testing.B) {
	line := "Hello support team, the invoice for order 4711 still shows the old address. Thanks.\r\n"
	s := strings.Repeat(line, 1<<20/len(line))
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		jsonPrefix(s, 2<<20)
		controls(s)
	}
}

// textHTMLReplacer is textToHTML's escaping as strings.Replacer does it,
// the reference for the word-at-a-time version.
var textHTMLReplacer = strings.NewReplacer(
	`&`, "&amp;", `'`, "&#39;", `<`, "&lt;", `>`, "&gt;", `"`, "&#34;",
	"\n", "<br>\n")

// cleanTextPasses is cleanText as three passes.
func cleanTextPasses(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return fixC1(controls(s))
}

func TestBodyStepsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 100000 {
		s := randomText(rng)
		if rng.IntN(4) == 0 {
			s += strings.Repeat("\n", rng.IntN(3))
		}
		if got, want := lfToHTML(s), textHTMLReplacer.Replace(strings.TrimRight(s, "\n")); got != want {
			t.Fatalf("lfToHTML(%q) = %q, want %q", s, got, want)
		}
		limit := rng.IntN(len(s)*3 + 200)
		whole := rng.IntN(4) != 0
		checkTextHTML(t, s, limit, whole)
		got, gotOK, esc := cutPlain(s, limit, "x", whole)
		want, wantOK := cutPlainTwoPass(s, limit, "x", whole)
		if got != want || gotOK != wantOK {
			t.Fatalf("cutPlain(%q, %d) = %q, %v; want %q, %v", s, limit, got, gotOK, want, wantOK)
		}
		if want := jsonEscaped(t, got); esc != nil && !bytes.Equal(esc, want) {
			t.Fatalf("cutPlain(%q, %d) escapes it as %q, want %q", s, limit, esc, want)
		}
		if got, want := crlfToLF(s), strings.ReplaceAll(s, "\r\n", "\n"); got != want {
			t.Fatalf("crlfToLF(%q) = %q, want %q", s, got, want)
		}
		// fillBodies gives the reply parser lf for such a text.
		if u := crlfToLF(s); cleanText(u) == u && !strings.Contains(u, "\r") {
			if got, want := reply.Text(u, ""), reply.Text(s, ""); got != want {
				t.Fatalf("reply.Text of %q with LFs = %q, with CRLFs %q", s, got, want)
			}
		}
		if got, want := cleanText(s), cleanTextPasses(s); got != want {
			t.Fatalf("cleanText(%q) = %q, want %q", s, got, want)
		}
	}
}

// jsonEscaped is s in a JSON string as encoding/json writes it without
// HTML escaping, quotes left out.
func jsonEscaped(t *testing.T, s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()[1 : b.Len()-2]
}

// cutPlainTwoPass and cutHTMLTwoPass are cutPlain and cutHTML with a
// jsonPrefix for each limit.
func cutPlainTwoPass(text string, limit int, name string, whole bool) (string, bool) {
	if _, ok := jsonPrefixBytewise(text, limit); ok && whole {
		return text, true
	}
	marker := "\n\n" + cutMarker(name)
	head, _ := jsonPrefixBytewise(text, max(limit-len(marker)-4, 0))
	return head + marker, false
}

func cutHTMLTwoPass(h string, limit int, name string, whole bool) (string, bool) {
	if _, ok := jsonPrefixBytewise(h, limit); ok && whole {
		return h, true
	}
	marker := "\n<p>" + cutMarker(name) + "</p>"
	h, _ = jsonPrefixBytewise(h, max(limit-len(marker)-2, 0))
	if i := strings.LastIndexAny(h, "<&"); i >= 0 && !strings.ContainsAny(h[i:], ">;") {
		h = h[:i]
	}
	return h + marker, false
}

// BenchmarkCleanText1MB measures the check of a clean 1 MB text, which
// each body field passes through, in one pass and as three.
func BenchmarkCleanText1MB(b *testing.B) {
	line := "Hello support team, the invoice for order 4711 still shows the old address. Thanks.\n"
	s := strings.Repeat(line, 1<<20/len(line))
	for name, clean := range map[string]func(string) string{"one-pass": cleanText, "three-passes": cleanTextPasses} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				clean(s)
			}
		})
	}
}
