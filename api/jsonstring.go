package api

import (
	"math/bits"
	"slices"
	"unicode/utf8"

	"github.com/enneo/mailbridge/internal/textscan"
)

// The body fields are nearly all of a conversation's JSON, and nearly all
// of their bytes are printable ASCII that JSON takes as it is. The
// functions here escape them as encoding/json does without HTML escaping
// (same output, byte for byte), but find the bytes that need escaping
// eight at a time and copy the runs between them in bulk.

const (
	ones      = 0x0101010101010101
	highs     = 0x8080808080808080
	hexDigits = "0123456789abcdef"
)

// word is the eight bytes of w as a little-endian word.
func word(w string) uint64 {
	_ = w[7]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// special8 is non-zero if a byte of x is not one JSON takes as it is
// (printable ASCII or DEL, neither '"' nor '\\'), and its lowest set bit
// is in the first such byte: these word tests can flag a byte wrongly only
// above one they flag rightly.
func special8(x uint64) uint64 {
	// Each term's high bits: a byte at or above 0x80, below 0x20, '"'
	// (q's byte 0) or '\\' (b's): masked once, at the end.
	q, b := x^(ones*'"'), x^(ones*'\\')
	return (x | (x-ones*0x20)&^x | (q-ones)&^q | (b-ones)&^b) & highs
}

// The exact tests: the high bit of each byte of the result is set if and
// only if that byte of ASCII word x qualifies.

// below32 flags the bytes below 0x20.
func below32(x uint64) uint64 { return ^(x + ones*(0x80-0x20) | x) & highs }

// equal flags the bytes that are b.
func equal(x uint64, b byte) uint64 {
	y := x ^ ones*uint64(b)
	return ^(y&^highs + ones*0x7f | y) & highs
}

// plainByte reports whether JSON takes c as it is.
func plainByte(c byte) bool { return c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' }

// shortEscapes are the bytes JSON escapes in two bytes, with the second.
var shortEscapes = [256]byte{'"': '"', '\\': '\\', '\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't'}

// escapeAt is how the special byte or rune at s[i] is written in a JSON
// string: its escape (at most six bytes, into buf) or, for a rune taken as
// it is, nil; n is how many bytes of s it stands for.
func escapeAt(buf *[6]byte, s string, i int) (esc []byte, n int) {
	c := s[i]
	if c < utf8.RuneSelf {
		if e := shortEscapes[c]; e != 0 {
			buf[0], buf[1] = '\\', e
			return buf[:2], 1
		}
		*buf = [6]byte{'\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf]}
		return buf[:], 1
	}
	if c >= 0xc2 && c < 0xe0 && i+1 < len(s) && s[i+1]&0xc0 == 0x80 {
		return nil, 2 // a two-byte rune, as Latin letters are
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	switch {
	case r == utf8.RuneError && size == 1:
		*buf = [6]byte{'\\', 'u', 'f', 'f', 'f', 'd'}
		return buf[:], 1
	case r == '\u2028' || r == '\u2029':
		*buf = [6]byte{'\\', 'u', '2', '0', '2', hexDigits[r&0xf]}
		return buf[:], size
	}
	return nil, size
}

// escapedLen is the length of s escaped as a JSON string, quotes left out.
// It counts the escapes of an ASCII word at once where they are all two
// bytes long: quotes, backslashes and line feeds, the ones text has.
func escapedLen(s string) int {
	var buf [6]byte
	n := len(s)
	i := 0
	for i < len(s) {
		if len(s)-i >= 8 {
			x := word(s[i : i+8])
			if special8(x) == 0 {
				i += 8
				continue
			}
			if x&highs == 0 {
				ctl := below32(x)
				if ctl&^equal(x, '\n') == 0 {
					n += bits.OnesCount64(ctl | equal(x, '"') | equal(x, '\\'))
					i += 8
					continue
				}
			}
		}
		end := min(len(s), i+8)
		for i < end {
			if plainByte(s[i]) {
				i++
				continue
			}
			esc, l := escapeAt(&buf, s, i)
			if esc != nil {
				n += len(esc) - l
			}
			i += l
		}
	}
	return n
}

// jsonSpecial are the bytes a JSON string does not take as they are, and
// those that may start a rune it does not (see escapeAt).
var jsonSpecial = textscan.NewSet(`"\\`)

// escapeInto writes as much of s escaped as a JSON string (quotes left
// out) as fits in dst, never part of an escape or a rune: w bytes written
// for the first r bytes of s. With six bytes of room it writes something.
// dst past w may be overwritten.
//
// A run of plain bytes is found sixteen at a time (textscan) and copied
// whole: text has a special byte, most often a line feed, every line.
func escapeInto(dst []byte, s string) (w, r int) {
	var buf [6]byte
	for {
		if r < len(s) && plainByte(s[r]) && w < len(dst) {
			k := jsonSpecial.Index(s[r:min(len(s), r+len(dst)-w)])
			copy(dst[w:], s[r:r+k])
			w, r = w+k, r+k
		}
		if r == len(s) {
			return w, r
		}
		c := s[r]
		if plainByte(c) { // and dst is full
			return w, r
		}
		if e := shortEscapes[c]; e != 0 {
			if len(dst)-w < 2 {
				return w, r
			}
			dst[w], dst[w+1] = '\\', e
			w, r = w+2, r+1
			continue
		}
		if c >= 0xc2 && c < 0xe0 && r+1 < len(s) && s[r+1]&0xc0 == 0x80 {
			// A two-byte rune, as Latin and Cyrillic letters are.
			if len(dst)-w < 2 {
				return w, r
			}
			dst[w], dst[w+1] = c, s[r+1]
			w, r = w+2, r+2
			continue
		}
		esc, l := escapeAt(&buf, s, r)
		if esc == nil { // a rune taken as it is
			if len(dst)-w < l {
				return w, r
			}
			if l == 3 { // CJK and most other letters past Cyrillic
				dst[w], dst[w+1], dst[w+2] = s[r], s[r+1], s[r+2]
			} else {
				copy(dst[w:], s[r:r+l])
			}
			w, r = w+l, r+l
			continue
		}
		if len(dst)-w < len(esc) {
			return w, r
		}
		w, r = w+copy(dst[w:], esc), r+l
	}
}

// AppendEscaped appends to dst the longest prefix of s whose escape as a
// JSON string (quotes left out) keeps dst within limit bytes, never part
// of an escape or a rune, as encoding/json escapes it without HTML
// escaping; r is that prefix's length. It grows dst as it needs, to no
// more than limit.
func AppendEscaped(dst []byte, s string, limit int) (b []byte, r int) {
	for r < len(s) {
		end := min(cap(dst), limit)
		if end > len(dst) {
			w, n := escapeInto(dst[len(dst):end], s[r:])
			dst, r = dst[:len(dst)+w], r+n
		}
		if r == len(s) || end >= limit {
			break
		}
		rest := len(s) - r
		dst = slices.Grow(dst, min(limit-len(dst), rest+rest/8+8))
	}
	return dst, r
}
