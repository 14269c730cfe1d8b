package enmime

import (
	"strings"
	u8 "unicode/utf8"

	"github.com/enneo/mailbridge/internal/enmime/internal/coding"
)

// RawHeaderDecoder reads header text that is not UTF-8: raw 8-bit bytes
// in a legacy charset (GBK, Shift_JIS, ISO-8859-1...) that mailers write
// into Subject, display names and file names without RFC 2047, and raw
// ISO-2022-JP.
//
// One header is too short to tell its charset, but a message's headers
// are nearly always in one charset, the one its mailer also uses for the
// body. So the decoder guesses once per message, from all the non-UTF-8
// header text of the message together and the charsets its text parts
// declare (see coding.GuessCharset). The zero value, or one made from a
// nil root, guesses from each text alone.
type RawHeaderDecoder struct {
	root    *Part
	guessed bool
	charset string
	how     string
}

// NewRawHeaderDecoder returns a decoder for the headers of the message
// whose part tree is root.
func NewRawHeaderDecoder(root *Part) *RawHeaderDecoder {
	return &RawHeaderDecoder{root: root}
}

// NeedsRawDecoding reports whether s is header text Decode would change.
// It is cheap: valid UTF-8 is checked eight ASCII bytes at a time.
func NeedsRawDecoding(s string) bool {
	return !u8.ValidString(s) || coding.HasISO2022JPEscape(s)
}

// Decode returns s as valid UTF-8 and a note on what it did ("" when s
// needed nothing), e.g. "raw 8-bit bytes read as GBK (detected)". RFC 2047
// encoded-words, being ASCII, come through for the word decoder.
func (d *RawHeaderDecoder) Decode(s string) (string, string) {
	return d.DecodeExcept(s, nil)
}

// DecodeExcept is Decode, but leaves the words for which keep is true as
// they are. Words (runs of bytes from 0x40 up, which no multi-byte charset
// splits) that are valid UTF-8 stay as they are too, so a header that
// mixes raw UTF-8 and raw Latin-1 (a list of names from several mailers)
// reads right.
func (d *RawHeaderDecoder) DecodeExcept(s string, keep func(word string) bool) (string, string) {
	if !NeedsRawDecoding(s) {
		return s, ""
	}
	if u8.ValidString(s) {
		if keep != nil {
			// ISO-2022-JP makes ASCII bytes stand for other characters,
			// '<' and '@' among them: decoded before a structured header
			// is parsed, it could hide or move an address. Left as it is.
			return s, ""
		}
		return coding.DecodeISO2022JP(s), "raw ISO-2022-JP read as ISO-2022-JP"
	}
	cs, how := d.guess(s)
	var b strings.Builder
	b.Grow(len(s) * 2)
	decoded := false
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] >= 0x40 {
			j++
		}
		if j == i {
			b.WriteByte(s[i])
			i++
			continue
		}
		if w := s[i:j]; u8.ValidString(w) || (keep != nil && keep(w)) {
			b.WriteString(w)
		} else {
			b.WriteString(coding.DecodeGuessed(cs, []byte(w)))
			decoded = true
		}
		i = j
	}
	if !decoded {
		return s, ""
	}
	return b.String(), "raw 8-bit bytes read as " + strings.ToUpper(cs) + " (" + how + ")"
}

func (d *RawHeaderDecoder) guess(s string) (charset, how string) {
	if d == nil || d.root == nil {
		return coding.GuessCharset([]byte(s))
	}
	if !d.guessed {
		d.guessed = true
		var sample strings.Builder
		var declared []string
		_ = d.root.DepthMatchAll(func(p *Part) bool {
			for _, values := range p.Header {
				for _, v := range values {
					if !u8.ValidString(v) {
						sample.WriteString(v)
						sample.WriteByte('\n')
					}
				}
			}
			if strings.HasPrefix(p.ContentType, "text/") {
				if _, params, _, err := p.parseMediaType(p.Header.Get(hnContentType)); err == nil && params[hpCharset] != "" {
					declared = append(declared, params[hpCharset])
				}
			}
			return false
		})
		if sample.Len() == 0 {
			sample.WriteString(s)
		}
		d.charset, d.how = coding.GuessCharset([]byte(sample.String()), declared...)
	}
	if !strings.Contains(d.how, "declared") || coding.DecodesCleanly(d.charset, []byte(s)) {
		return d.charset, d.how
	}
	return coding.GuessCharset([]byte(s))
}

// DecodeRaw reads raw 8-bit text that is not UTF-8 in the charset guessed
// from it alone (coding.GuessCharset), and names that charset.
func DecodeRaw(s string) (text, charset string) {
	cs, _ := coding.GuessCharset([]byte(s))
	return coding.DecodeGuessed(cs, []byte(s)), strings.ToLower(cs)
}

// DecodeHeaderNotes decodes the RFC 2047 encoded-words of a header as
// Envelope.GetHeader does and describes the malformed words it repaired
// (see coding.RepairEncodedWords).
func DecodeHeaderNotes(s string) (string, []string) {
	return coding.DecodeExtHeaderNotes(s)
}
