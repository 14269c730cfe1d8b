package mediatype

import "strings"

// parseSimple parses the common, well-formed value directly: a type/subtype
// of tokens (or a disposition, one token) and parameters `; name=value` with distinct token names and a
// token or a plain quoted string as value, in ASCII, as nearly every mailer
// writes them. The repairs ParseWithOptions applies leave such a value as
// it is, so mime.ParseMediaType's result is all there is to compute. ok is
// false for anything else, which then takes the repairs' path.
//
// What parseSimple takes is deliberately narrow: no space before a ';' or
// around '=', no RFC 2231 names (a '*'), no escapes or '"' inside quotes,
// nothing after a closing quote but ';' or the end, no RFC 2047
// encoded-word anywhere (the repairs decode those in names and values).
func parseSimple(s string) (mtype string, params map[string]string, ok bool) {
	if len(s) > MaxLength || strings.Contains(s, "=?") {
		return "", nil, false
	}
	j := tokenLen(s)
	if j == 0 {
		return "", nil, false
	}
	if j < len(s) && s[j] == '/' {
		n := tokenLen(s[j+1:])
		if n == 0 {
			return "", nil, false
		}
		j += 1 + n
	}
	mtype = strings.ToLower(s[:j])
	if mtype == ctPlaceholder {
		return "", nil, false
	}
	params = make(map[string]string, strings.Count(s[j:], "="))
	s = s[j:]
	for len(s) > 0 {
		if s[0] != ';' {
			return "", nil, false
		}
		s = strings.TrimLeft(s[1:], " \t")
		n := tokenLen(s)
		if n == 0 || n >= len(s) || s[n] != '=' || strings.IndexByte(s[:n], '*') >= 0 {
			return "", nil, false
		}
		name := strings.ToLower(s[:n])
		if _, dup := params[name]; dup {
			return "", nil, false
		}
		s = s[n+1:]
		var value string
		if len(s) > 0 && s[0] == '"' {
			end := quotedLen(s[1:])
			if end < 0 {
				return "", nil, false
			}
			value, s = s[1:1+end], s[2+end:]
		} else {
			v := tokenLen(s)
			if v == 0 {
				return "", nil, false
			}
			value, s = s[:v], s[v:]
		}
		params[name] = value
	}
	return mtype, params, true
}

// tokenLen is the length of the RFC 2045 token s starts with.
func tokenLen(s string) int {
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return i
		}
	}
	return len(s)
}

// quotedLen is the length of a plain quoted string's content, s starting
// after its opening quote: printable ASCII without '"', '\' or ';', closed by
// a quote followed by ';' or the end. It is -1 for anything else.
func quotedLen(s string) int {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			if i+1 < len(s) && s[i+1] != ';' {
				return -1
			}
			return i
		case c < ' ' || c > '~' || c == '\\' || c == ';':
			return -1
		}
	}
	return -1
}

// isTokenByte says whether c may be part of an RFC 2045 token: printable
// ASCII but for space and the tspecials.
func isTokenByte(c byte) bool {
	return c > ' ' && c <= '~' && strings.IndexByte(`()<>@,;:\"/[]?=`, c) < 0
}
