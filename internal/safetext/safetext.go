// Package safetext renders text that came from outside — a mail's Subject
// and From, a server's error message — for a terminal or a web page. Raw,
// such text can carry ESC sequences that set a terminal's title, clear its
// screen or move the cursor, a carriage return or newline that forges a
// table row, and Unicode bidi overrides that display text in another order
// than it is stored. Each of those is shown as a visible escape instead.
package safetext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Line returns s for one line of human-readable output: C0 controls (tab,
// newline and carriage return included), DEL, C1 controls, bidi controls,
// the Unicode line and paragraph separators and bytes that are not UTF-8
// are replaced by Go-style escapes (\x1b, \n, \u202e, \xff). A backslash
// stays as it is, so the output is for reading, not for unquoting.
func Line(s string) string { return escape(s, false) }

// Text is Line for text that spans lines, such as an error that lists one
// problem per line: newlines and tabs are kept.
func Text(s string) string { return escape(s, true) }

func escape(s string, multiline bool) string {
	i := firstUnsafe(s, multiline)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !unsafe(r, multiline):
			b.WriteString(s[i : i+size])
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += size
	}
	return b.String()
}

func firstUnsafe(s string, multiline bool) int {
	for i, r := range s {
		if unsafe(r, multiline) {
			return i
		}
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return i // a byte that is not UTF-8, not a real U+FFFD
			}
		}
	}
	return -1
}

func unsafe(r rune, multiline bool) bool {
	switch {
	case multiline && (r == '\n' || r == '\t'):
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, // ALM, LRM, RLM
		r >= 0x202a && r <= 0x202e, // LRE, RLE, PDF, LRO, RLO
		r >= 0x2066 && r <= 0x2069, // LRI, RLI, FSI, PDI
		r == 0x2028, r == 0x2029:   // line and paragraph separators
		return true
	}
	return false
}
