package mapper

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
	"unicode/utf8"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/enmime"
	"github.com/enneo/mailbridge/internal/textscan"
	"github.com/enneo/mailbridge/mapper/reply"
	"github.com/inbucket/html2text"
)

// What one mail may cost. A crafted mail a few hundred KB long can ask a
// naive mapper for gigabytes: a cid: image inlined at each of thousands of
// references, parts nested thousands deep, a text of '<' that HTML-escaping
// makes four times larger, three times over. These bounds keep the payload
// within a small multiple of the raw mail and the work linear in it.
const (
	// DefaultBodyMaxBytes is each body field's size (body, bodyPlain,
	// bodyClean) beyond which it is cut, when Options.BodyMaxBytes is 0.
	DefaultBodyMaxBytes = 1 << 20
	// MaxNesting is how deep multiparts are parsed, as Postfix's
	// mime_nesting_limit; deeper parts are kept whole as one attachment.
	MaxNesting = 100
	// MaxParts is how many MIME parts are parsed; the rest are kept whole
	// as one attachment.
	MaxParts = 1000
	// maxWarnings bounds rawData.parserWarnings; the rest are counted.
	maxWarnings = 50
	// maxWarningBytes bounds one warning, which may quote the mail.
	maxWarningBytes = 1 << 10
	// maxAddressHeader is how much of an address header is read: a
	// thousand addresses and more.
	maxAddressHeader = 64 << 10
	// maxNotes and maxNoteBytes bound the notes put before the bodies
	// (encrypted parts, invitations).
	maxNotes     = 8
	maxNoteBytes = 2 << 10
	// maxTNEFFiles bounds the files unpacked from all of a mail's
	// winmail.dat parts together.
	maxTNEFFiles = 1000
	// maxNameBytes bounds an attachment's name, as file systems do.
	maxNameBytes = 255
	// maxCalendarBytes is how much of an invitation is read for its
	// summary.
	maxCalendarBytes = 64 << 10
	// replyMaxLines is how many lines of text the reply parser reads: it
	// keeps a record of some 60 bytes a line, and a crafted text of short
	// lines has half a million lines to the MiB. A reply rarely has more
	// than a few hundred lines above its quote.
	replyMaxLines = 20000
)

// Names of the attachments that carry a cut body in full.
const (
	fullTextName = "body.txt"
	fullHTMLName = "body.html"
)

// cutMarker ends a cut body field.
func cutMarker(name string) string {
	return "[mailbridge: the text is cut here; the full text is attached as " + name + "]"
}

func sizeText(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// prefix returns the longest prefix of s of at most n bytes that ends on a
// rune boundary.
func prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// jsonPrefix returns the longest prefix of s that takes at most n bytes in
// a JSON string, and whether that is all of s. The limits count the JSON
// a field costs: a quote or a line break takes two bytes there, an invalid
// byte or U+2028 six.
func jsonPrefix(s string, n int) (string, bool) {
	if len(s) <= n/6 {
		return s, true
	}
	j, _ := jsonScan(s, 0, 0, n)
	return s[:j], j == len(s)
}

// jsonCut is jsonPrefix(s, short)'s prefix and whether jsonPrefix(s, long)
// is all of s (short <= long), in one pass over s; and the JSON sizes of
// the prefix and, when it is all of it, of s, where it measured them (-1
// where not: a string short enough fits without).
func jsonCut(s string, short, long int) (head string, headSize int, all bool, size int) {
	if len(s) <= short/6 {
		return s, -1, true, -1
	}
	j, headSize := jsonScan(s, 0, 0, short)
	if j == len(s) {
		return s, headSize, true, headSize
	}
	if len(s) <= long/6 {
		return s[:j], headSize, true, -1
	}
	k, size := jsonScan(s, j, headSize, long)
	if k < len(s) {
		size = -1
	}
	return s[:j], headSize, k == len(s), size
}

// jsonSize is the size of s in a JSON string, quotes left out.
func jsonSize(s string) int {
	_, n := jsonScan(s, 0, 0, math.MaxInt)
	return n
}

// jsonScan measures s from i on, s[:i] taking size bytes of JSON, and
// stops before the first byte or rune that would take it past n: it
// returns where, and the JSON size of s up to there.
func jsonScan(s string, i, size, n int) (int, int) {
	for i < len(s) {
		if len(s)-i >= 8 && size+16 <= n {
			x := load8(s, i)
			if jsonPlain8(x) {
				size += 8
				i += 8
				continue
			}
			if x&highs == 0 {
				if extra, ok := jsonExtra8(x); ok {
					size += 8 + extra
					i += 8
					continue
				}
			}
		}
		c, w, l := s[i], 1, 1
		switch {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
			w = 2
		case c < 0x20:
			w = 6
		case c >= utf8.RuneSelf:
			var r rune
			r, l = utf8.DecodeRuneInString(s[i:])
			switch {
			case r == '\u2028' || r == '\u2029' || (r == utf8.RuneError && l == 1):
				w = 6
			default:
				w = l
			}
		}
		if size+w > n {
			break
		}
		size += w
		i += l
	}
	return i, size
}

// htmlEscape is what lfToHTML makes of c: html.EscapeString's entity, a
// <br> at a line end, or "" for a byte it keeps.
func htmlEscape(c byte) string {
	switch c {
	case '&':
		return "&amp;"
	case '\'':
		return "&#39;"
	case '<':
		return "&lt;"
	case '>':
		return "&gt;"
	case '"':
		return "&#34;"
	case '\n':
		return "<br>\n"
	}
	return ""
}

// nextHTMLSpecial is the index of the first byte of s at or after i that
// htmlEscape replaces, or len(s).
func nextHTMLSpecial(s string, i int) int {
	for ; len(s)-i >= 8; i += 8 {
		if m := htmlSpecial8(load8(s, i)); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(s); i++ {
		if htmlEscape(s[i]) != "" {
			return i
		}
	}
	return len(s)
}

// htmlSize is the size of lfToHTML(lf) for lf without line feeds at its
// end.
func htmlSize(lf string) int {
	return len(lf) + 4*(strings.Count(lf, "\n")+strings.Count(lf, "&")+strings.Count(lf, "'")+strings.Count(lf, `"`)) +
		3*(strings.Count(lf, "<")+strings.Count(lf, ">"))
}

// writeHTML writes lfToHTML(lf) to b.
func writeHTML(b *strings.Builder, lf string) {
	start := 0
	for i := nextHTMLSpecial(lf, 0); i < len(lf); i = nextHTMLSpecial(lf, i) {
		b.WriteString(lf[start:i])
		b.WriteString(htmlEscape(lf[i]))
		i++
		start = i
	}
	b.WriteString(lf[start:])
}

// htmlJSONSize is, for each ASCII byte, the size in a JSON string of what
// lfToHTML makes of it.
var htmlJSONSize = func() (t [utf8.RuneSelf]uint8) {
	for c := range t {
		switch e := htmlEscape(byte(c)); {
		case c == '\n':
			t[c] = uint8(len(e)) + 1 // the line feed after <br> is \n
		case e != "":
			t[c] = uint8(len(e))
		case c == '\\' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
			t[c] = 2
		case c < 0x20:
			t[c] = 6
		default:
			t[c] = 1
		}
	}
	return t
}()

// textSpecial are the bytes textHTML writes otherwise than as they are
// or measures as more than one byte of JSON, and those that may start a
// rune it does.
var textSpecial = textscan.NewSet(`"\\<>&'`)

// textHTML is the body field of a plain text, lf: cutHTML(lfToHTML(lf),
// limit, name, whole), made and measured in one pass over no more of lf
// than the field holds, and the field's size in a JSON string.
func textHTML(lf string, limit int, name string, whole bool) (h string, ok bool, size int) {
	lf = strings.TrimRight(lf, "\n")
	marker := "\n<p>" + cutMarker(name) + "</p>"
	short := max(limit-len(marker)-2, 0)
	// The field takes at most limit bytes of JSON, and its HTML no more
	// bytes than its JSON.
	var b strings.Builder
	if len(lf) <= limit/2 {
		b.Grow(min(htmlSize(lf), limit))
	} else {
		b.Grow(limit)
	}
	// lf[:i] takes size bytes of JSON as HTML. lf[:cut] is the longest
	// prefix whose HTML takes at most short bytes of it, cutSize; br
	// tells that a <br> but its line feed fits after it as well, which
	// cutHTML keeps where it drops the part of an entity that fits. The
	// walk goes on past cut up to limit, to learn whether all of lf fits.
	// Up to cut, it writes the HTML as it goes: b holds
	// lfToHTML(lf[:start]).
	cut, cutSize, br := -1, 0, false
	i, start := 0, 0
	for bound := short; i < len(lf); {
		if n := min(len(lf)-i, bound-size); n > 0 && !textSpecial.Has(lf[i]) {
			// A run of bytes each taking one byte of HTML and of JSON.
			k := textSpecial.Index(lf[i : i+n])
			size += k
			i += k
		}
		if i == len(lf) {
			break
		}
		c, l := lf[i], 1
		var w int
		if c < utf8.RuneSelf {
			w = int(htmlJSONSize[c])
		} else {
			var r rune
			r, l = utf8.DecodeRuneInString(lf[i:])
			w = l
			if r == '\u2028' || r == '\u2029' || (r == utf8.RuneError && l == 1) {
				w = 6
			}
		}
		if size+w > bound {
			if cut >= 0 {
				size = limit + 1 // not all of lf fits
				break
			}
			cut, cutSize = i, size
			br = c == '\n' && short-size >= len("<br>")
			b.WriteString(lf[start:i])
			start = i
			bound = limit
			continue
		}
		if e := htmlEscape(c); e != "" && cut < 0 {
			b.WriteString(lf[start:i])
			b.WriteString(e)
			start = i + 1
		}
		size += w
		i += l
	}
	if whole && i == len(lf) && size <= limit {
		writeHTML(&b, lf[start:])
		return b.String(), true, size
	}
	if cut < 0 { // all of lf fits before the marker
		cutSize = size
		b.WriteString(lf[start:])
	}
	if br {
		b.WriteString("<br>")
		cutSize += len("<br>")
	}
	b.WriteString(marker)
	return b.String(), false, cutSize + jsonSize(marker)
}

// crlfToLF is strings.ReplaceAll(s, "\r\n", "\n") in one pass: a search
// for the next CR, a byte that text rarely has but at a line's end, and
// a copy of the line.
func crlfToLF(s string) string {
	var b strings.Builder
	start := 0 // s[start:] is not copied yet
	for i := 0; ; {
		j := strings.IndexByte(s[i:], '\r')
		if j < 0 {
			break
		}
		i += j
		if i+1 == len(s) || s[i+1] != '\n' {
			i++
			continue
		}
		if b.Cap() == 0 {
			b.Grow(len(s) - 1)
		}
		b.WriteString(s[start:i])
		start, i = i+1, i+2
	}
	if start == 0 {
		return s
	}
	b.WriteString(s[start:])
	return b.String()
}

// firstLines returns the first n lines of s.
func firstLines(s string, n int) string {
	end := 0
	for range n {
		i := strings.IndexByte(s[end:], '\n')
		if i < 0 {
			return s
		}
		end += i + 1
	}
	return s[:end]
}

// cutPlain cuts text to limit bytes of JSON, marker included; ok is false
// when it was cut. whole is false when text is a part of the field's
// text already, and so is marked as cut whatever its size. esc is the
// result escaped in a JSON string, where the cut had to measure it (a
// text short enough fits without): written as the cut goes, it is the
// request's bytes for the field.
func cutPlain(text string, limit int, name string, whole bool) (cut string, ok bool, esc []byte) {
	marker := "\n\n" + cutMarker(name)
	short := max(limit-len(marker)-4, 0)
	if len(text) <= short/6 {
		if whole {
			return text, true, nil
		}
		return text + marker, false, nil
	}
	esc = make([]byte, 0, min(limit, len(text)+len(text)/16+16))
	esc, r := api.AppendEscaped(esc, text, short)
	head, headSize := text[:r], len(esc)
	if r < len(text) {
		var n int
		esc, n = api.AppendEscaped(esc, text[r:], limit)
		r += n
	}
	if r == len(text) && whole {
		return text, true, esc
	}
	esc, _ = api.AppendEscaped(esc[:headSize], marker, math.MaxInt)
	return head + marker, false, esc
}

// cutHTML cuts HTML to limit bytes of JSON, marker included, before a tag
// or character reference the cut would split; ok is false when it was
// cut. whole is as for cutPlain.
func cutHTML(h string, limit int, name string, whole bool) (string, bool) {
	marker := "\n<p>" + cutMarker(name) + "</p>"
	h2, _, all, _ := jsonCut(h, max(limit-len(marker)-2, 0), limit)
	if all && whole {
		return h, true
	}
	h = h2
	if i := strings.LastIndexAny(h, "<&"); i >= 0 && !strings.ContainsAny(h[i:], ">;") {
		h = h[:i]
	}
	return h + marker, false
}

// controls drops the C0 control characters but tab, line feed and carriage
// return, and DEL: no text shows them, JSON writes each as six bytes, and
// an agent's terminal or browser may act on them.
func controls(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if i+8 <= len(s) && noControls8(load8(s, i)) {
			i += 7
			continue
		}
		if c := s[i]; (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

func (m *mapping) bodyLimit() int {
	if m.opts.BodyMaxBytes > 0 {
		return m.opts.BodyMaxBytes
	}
	return DefaultBodyMaxBytes
}

// fullText is the attachment that carries a body field's whole text when
// the field was cut.
func fullText(name, contentType string, content []byte) api.Attachment {
	return api.Attachment{Name: name, ContentType: contentType, Content: content}
}

// capWarnings keeps the first maxWarnings warnings and counts the rest
// (more were only counted): a crafted mail can have a warning per part.
func capWarnings(w []string, more int) []string {
	if len(w) <= maxWarnings {
		return w
	}
	return append(w[:maxWarnings:maxWarnings], fmt.Sprintf("%d more warnings not listed", len(w)-maxWarnings+more))
}

// bodies fills body, bodyPlain and bodyClean, each within the body limit.
// A cut field says so at its end, and the full text is attached.
func (m *mapping) bodies(c *api.Conversation, inline map[string]inlineImage) {
	plain, forClean := m.plainText()
	htmlText, hasHTML := m.htmlParts()
	m.fillBodies(c, plain, forClean, htmlText, hasHTML, inline)
}

func (m *mapping) fillBodies(c *api.Conversation, plain, forClean, htmlText string, hasHTML bool, inline map[string]inlineImage) {
	limit := m.bodyLimit()
	// enmime joins parts with bare LF and keeps each part's CRLF; one
	// line-ending convention makes the text comparable and searchable. Only
	// what a field can hold is converted: CRLF to LF at most halves a text,
	// so 2×limit bytes of it fill a field. (Not for the reply parser, which
	// converts on its own: a conversion is not idempotent, "\r\r\n" being
	// "\r\n" after one, and bodyClean must not change.)
	head := prefix(plain, 2*limit+2)
	whole := len(head) == len(plain) && !m.textPartial
	// Cleaned before it is cut, since U+FFFD for an invalid byte is three.
	unix := crlfToLF(head)
	lf := cleanText(unix)
	var ok bool
	plainText := strings.TrimSpace(lf)
	var size int
	var esc []byte
	c.BodyPlain, ok, esc = cutPlain(plainText, limit, fullTextName, whole)
	noteJSON(c, c.BodyPlain, esc)
	textCut, plainOK := !ok, ok
	if hasHTML {
		part := prefix(htmlText, limit+1)
		var h string
		if h, ok = cutHTML(cleanText(part), limit, fullHTMLName, len(part) == len(htmlText)); !ok {
			m.warn("the HTML body is %d bytes: body cut at %s, the full HTML attached as %s", len(htmlText), sizeText(limit), fullHTMLName)
			c.Attachments = append(c.Attachments, fullText(fullHTMLName, "text/html; charset=utf-8", m.textBytes(htmlText, "text/html")))
		}
		c.Body = rewriteCIDs(h, inline, limit-len(h))
	} else {
		c.Body, ok, size = textHTML(lf, limit, fullTextName, whole)
		noteSize(c, c.Body, size)
		textCut = textCut || !ok
	}
	// The HTML before CID rewriting: embedded data: images would only make
	// the reply parser slower. The reply parser keeps a record per line,
	// many times a short line's size, so it reads no more than a field
	// holds, and no more than replyMaxLines.
	part := firstLines(prefix(forClean, limit), replyMaxLines)
	in := part
	if len(part) == len(plain) && part == plain && lf == unix && strings.IndexByte(lf, '\r') < 0 {
		// The text is clean and its only CRs were those of CRLFs: the
		// reply parser's own conversion would make lf of it again.
		in = lf
	}
	// A text without quote or signature comes back as it went in, most
	// often the very string, which is clean already.
	clean := reply.Text(in, prefix(htmlText, limit))
	if clean != plainText {
		clean = cleanText(clean)
	}
	cleanWhole := len(part) == len(forClean) && len(htmlText) <= limit
	if clean == plainText && cleanWhole == whole {
		// A text without quote or signature: the same field again.
		c.BodyClean, ok = c.BodyPlain, plainOK
	} else {
		c.BodyClean, ok, esc = cutPlain(clean, limit, fullTextName, cleanWhole)
		noteJSON(c, c.BodyClean, esc)
	}
	textCut = textCut || !ok
	// Each field is cleaned text, cut at rune boundaries, with ASCII
	// markers and entities; the HTML but the plain text's HTML is not.
	m.cleaned = [3]string{c.BodyPlain, c.BodyClean}
	if !hasHTML {
		m.cleaned[2] = c.Body
	}
	if textCut {
		m.warn("the text is %d bytes: body fields cut at %s, the full text attached as %s", len(plain), sizeText(limit), fullTextName)
		c.Attachments = append(c.Attachments, fullText(fullTextName, "text/plain; charset=utf-8", m.textBytes(plain, "text/plain")))
	}
}

// noteSize tells the request's encoder the JSON size of a body field
// measured as it was cut (-1: not measured), so that the encoder need not
// read the field once more for its size before it writes it.
func noteSize(c *api.Conversation, field string, size int) {
	if size >= 0 {
		c.NoteJSONSize(field, size)
	}
}

// noteJSON gives the request's encoder a body field's escaped bytes,
// made as it was cut (nil: not made).
func noteJSON(c *api.Conversation, field string, esc []byte) {
	if esc != nil {
		c.NoteJSON(field, esc)
	}
}

// textBytes is text as bytes: the content of the part of type ct it was
// read from where it is one part's whole text, else a copy. A cut text is
// a large one, and a copy would add its size again to the mapping's memory.
func (m *mapping) textBytes(text, ct string) []byte {
	for _, p := range m.env.Root.DepthMatchAll(func(p *enmime.Part) bool {
		return p.ContentType == ct || (ct == "text/plain" && p.ContentType == "")
	}) {
		if len(p.Content) == len(text) && string(p.Content) == text {
			return p.Content
		}
	}
	return []byte(text)
}

// textFromHTML makes the text of an HTML-only message from its HTML, as
// enmime would, but from no more of it than a body field holds: the HTML
// parser's tree takes dozens of times the size of its input.
func (m *mapping) textFromHTML() {
	env := m.env
	if env.Text != "" || env.HTML == "" {
		return
	}
	h := prefix(env.HTML, m.bodyLimit())
	m.textPartial = len(h) < len(env.HTML)
	text, err := html2text.FromString(h)
	if err != nil {
		m.warn("text from HTML: %v", err)
		return
	}
	env.Text = text
}
