package dkim

import (
	"bytes"
	"hash"
	"strings"
)

// Canonicalization is a canonicalization algorithm.
type Canonicalization string

const (
	CanonicalizationSimple  Canonicalization = "simple"
	CanonicalizationRelaxed Canonicalization = "relaxed"
)

// canonicalizeHeader canonicalizes one header field (with its CRLF).
func canonicalizeHeader(c Canonicalization, s string) string {
	if c == CanonicalizationSimple {
		return s
	}
	k, v, ok := strings.Cut(s, ":")
	if !ok {
		return strings.TrimSpace(strings.ToLower(s)) + ":" + crlf
	}

	k = strings.TrimSpace(strings.ToLower(k))
	v = strings.Join(strings.FieldsFunc(v, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r'
	}), " ")
	return k + ":" + v + crlf
}

// hashBody writes the canonical form of body to h. Every LF not preceded
// by CR counts as CRLF (as the canonicalizers of go-msgauth did by fixing
// the body byte by byte before canonicalizing it).
func hashBody(c Canonicalization, h hash.Hash, body []byte) {
	if c == CanonicalizationSimple {
		hashSimpleBody(h, body)
	} else {
		hashRelaxedBody(h, body)
	}
}

// hashSimpleBody: the body with its trailing empty lines removed and one
// CRLF at its end (RFC 6376 3.4.3). A body ending in a lone CR keeps all
// its line ends.
func hashSimpleBody(h hash.Hash, body []byte) {
	end := len(body)
	for end > 0 && body[end-1] == '\n' {
		end--
		if end > 0 && body[end-1] == '\r' {
			end--
		}
	}
	writeFixed(h, body[:end])
	h.Write([]byte(crlf))
}

// writeFixed writes b to h with a CR put before each LF that has none,
// in runs between such LFs.
func writeFixed(h hash.Hash, b []byte) {
	start := 0
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		i += j
		if i == 0 || b[i-1] != '\r' {
			h.Write(b[start:i])
			h.Write([]byte(crlf))
			start = i + 1
		}
		i++
	}
	h.Write(b[start:])
}

// relaxedClass marks the bytes the relaxed body canonicalization treats
// specially: 1 for SP and HTAB, 2 for CR and LF.
var relaxedClass = [256]uint8{' ': 1, '\t': 1, '\r': 2, '\n': 2}

// hashRelaxedBody: runs of SP and HTAB become one SP, whitespace at the
// end of a line and empty lines at the end of the body are removed, and a
// body that is not empty ends in CRLF (RFC 6376 3.4.4). CR and LF bytes
// are kept as they come (a lone LF as CRLF) and written when more text
// follows them.
func hashRelaxedBody(h hash.Hash, body []byte) {
	var arr [4096]byte
	out := arr[:0]
	var breaks [64]byte
	brk := breaks[:0] // CR and LF bytes not yet written
	wsp, written := false, false
	prevCR := false
	flush := func() {
		h.Write(out)
		out = out[:0]
	}
	for i := 0; i < len(body); {
		// A run of ordinary bytes.
		j := i
		for j < len(body) && relaxedClass[body[j]] == 0 {
			j++
		}
		if j > i {
			if len(brk) > 0 {
				if len(out)+len(brk) > cap(out) {
					flush()
				}
				if len(brk) > cap(out) {
					h.Write(brk)
				} else {
					out = append(out, brk...)
				}
				brk = brk[:0]
			}
			if wsp {
				if len(out) == cap(out) {
					flush()
				}
				out = append(out, ' ')
				wsp = false
			}
			run := body[i:j]
			if len(out)+len(run) > cap(out) {
				flush()
				if len(run) > cap(out) {
					h.Write(run)
					run = nil
				}
			}
			out = append(out, run...)
			written = true
			prevCR = false
			i = j
			continue
		}
		ch := body[i]
		switch ch {
		case ' ', '\t':
			wsp = true
		case '\r':
			wsp = false
			brk = append(brk, '\r')
		case '\n':
			wsp = false
			if !prevCR {
				brk = append(brk, '\r')
			}
			brk = append(brk, '\n')
		}
		prevCR = ch == '\r'
		i++
	}
	flush()
	if written {
		h.Write([]byte(crlf))
	}
}
