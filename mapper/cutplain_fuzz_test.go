package mapper

import (
	"bytes"
	"testing"
)

// FuzzCutPlain holds cutPlain to the two-pass cut and its escaped bytes
// to encoding/json's, for any bytes and any limit.
func FuzzCutPlain(f *testing.F) {
	f.Add("a \"b\"\n\u2028\xff\xe2\x80", 40, true)
	f.Add("plain prose, plain prose, plain prose\r\n", 70, false)
	f.Fuzz(func(t *testing.T, s string, limit int, whole bool) {
		if limit < 0 || limit > 4*len(s)+400 {
			return
		}
		got, ok, esc := cutPlain(s, limit, "x", whole)
		want, wantOK := cutPlainTwoPass(s, limit, "x", whole)
		if got != want || ok != wantOK {
			t.Fatalf("cutPlain(%q, %d) = %q, %v; want %q, %v", s, limit, got, ok, want, wantOK)
		}
		if esc != nil && !bytes.Equal(esc, jsonEscaped(t, got)) {
			t.Fatalf("cutPlain(%q, %d) escapes it as %q, want %q", s, limit, esc, jsonEscaped(t, got))
		}
	})
}
