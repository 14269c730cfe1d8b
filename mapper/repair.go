package mapper

import (
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/enneo/mailbridge/internal/textscan"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
)

// fixC1 maps the C1 control characters U+0080..U+009F to the characters
// Windows-1252 has at those bytes. Mailers label Windows-1252 text as
// ISO-8859-1 so often that browsers (WHATWG) decode the label as
// Windows-1252; enmime decodes it strictly, which turns € or „ “ into
// invisible controls. Real text never contains C1 controls.
func fixC1(s string) string {
	if !hasC1(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if !isC1(r) {
			return r
		}
		if d := charmap.Windows1252.DecodeByte(byte(r)); d != '\ufffd' {
			return d
		}
		return -1 // the five bytes Windows-1252 leaves undefined
	}, s)
}

func isC1(r rune) bool { return r >= 0x80 && r <= 0x9f }

// hasC1 reports whether valid UTF-8 s holds a C1 control. Encoded, one is
// 0xC2 then 0x80..0x9F, and 0xC2 is never a continuation byte, so a byte
// search (vectorised) finds candidates; decoding every rune of every body
// cost a few percent of delivery CPU.
func hasC1(s string) bool {
	for {
		i := strings.IndexByte(s, 0xc2)
		if i < 0 || i+1 >= len(s) {
			return false
		}
		if b := s[i+1]; b >= 0x80 && b <= 0x9f {
			return true
		}
		s = s[i+2:]
	}
}

// cleanText makes s valid UTF-8 (U+FFFD for bytes that are not), drops
// C0 controls (see controls) and repairs C1 controls (fixC1). Clean text,
// nearly all of it, is only checked, in one pass.
func cleanText(s string) string {
	if isClean(s) {
		return s
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return fixC1(controls(s))
}

// cleanSpecial are the bytes isClean looks at: controls, DEL and those
// that start or continue a rune.
var cleanSpecial = textscan.NewSet("\x7f")

// isClean reports whether cleanText leaves s as it is: valid UTF-8
// without C0 controls but tab, line feed and carriage return, without DEL
// and without C1 controls. It finds the bytes to look at sixteen at a
// time (textscan).
func isClean(s string) bool {
	for i := 0; i < len(s); {
		if !cleanSpecial.Has(s[i]) {
			i += cleanSpecial.Index(s[i:])
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f {
				return false
			}
			i++
			continue
		}
		if c >= 0xc2 && c < 0xe0 && i+1 < len(s) && s[i+1]&0xc0 == 0x80 {
			// A two-byte rune, as Latin letters are; C1 controls are
			// 0xC2 0x80..0x9F.
			if c == 0xc2 && s[i+1] < 0xa0 {
				return false
			}
			i += 2
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || isC1(r) {
			return false
		}
		i += size
	}
	return true
}

// obsoleteZones are the zone names RFC 5322 section 4.3 still allows in a
// Date. Go's time parser accepts a name it does not know with a zero offset,
// which would put an "EST" mail five hours off.
var obsoleteZones = map[string]string{
	"UT": "+0000", "GMT": "+0000", "Z": "+0000",
	"EST": "-0500", "EDT": "-0400", "CST": "-0600", "CDT": "-0500",
	"MST": "-0700", "MDT": "-0600", "PST": "-0800", "PDT": "-0700",
}

// parseDate reads a Date header, numeric or with an obsolete zone name.
func parseDate(v string) (time.Time, error) {
	v = numericZone(v)
	if v == "" {
		return time.Time{}, mail.ErrHeaderNotPresent
	}
	// Most mail writes its date in one of these two forms. mail.ParseDate
	// would try up to two dozen layouts first, and each miss allocates.
	for _, layout := range commonDateLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return mail.ParseDate(v)
}

// numericZone trims a Date value and writes an obsolete zone name at its
// end as the offset it stands for.
func numericZone(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.LastIndexByte(v, ' '); i > 0 {
		if off, ok := obsoleteZones[strings.ToUpper(v[i+1:])]; ok {
			v = v[:i+1] + off
		}
	}
	return v
}

// commonDateLayouts are tried before mail.ParseDate. A string either
// layout reads whole is one mail.ParseDate would pass unchanged to the same
// layout, and no layout it tries earlier reads it: the one without a weekday
// is its first, and its earlier layouts begin with a digit where the one with
// a weekday needs a letter. So the result is the same, only sooner.
var commonDateLayouts = [...]string{
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"2 Jan 2006 15:04:05 -0700",
}

// extParam matches an RFC 2231 extended parameter (name*= or filename*=,
// possibly the first of a continuation).
var extParam = regexp.MustCompile(`(?i)\b(?:file)?name\*(?:0\*)?=\s*"?([A-Za-z0-9_.:-]+)'[^']*'([^";\s]*)`)

// rfc2231Name decodes a file name in a charset other than UTF-8 (e.g.
// filename*=iso-8859-1'de'Gr%FC%DFe.txt), which enmime and Go's mime
// package leave empty.
func rfc2231Name(headers ...string) string {
	for _, h := range headers {
		m := extParam.FindStringSubmatch(h)
		if m == nil {
			continue
		}
		raw, err := url.PathUnescape(m[2])
		if err != nil {
			continue
		}
		enc, err := htmlindex.Get(m[1])
		if err != nil {
			continue
		}
		if s, err := enc.NewDecoder().String(raw); err == nil {
			return s
		}
	}
	return ""
}
