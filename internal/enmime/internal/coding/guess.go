package coding

import (
	"strings"
	u8 "unicode/utf8"

	"github.com/gogs/chardet"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
)

// How a guessed charset was chosen, for the warning that reports it.
const (
	GuessDeclared = "declared by the message"
	GuessDetected = "detected"
	GuessFallback = "assumed, detection unsure"
)

// chardetMinConfidence is the confidence above which chardet's answer is
// taken. Below it chardet mostly guesses: on a subject of ten CJK
// characters it gives every East Asian charset the same 10.
const chardetMinConfidence = 70

// GuessCharset names the charset of text that is not UTF-8 (raw 8-bit
// header bytes, a body part without charset). declared are charsets the
// message states elsewhere (its text parts), tried first: a header in the
// body's charset is what the sender's mailer wrote. Then chardet, when it
// is sure; then a structural score of the East Asian multi-byte charsets
// (a sample too short for chardet still shows whether its 8-bit bytes pair
// up into common characters); else Windows-1252, the superset of
// ISO-8859-1 that Western mailers write.
func GuessCharset(sample []byte, declared ...string) (name, how string) {
	for _, d := range declared {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" || d == utf8 || d == "us-ascii" || d == "ascii" {
			continue
		}
		if e, ok := encodings[d]; ok && decodesCleanly(e.e, sample) {
			return e.name, GuessDeclared
		}
	}
	if cs := chardetGuess(sample); cs != "" {
		return cs, GuessDetected
	}
	if cs := eastAsianGuess(sample); cs != "" {
		return cs, GuessDetected
	}
	if isolated8bit(sample) {
		// 8-bit bytes standing alone between ASCII: accented letters of a
		// Latin script, which is what Windows-1252 is for.
		return "windows-1252", GuessDetected
	}
	return "windows-1252", GuessFallback
}

// DecodeGuessed converts b from charset name (a GuessCharset answer or any
// label NewCharsetReader knows) to UTF-8; undecodable bytes become U+FFFD,
// so the result is always valid UTF-8.
func DecodeGuessed(name string, b []byte) string {
	if e, ok := encodings[strings.ToLower(name)]; ok && e.e != encoding.Nop {
		if out, err := e.e.NewDecoder().Bytes(b); err == nil {
			return strings.ToValidUTF8(string(out), "\uFFFD")
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// HasISO2022JPEscape reports whether s holds the escape sequences of
// ISO-2022-JP (ESC $ B, ESC $ @, ESC ( J), as raw Japanese header text from
// mobile carriers and old mailers does: 7-bit, so valid UTF-8, but
// unreadable as is.
func HasISO2022JPEscape(s string) bool {
	i := strings.IndexByte(s, 0x1b)
	return i >= 0 && (strings.Contains(s[i:], "\x1b$B") || strings.Contains(s[i:], "\x1b$@") ||
		strings.Contains(s[i:], "\x1b(J"))
}

// DecodeISO2022JP decodes ISO-2022-JP text; bytes it cannot read become
// U+FFFD.
func DecodeISO2022JP(s string) string {
	out, err := japanese.ISO2022JP.NewDecoder().String(s)
	if err != nil {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.ToValidUTF8(out, "\uFFFD")
}

// IsSingleByteOr7Bit reports whether label names a charset in which valid,
// non-ASCII UTF-8 is all but impossible as real text: a single-byte
// charset (each 8-bit byte a character of its own), us-ascii, or a 7-bit
// one. Text so declared that is valid UTF-8 is UTF-8, mislabelled.
func IsSingleByteOr7Bit(label string) bool {
	l := strings.ToLower(strings.TrimSpace(label))
	if l == "" || l == "us-ascii" || l == "ascii" || Is7Bit(l) {
		return true
	}
	e, ok := encodings[l]
	if !ok {
		return false
	}
	_, single := e.e.(*charmap.Charmap)
	return single
}

// Is7Bit reports whether label names a charset that encodes non-ASCII
// characters in ASCII bytes.
func Is7Bit(label string) bool {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "utf-7", "utf7", "iso-2022-jp", "csiso2022jp", "hz-gb-2312":
		return true
	}
	return false
}

// chardetNames maps chardet's answers to labels of the encodings table
// where they differ; ISO-8859-1 text is read as its superset Windows-1252.
var chardetNames = map[string]string{
	"iso-8859-1": "windows-1252",
	"gb-18030":   "gb18030",
}

func chardetGuess(sample []byte) string {
	results, err := chardet.NewTextDetector().DetectAll(sample)
	if err != nil {
		return ""
	}
	for _, r := range results {
		if r.Confidence < chardetMinConfidence {
			break
		}
		name := strings.ToLower(r.Charset)
		if alias, ok := chardetNames[name]; ok {
			name = alias
		}
		if name == utf8 || strings.HasPrefix(name, "utf-") || strings.HasPrefix(name, "iso-2022") {
			continue
		}
		if e, ok := encodings[name]; ok && decodesCleanly(e.e, sample) {
			return e.name
		}
	}
	return ""
}

// DecodesCleanly reports whether sample is well-formed in charset label.
func DecodesCleanly(label string, sample []byte) bool {
	e, ok := encodings[strings.ToLower(label)]
	return ok && decodesCleanly(e.e, sample)
}

// decodesCleanly reports whether sample is well-formed in e: no byte
// sequence of it decodes to U+FFFD.
func decodesCleanly(e encoding.Encoding, sample []byte) bool {
	if e == encoding.Nop {
		return u8.Valid(sample)
	}
	out, err := e.NewDecoder().Bytes(sample)
	return err == nil && !strings.ContainsRune(string(out), u8.RuneError)
}

// eastAsianCandidates are tried in this order; on equal scores the first
// wins (Simplified Chinese and Japanese are the most common undeclared
// East Asian mail).
var eastAsianCandidates = []struct {
	name   string
	common func(lead, trail byte) bool
}{
	// GB2312's characters (GBK's core): punctuation and full-width forms
	// (A1–A3), and the two levels of hanzi (B0–F7), trail A1–FE. The kana
	// rows A4/A5 are left out: Chinese text does not use them, Japanese
	// EUC-JP does.
	{"gbk", func(l, t byte) bool {
		return t >= 0xa1 && t <= 0xfe && (l >= 0xa1 && l <= 0xa3 || l >= 0xb0 && l <= 0xf7)
	}},
	// Shift_JIS: punctuation, full-width alphanumerics, hiragana and
	// katakana (81–83), level-1 kanji (88–98).
	{"shift_jis", func(l, t byte) bool {
		return l >= 0x81 && l <= 0x83 || l >= 0x88 && l <= 0x98
	}},
	// EUC-JP: punctuation, alphanumerics, kana (A1–A5), level-1 kanji (B0–CF).
	{"euc-jp", func(l, t byte) bool {
		return t >= 0xa1 && t <= 0xfe && (l >= 0xa1 && l <= 0xa5 || l >= 0xb0 && l <= 0xcf)
	}},
	// EUC-KR: punctuation, alphanumerics, hangul (B0–C8).
	{"euc-kr", func(l, t byte) bool {
		return t >= 0xa1 && t <= 0xfe && (l >= 0xa1 && l <= 0xa3 || l >= 0xb0 && l <= 0xc8)
	}},
	// Big5: punctuation (A1–A3) and frequent hanzi (A4–C6).
	{"big5", func(l, t byte) bool {
		return l >= 0xa1 && l <= 0xc6 && (t >= 0x40 && t <= 0x7e || t >= 0xa1 && t <= 0xfe)
	}},
}

// eastAsianGuess scores sample as each double-byte charset: it must decode
// cleanly, hold at least two double-byte characters, and four in five of
// them must be common ones. Latin text read as GBK or Big5 gives pairs of
// an accented letter and an ASCII letter, which are rare characters or
// none, so it fails.
func eastAsianGuess(sample []byte) string {
	best, bestScore := "", 0.0
	for _, c := range eastAsianCandidates {
		e := encodings[c.name].e
		if !decodesCleanly(e, sample) {
			continue
		}
		pairs, common := 0, 0
		for i := 0; i < len(sample); i++ {
			b := sample[i]
			if b < 0x80 {
				continue
			}
			if c.name == "shift_jis" && b >= 0xa1 && b <= 0xdf {
				pairs++ // a half-width katakana: one byte, not common
				continue
			}
			if i+1 >= len(sample) {
				break
			}
			pairs++
			if c.common(b, sample[i+1]) {
				common++
			}
			i++
		}
		if pairs < 2 {
			continue
		}
		if score := float64(common) / float64(pairs); score >= 0.8 && score > bestScore {
			best, bestScore = c.name, score
		}
	}
	return best
}

// isolated8bit reports whether most 8-bit bytes of sample stand alone
// between ASCII bytes, as accented letters of Latin-script text do; the
// bytes of double-byte text come in runs.
func isolated8bit(sample []byte) bool {
	high, alone := 0, 0
	for i, b := range sample {
		if b < 0x80 {
			continue
		}
		high++
		if (i == 0 || sample[i-1] < 0x80) && (i+1 == len(sample) || sample[i+1] < 0x80) {
			alone++
		}
	}
	return high > 0 && alone*2 >= high
}
