package mediatype

import "testing"

func TestParseSloppyParameters(t *testing.T) {
	for _, c := range []struct{ in, param, want string }{
		// Outlook and Lotus Notes fold the disposition and its file name.
		{"attachment;\r\n\tfilename=\"Angebot 2025\r\n Rev2.pdf\"; size=12345;\r\n\tcreation-date=\"Mon, 03 Mar 2025 09:00:00 GMT\"", "filename", "Angebot 2025 Rev2.pdf"},
		{"attachment; filename=\"Angebot 2025\r\n\tRev2.pdf\";\r\n\tsize=12345", "filename", "Angebot 2025 Rev2.pdf"},
		// Unquoted with spaces.
		{"attachment; filename=Angebot 2025 Rev2.pdf; size=12345", "filename", "Angebot 2025 Rev2.pdf"},
		// Missing semicolons.
		{"attachment; filename=Angebot 2025 Rev2.pdf size=12345", "filename", "Angebot 2025 Rev2.pdf"},
		{`attachment; filename="Angebot 2025 Rev2.pdf" size=12345 creation-date="Mon, 03 Mar 2025 09:00:00 GMT"`, "filename", "Angebot 2025 Rev2.pdf"},
		{`attachment;filename="Angebot.pdf"size=12345`, "size", "12345"},
		// A closing quote missing.
		{`attachment; filename="Angebot 2025 Rev2.pdf; size=12345; creation-date="Mon, 03 Mar 2025 09:00:00 GMT"`, "filename", "Angebot 2025 Rev2.pdf"},
		{`attachment; filename="Angebot 2025 Rev2.pdf; size=12345`, "filename", "Angebot 2025 Rev2.pdf"},
		{`attachment; filename="Angebot 2025.pdf`, "filename", "Angebot 2025.pdf"},
		// Duplicates: the first counts, whatever the case; a name that ends
		// like another is not a duplicate.
		{`attachment; filename="x.pdf" filename="y.pdf"`, "filename", "x.pdf"},
		{`text/plain; charset=utf-8; CHARSET=iso-8859-1`, "charset", "utf-8"},
		{`application/pdf; filename="a.pdf"; name="b.pdf"`, "name", "b.pdf"},
		{`multipart/related; start-type=x; type="text/html"; boundary=zz`, "type", "text/html"},
		// What needs no repair stays as it is.
		{`attachment; filename="Angebot;2025.pdf"; size=1`, "filename", "Angebot;2025.pdf"},
		{`attachment; filename="a=b c.pdf"`, "filename", "a=b c.pdf"},
		{`application/rtf; name=""V047411.rtf".rtf"`, "name", `"V047411.rtf".rtf`},
	} {
		_, params, _, err := Parse(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got := params[c.param]; got != c.want {
			t.Errorf("%q: %s = %q, want %q (all: %q)", c.in, c.param, got, c.want, params)
		}
	}
}

func TestFixParamSeparatorsKeepsCleanHeaders(t *testing.T) {
	for _, s := range []string{
		`text/plain; charset="utf-8"; format=flowed`,
		`multipart/mixed; boundary="----=_Part_1"`,
		`attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf`,
		`text/plain`,
	} {
		if got := fixParamSeparators(s); got != s {
			t.Errorf("fixParamSeparators(%q) = %q", s, got)
		}
	}
}
