package safetext

import "testing"

func TestLine(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Rückfrage zur Bestellung", "Rückfrage zur Bestellung"},
		{"", ""},
		{`C:\path`, `C:\path`},
		{"\x1b]0;pwned\x07title", `\x1b]0;pwned\x07title`},
		{"\x1b[2Jclear", `\x1b[2Jclear`},
		{"over\rwrite", `over\rwrite`},
		{"a\nb\tc", `a\nb\tc`},
		{"\x00\x7f", `\x00\x7f`},
		{"c1 \u009b31m csi", `c1 \u009b31m csi`},
		{"invoice\u202efdp.exe", `invoice\u202efdp.exe`},
		{"\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d\u200e\u200f\u061c", `\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d\u200e\u200f\u061c`},
		{"line\u2028sep", `line\u2028sep`},
		{"bad \xff\x9b byte", `bad \xff\x9b byte`},
		{"real \ufffd stays", "real \ufffd stays"},
		{"emoji 💩 and ß", "emoji 💩 and ß"},
	} {
		if got := Line(tt.in); got != tt.want {
			t.Errorf("Line(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestText(t *testing.T) {
	if got, want := Text("one\n\ttwo\r\x1b[2J\u202e"), "one\n\ttwo\\r\\x1b[2J\\u202e"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
}
