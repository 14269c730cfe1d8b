package coding

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"regexp"
	"strings"
)

// NewExtMimeDecoder creates new MIME word decoder which allows decoding of additional charsets.
func NewExtMimeDecoder() *mime.WordDecoder {
	return &mime.WordDecoder{
		CharsetReader: NewCharsetReader,
	}
}

// DecodeExtHeader decodes a single line (per RFC 2047, aka Message Header Extensions) using Golang's
// mime.WordDecoder.
func DecodeExtHeader(input string) string {
	header, _ := DecodeExtHeaderNotes(input)
	return header
}

// DecodeExtHeaderNotes is DecodeExtHeader that also describes the repairs
// of malformed encoded-words it made (see RepairEncodedWords).
func DecodeExtHeaderNotes(input string) (string, []string) {
	if !strings.Contains(input, "=?") {
		// Don't scan if there is nothing to do here
		return input, nil
	}
	input, notes := RepairEncodedWords(input)
	header, err := NewExtMimeDecoder().DecodeHeader(input)
	if err != nil {
		return input, notes
	}

	return header, notes
}

// RFC2047Decode returns a decoded string if the input uses RFC2047 encoding, otherwise it will
// return the input.
//
// RFC2047 Example: `=?UTF-8?B?bmFtZT0iw7DCn8KUwoo=?=`
func RFC2047Decode(s string) string {
	// Convert CR/LF to spaces; byte-wise, as strings.Map would turn the
	// raw 8-bit bytes of a legacy charset into U+FFFD.
	s = newlines.Replace(s)

	var err error
	decoded := false
	for {
		s, err = rfc2047Recurse(s)
		switch err {
		case nil:
			decoded = true
			continue

		default:
			if decoded {
				key, value, found := strings.Cut(s, "=")
				if !found {
					return s
				}

				// Add quotes as needed.
				if !strings.HasPrefix(value, "\"") {
					value = `"` + value
				}
				if !strings.HasSuffix(value, "\"") {
					value += `"`
				}

				return fmt.Sprintf("%s=%s", key, value)
			}

			return s
		}
	}
}

var newlines = strings.NewReplacer("\n", " ", "\r", " ")

// rfc2047Recurse is called for if the value contains content encoded in RFC2047 format and decodes
// it.
func rfc2047Recurse(s string) (string, error) {
	us := strings.ToUpper(s)
	if !strings.Contains(us, "?Q?") && !strings.Contains(us, "?B?") {
		return s, io.EOF
	}

	var val string
	if val = DecodeExtHeader(s); val == s {
		if val = DecodeExtHeader(fixRFC2047String(val)); val == s {
			return val, io.EOF
		}
	}

	return val, nil
}

// fixRFC2047String removes the following characters from charset and encoding segments of an
// RFC2047 string: '\n', '\r' and ' '
func fixRFC2047String(s string) string {
	inString := false
	isWithinTerminatingEqualSigns := false
	questionMarkCount := 0
	sb := &strings.Builder{}
	for _, v := range s {
		switch v {
		case '=':
			if questionMarkCount == 3 {
				inString = false
			} else {
				isWithinTerminatingEqualSigns = true
			}
			sb.WriteRune(v)

		case '?':
			if isWithinTerminatingEqualSigns {
				inString = true
			} else {
				questionMarkCount++
			}
			isWithinTerminatingEqualSigns = false
			sb.WriteRune(v)

		case '\n', '\r', ' ':
			if !inString {
				sb.WriteRune(v)
			}
			isWithinTerminatingEqualSigns = false

		default:
			isWithinTerminatingEqualSigns = false
			sb.WriteRune(v)
		}
	}

	return sb.String()
}

// encodedWord matches an RFC 2047 encoded-word, leniently: its text may
// hold '=' padding in any amount.
var encodedWord = regexp.MustCompile(`=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=`)

// charsetAliases are charset labels of encoded-words that Go's decoder and
// the encodings table do not know, by the label they mean.
var charsetAliases = map[string]string{
	"unicode-1-1-utf-7": "utf-7",
}

// RepairEncodedWords rewrites the encoded-words of a header that Go's
// mime.WordDecoder would refuse or misread, and describes each repair:
//
//   - a B word whose base64 padding is missing, extra or misplaced (Go
//     rejects the whole header and it would show encoded);
//   - the charset label unicode-1-1-utf-7 (old Outlook's UTF-7);
//   - adjacent words in one charset that split a character or, for
//     stateful charsets (ISO-2022-JP, UTF-7), an escape sequence: Go
//     decodes every word on its own, so they are joined into one word
//     first, as RFC 2047 lets a reader do.
//
// Input that needs none of this is returned unchanged.
func RepairEncodedWords(s string) (string, []string) {
	if !mayNeedRepair(s) {
		return s, nil
	}
	locs := encodedWord.FindAllStringSubmatchIndex(s, -1)
	if len(locs) == 0 {
		return s, nil
	}
	type word struct {
		start, end int
		charset    string
		raw        []byte
		ok         bool
		malformed  bool // base64 Go refuses, or a charset label it does not know
	}
	words := make([]word, len(locs))
	var notes []string
	padding, alias := false, ""
	for i, l := range locs {
		w := word{start: l[0], end: l[1], charset: strings.ToLower(s[l[2]:l[3]])}
		if j := strings.IndexByte(w.charset, '*'); j >= 0 {
			w.charset = w.charset[:j] // RFC 2231 language suffix
		}
		if a, ok := charsetAliases[w.charset]; ok {
			alias, w.charset, w.malformed = s[l[2]:l[3]], a, true
		}
		text := s[l[6]:l[7]]
		if s[l[4]] == 'b' || s[l[4]] == 'B' {
			if _, err := base64.StdEncoding.DecodeString(text); err != nil {
				padding, w.malformed = true, true
			}
			w.raw, w.ok = lenientBase64(text)
		} else {
			w.raw, w.ok = qDecode(text), true
		}
		words[i] = w
	}
	var b strings.Builder
	last, changed, joined := 0, false, false
	for i := 0; i < len(words); {
		// A run: words in one charset with only white space between.
		j := i + 1
		for j < len(words) && words[j].charset == words[i].charset && words[i].ok && words[j].ok &&
			strings.TrimSpace(s[words[j-1].end:words[j].start]) == "" {
			j++
		}
		run := words[i:j]
		rewrite := false
		for _, w := range run {
			rewrite = rewrite || w.ok && w.malformed
		}
		var raw []byte
		if len(run) > 1 {
			var sep []string
			for _, w := range run {
				raw = append(raw, w.raw...)
				sep = append(sep, decodeCharset(w.charset, w.raw))
			}
			if decodeCharset(run[0].charset, raw) != strings.Join(sep, "") {
				rewrite, joined = true, true
			}
		} else {
			raw = run[0].raw
		}
		if rewrite && run[0].ok {
			b.WriteString(s[last:run[0].start])
			b.WriteString("=?" + run[0].charset + "?B?" + base64.StdEncoding.EncodeToString(raw) + "?=")
			last, changed = run[len(run)-1].end, true
		}
		i = j
	}
	if !changed {
		return s, nil
	}
	b.WriteString(s[last:])
	if padding {
		notes = append(notes, "encoded-word with malformed base64 padding repaired")
	}
	if alias != "" {
		notes = append(notes, fmt.Sprintf("encoded-word charset %q read as UTF-7", alias))
	}
	if joined {
		notes = append(notes, "adjacent encoded-words that split a character decoded together")
	}
	return b.String(), notes
}

// mayNeedRepair is a quick check that lets the common header through
// without a regular-expression scan: one encoded-word, not UTF-7, and not a
// B word whose length is off (the usual sign of wrong padding).
func mayNeedRepair(s string) bool {
	i := strings.Index(s, "=?")
	if i < 0 {
		return false
	}
	if strings.Contains(s[i+2:], "=?") {
		return true
	}
	w := s[i+2:]
	q := strings.IndexByte(w, '?')
	if q < 0 || q+3 > len(w) {
		return false
	}
	if strings.EqualFold(w[:q], "unicode-1-1-utf-7") {
		return true
	}
	if w[q+1] != 'b' && w[q+1] != 'B' || w[q+2] != '?' {
		return false
	}
	text := w[q+3:]
	end := strings.Index(text, "?=")
	if end < 0 {
		return false
	}
	text = text[:end]
	return len(text)%4 != 0 || strings.Contains(strings.TrimRight(text, "="), "=") || strings.HasSuffix(text, "===")
}

// lenientBase64 decodes base64 ignoring '=' wherever it stands; a last
// group of a single character, which holds no whole byte, is dropped.
func lenientBase64(text string) ([]byte, bool) {
	text = strings.ReplaceAll(text, "=", "")
	if len(text)%4 == 1 {
		text = text[:len(text)-1]
	}
	raw, err := base64.RawStdEncoding.DecodeString(text)
	return raw, err == nil
}

// qDecode decodes the Q encoding; a malformed escape is kept as written.
func qDecode(text string) []byte {
	var b bytes.Buffer
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '_':
			b.WriteByte(' ')
		case c == '=' && i+2 < len(text) && isHex(text[i+1]) && isHex(text[i+2]):
			b.WriteByte(unhex(text[i+1])<<4 | unhex(text[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.Bytes()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// decodeCharset converts raw from charset to UTF-8 as the word decoder
// would; on an unknown charset it returns raw unchanged.
func decodeCharset(charset string, raw []byte) string {
	switch charset {
	case utf8, "us-ascii":
		return string(raw)
	}
	r, err := NewCharsetReader(charset, bytes.NewReader(raw))
	if err != nil {
		return string(raw)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return string(raw)
	}
	return string(out)
}
