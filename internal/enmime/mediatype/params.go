package mediatype

import "strings"

// fixParamSeparators repairs the parameter list of a header as Outlook, Lotus
// Notes and hand-written mailers send it, so that the value of a parameter
// (a file name above all) is not run together with the parameters after it:
//
//   - a missing ';' before a parameter: `filename="a b.pdf" size=12`,
//     `filename=a b.pdf size=12`;
//   - a quoted value whose closing quote is missing: `filename="a.pdf; size=12`
//     or `filename="a.pdf; size=12; creation-date="Mon, 3 Mar 2025"`, where
//     the quote that seems to close it opens the next value.
//
// A new parameter is recognised as an attribute token directly followed by
// '='. The string is returned as it is when nothing needs repair.
func fixParamSeparators(s string) string {
	i := strings.IndexByte(s, ';')
	if i < 0 {
		return s
	}
	var out []byte // nil until the first repair
	last := 0
	insert := func(pos int, text string) {
		if out == nil {
			out = make([]byte, 0, len(s)+8)
		}
		out = append(out, s[last:pos]...)
		out = append(out, text...)
		last = pos
	}
	for i < len(s) {
		// Skip separators and whitespace, then the attribute name.
		for i < len(s) && (s[i] == ';' || isSpace(s[i])) {
			i++
		}
		if i >= len(s) {
			break
		}
		n := attrLen(s[i:])
		if n == 0 || i+n >= len(s) || s[i+n] != '=' {
			// Not a name=value pair: leave it to the later fixes.
			j := strings.IndexByte(s[i:], ';')
			if j < 0 {
				break
			}
			i += j
			continue
		}
		i += n + 1
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i < len(s) && s[i] == '"' {
			i = fixQuotedValue(s, i, insert)
			continue
		}
		// Unquoted value: it ends at ';', or before a space followed by
		// the next name=.
		for i < len(s) && s[i] != ';' {
			if isSpace(s[i]) {
				j := i
				for j < len(s) && isSpace(s[j]) {
					j++
				}
				if startsParam(s[j:]) {
					insert(i, ";")
					i = j
					break
				}
			}
			i++
		}
	}
	if out == nil {
		return s
	}
	return string(append(out, s[last:]...))
}

// fixQuotedValue handles the quoted value opening at s[q] and returns where
// scanning goes on.
func fixQuotedValue(s string, q int, insert func(pos int, text string)) int {
	end := closingQuote(s, q+1)
	if end >= 0 {
		j := end + 1
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		switch {
		case j >= len(s) || s[j] == ';':
			return j
		case startsParam(s[j:]):
			insert(end+1, ";")
			return j
		}
		// Text after the "closing" quote: the value's own quote is missing
		// and this one opens a later value. Cut the value at the first
		// "; name=" inside it, if there is one.
	}
	limit := len(s)
	if end >= 0 {
		limit = end
	}
	for k := q + 1; k < limit; k++ {
		if s[k] != ';' {
			continue
		}
		j := k + 1
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		if startsParam(s[j:]) {
			insert(k, `"`)
			return k
		}
	}
	if end < 0 {
		// Unclosed to the end of the header: close it there.
		t := strings.TrimRight(s, " \t\r\n")
		insert(len(t), `"`)
		return len(s)
	}
	return end + 1
}

// closingQuote returns the index of the quote closing a quoted string that
// starts at s[i], or -1.
func closingQuote(s string, i int) int {
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// startsParam reports whether s starts with an attribute token and '='.
func startsParam(s string) bool {
	n := attrLen(s)
	return n > 0 && n < len(s) && s[n] == '='
}

// attrLen is the length of the RFC 2045 token at the start of s.
func attrLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return i
		}
	}
	return len(s)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
