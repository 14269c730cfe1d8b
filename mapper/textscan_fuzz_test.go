package mapper

import (
	"strings"
	"testing"
)

// FuzzTextHTML holds textHTML, whose runs of plain bytes textscan finds,
// to escaping and cutting in two passes, for any text, limit and cut.
func FuzzTextHTML(f *testing.F) {
	f.Add("plain text longer than a vector block\nand a <tag> & 'quotes' \"here\"\n", 40, true)
	f.Add("\u2028\xff\x00\x7f\u00e4\u65e5 0123456789abcdef0123456789\n\n", 17, false)
	f.Fuzz(func(t *testing.T, s string, limit int, whole bool) {
		if limit < 0 || limit > 3*len(s)+200 {
			return
		}
		checkTextHTML(t, s, limit, whole)
	})
}

// checkTextHTML holds textHTML, which makes and measures the plain text's
// HTML in one pass, to escaping and cutting in two.
func checkTextHTML(t *testing.T, s string, limit int, whole bool) {
	t.Helper()
	got, gotOK, size := textHTML(s, limit, "x", whole)
	want, wantOK := cutHTMLTwoPass(textHTMLReplacer.Replace(strings.TrimRight(s, "\n")), limit, "x", whole)
	if got != want || gotOK != wantOK {
		t.Fatalf("textHTML(%q, %d) = %q, %v; want %q, %v", s, limit, got, gotOK, want, wantOK)
	}
	if want := jsonSizeBytewise(got); size != want {
		t.Fatalf("textHTML(%q, %d) measures %d bytes of JSON, want %d", s, limit, size, want)
	}
}

// FuzzIsClean: isClean, which skips to the bytes it must look at with
// textscan, says a text is clean exactly when the three passes of
// cleanText leave it as it is.
func FuzzIsClean(f *testing.F) {
	f.Add("clean text past sixteen bytes\twith tab\r\n")
	f.Add("\u0085 C1 \x7f DEL \x01 \xc2 \xff \u00e4")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isClean(s), cleanTextPasses(s) == s; got != want {
			t.Fatalf("isClean(%q) = %v, the passes say %v", s, got, want)
		}
	})
}
