// Package reply finds the new text of an email reply: the author's own
// words without the quoted history, attribution lines, forwarded or
// original-message blocks and signatures that mail clients append. The
// result is what the enneo payload calls bodyClean, the text an AI reads.
//
// Everything here is heuristic. Where a rule could eat the author's prose,
// it asks for corroboration (a date in an attribution line, a quoted line
// after it, several header lines in a row), because dropping a customer's
// sentence is worse than leaving a bit of history in.
package reply

import (
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text returns the new text of a reply: the author's own words, without
// quoted history, attribution lines, forwarded/original-message blocks and
// signatures. plain is the text/plain body (may be empty), html the
// text/html body (may be empty). When html carries a client's quote or
// signature markup, or plain is empty, those containers are removed from
// the HTML and the rest converted to text; otherwise plain is used.
//
// Text never returns an empty string for input that has text: when
// stripping leaves nothing, it falls back to the text before the first
// cut marker, and failing that to the whole text, trimmed.
func Text(plain, html string) string {
	plain = sanitize(plain)
	html = sanitize(html)
	if hasText(html) && (!hasText(plain) || quoteMarkup(html)) {
		if s, ok := fromHTML(html); ok {
			return s
		}
		// An HTML part without any text (an image, an empty template)
		// says nothing; the plain part may still.
	}
	if !hasText(plain) {
		return ""
	}
	a := analyze(plain)
	if s := a.clean(); s != "" {
		return s
	}
	return a.fallback()
}

// quoteMarkers are substrings of the markup classify acts on. An HTML part
// without any of them holds its quote, if any, as text, and the text rules
// find it as well in the plain part.
var quoteMarkers = []string{
	"<blockquote", "<BLOCKQUOTE", "<Blockquote",
	"gmail_", "divRplyFwdMsg", "appendonsend", "mail-editor-reference-message-container",
	"OutlookMessageHeader", "moz-", "yahoo_quoted", "Signature", "quote",
}

// quoteMarkup reports whether html may hold markup classify acts on. The
// plain part is then the better source: rendering HTML costs more than all
// the rest of Text, and it brings html2text's "*bold*" and "( link )".
func quoteMarkup(html string) bool {
	for _, m := range quoteMarkers {
		if strings.Contains(html, m) {
			return true
		}
	}
	return false
}

// sanitize makes inputs comparable line by line: one line-ending
// convention, no byte-order mark and valid UTF-8, so that the output is
// valid UTF-8 whatever a broken charset conversion upstream produced.
func sanitize(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return lineFeeds(strings.TrimPrefix(s, "\uFEFF"))
}

// lineFeeds is s with each CRLF, and then each CR left, made a line feed,
// in one pass.
func lineFeeds(s string) string {
	i := strings.IndexByte(s, '\r')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for ; i >= 0; i = strings.IndexByte(s, '\r') {
		b.WriteString(s[:i])
		b.WriteByte('\n')
		if i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
	b.WriteString(s)
	return b.String()
}

// analysis is the line-level verdict on one text: which lines are quoted
// history to drop, and from which line on everything is history or
// signature.
type analysis struct {
	text  string // what lines are the lines of
	lines []string
	drop  []bool // nil while no line is dropped
	// cut is the index of the first line of the trailing block (history,
	// forward, signature); len(lines) when there is none.
	cut int
}

func (a *analysis) dropLine(i int) {
	if a.drop == nil {
		a.drop = make([]bool, len(a.lines))
	}
	a.drop[i] = true
}

// analyze judges each line by its normalized form. Most lines of prose
// can match no rule, which inert tells from a few bytes at their ends;
// the others are normalized where a rule looks at them.
func analyze(text string) *analysis {
	lines := strings.Split(text, "\n")
	a := &analysis{text: text, lines: lines, cut: len(lines)}
	for i := 0; i < len(lines); i++ {
		if inert(lines[i]) {
			continue
		}
		n := normalize(lines[i])
		if n == "" {
			continue
		}
		if isQuoted(n) {
			a.dropLine(i)
			continue
		}
		if k, strong := attribution(lines, i); k > 0 {
			next := nextNonBlank(lines, i+k)
			if next == len(lines) || isQuoted(normalize(lines[next])) {
				// Attribution over a ">" block: the quote goes line by line,
				// so that answers interleaved further down survive.
				for j := i; j < i+k; j++ {
					a.dropLine(j)
				}
				i += k - 1
				continue
			}
			if strong {
				a.cut = i
				return a
			}
		}
		if isSignatureDelimiter(n) || isMobileFooter(n) || isOriginalMarker(n) ||
			isForwardMarker(n) || headerBlock(lines, i) {
			a.cut = i
			return a
		}
	}
	return a
}

// inertHead is how many bytes of a line's start inert looks at: more than
// any rule's test of the start before it runs a regexp (maybeHeaderLine's
// 15, the longest footer word's 10).
const inertHead = 16

// inert reports whether line l, normalized, is a line no rule of analyze
// acts on, looking only at its ends. Where l trimmed of ASCII blanks
// starts with inertHead ASCII bytes but tab and ends with an ASCII byte,
// normalize leaves those bytes as they are, so the rules' tests of the
// start and end of the line see them: the line is not blank, not quoted,
// has no colon where an attribution, forward marker or header line has
// one, does not start as a signature delimiter, marker, footer or a
// wrapped attribution does.
func inert(l string) bool {
	i, j := 0, len(l)
	for i < j && asciiBlank(l[i]) {
		i++
	}
	for j > i && asciiBlank(l[j-1]) {
		j--
	}
	t := l[i:j]
	if t == "" {
		return false
	}
	if last := t[len(t)-1]; last >= utf8.RuneSelf || last == ':' {
		return false
	}
	head := t[:min(len(t), inertHead)]
	k := 0
	for ; len(head)-k >= 8; k += 8 {
		if special8(head[k : k+8]) {
			return false
		}
	}
	for ; k < len(head); k++ {
		if c := head[k]; c >= utf8.RuneSelf || c == ':' || c == '\t' {
			return false
		}
	}
	switch c := head[0] | 0x20; c { // a lower-case letter or no letter
	case '>' | 0x20, '-' | 0x20, '_' | 0x20:
		return false
	case 'o', 'a', 'l', 'e': // attributionStart's words, in either case
		if len(head) >= 2 {
			switch string([]byte{c, head[1] | 0x20}) {
			case "on", "am", "le", "el", "op":
				return false
			}
		}
	}
	return !footerStart(head)
}

// special8 reports whether the eight bytes of w hold a byte that is not
// ASCII, a colon or a tab.
func special8(w string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
	c, t := x^(ones*':'), x^(ones*'\t')
	return (x|(c-ones)&^c|(t-ones)&^t)&highs != 0
}

// asciiBlank reports whether strings.TrimSpace trims c, an ASCII byte.
func asciiBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// clean is the strict result: lines above the cut that are not quoted.
func (a *analysis) clean() string {
	if a.drop == nil || !slices.Contains(a.drop[:a.cut], true) {
		return a.tidyHead(a.cut)
	}
	kept := make([]string, 0, a.cut)
	for i := 0; i < a.cut; i++ {
		if !a.drop[i] {
			kept = append(kept, a.lines[i])
		}
	}
	return tidy(kept)
}

// fallback serves mails that are nothing but a quote or a signature: the
// reader is better served by some text than by none.
func (a *analysis) fallback() string {
	if s := a.tidyHead(a.cut); s != "" {
		return s
	}
	return a.tidyHead(len(a.lines))
}

// tidyHead is tidy of the first n lines. Where tidying leaves them as
// they are, as it does most texts, it is the stretch of the text they
// span, not a copy.
func (a *analysis) tidyHead(n int) string {
	lines := a.lines[:n]
	first, last := 0, len(lines)
	for first < last && bareQuote(lines[first]) {
		first++
	}
	for last > first && bareQuote(lines[last-1]) {
		last--
	}
	start := 0
	for _, l := range lines[:first] {
		start += len(l) + 1
	}
	end := start
	for i, l := range lines[first:last] {
		if !tidyLine(l, i == 0 || lines[first+i-1] != "") {
			return tidy(lines)
		}
		end += len(l) + 1
	}
	if end == start {
		return ""
	}
	return a.text[start : end-1]
}

// tidyLine reports whether tidy writes line l of the lines between the
// first and last that hold text as it is, joined to the one before by a
// line feed: it has text and no trailing blank, or it is empty but not
// after another empty line (the paragraph break tidy keeps).
func tidyLine(l string, afterText bool) bool {
	if l == "" {
		return afterText
	}
	if c := l[len(l)-1]; c < utf8.RuneSelf && !asciiBlank(c) {
		return true // it ends in text: nothing to trim, something left
	}
	return strings.TrimRight(l, " \t\u00a0") == l && strings.TrimSpace(l) != ""
}

// tidy trims trailing blanks of each line, collapses runs of blank lines
// into one paragraph break and drops blank lines at both ends. A bare ">"
// counts as blank at the ends: html2text opens and closes every quote
// with one, and a fallback that is all quote would otherwise start with it.
func tidy(lines []string) string {
	for len(lines) > 0 && bareQuote(lines[0]) {
		lines = lines[1:]
	}
	for len(lines) > 0 && bareQuote(lines[len(lines)-1]) {
		lines = lines[:len(lines)-1]
	}
	// Sized once: grown line by line, the builder's copies cost more than
	// the tidying.
	size := 0
	for _, l := range lines {
		size += len(l) + 2
	}
	var b strings.Builder
	b.Grow(size)
	blank := false
	for _, l := range lines {
		l = strings.TrimRight(l, " \t\u00a0")
		if strings.TrimSpace(l) == "" {
			blank = b.Len() > 0
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
			if blank {
				b.WriteByte('\n')
			}
		}
		blank = false
		b.WriteString(l)
	}
	return b.String()
}

// hasText reports whether s has more than blanks and quote markers.
// Quote markers alone are not text: html2text renders an empty blockquote
// as ">" lines, and such an HTML part must not hide the plain one.
func hasText(s string) bool {
	return !bareQuote(s)
}

// bareQuote reports whether l holds nothing but quote markers and what
// normalize turns into blanks. It runs over whole HTML parts, so it does
// not allocate.
func bareQuote(l string) bool {
	for _, r := range l {
		switch r {
		case '>', '\u200b', '\u200e', '\u200f', '\ufeff':
			continue
		}
		if !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// normalize is the form of a line the patterns match against. html2text
// leaves non-breaking spaces and renders <b>From:</b> as "*From:*".
func normalize(l string) string {
	// Every rune mapped below is a tab or starts with one of these bytes
	// in UTF-8; a line without them, most lines, needs no rune decoding.
	if !mapsRunes(l) {
		return strings.TrimSpace(l)
	}
	l = strings.Map(func(r rune) rune {
		switch r {
		case '\u00a0', '\u2007', '\u202f', '\t':
			return ' '
		case '\u200b', '\u200e', '\u200f', '\ufeff':
			return -1
		}
		return r
	}, l)
	return strings.TrimSpace(l)
}

// mapsRunes reports whether l holds a tab or one of the bytes 0xC2, 0xE2
// and 0xEF, which the runes normalize maps start with: one pass, eight
// ASCII bytes at a time, rather than a search per byte.
func mapsRunes(l string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; len(l)-i >= 8; i += 8 {
		w := l[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		// A tab is a zero byte of t; a byte flagged wrongly (above a
		// flagged one) or non-ASCII is then looked at on its own.
		t := x ^ ones*'\t'
		if (x|(t-ones)&^t)&highs == 0 {
			continue
		}
		for _, c := range []byte(w) {
			if mapsByte(c) {
				return true
			}
		}
	}
	for _, c := range []byte(l[i:]) {
		if mapsByte(c) {
			return true
		}
	}
	return false
}

func mapsByte(c byte) bool { return c == '\t' || c == 0xc2 || c == 0xe2 || c == 0xef }

// nextNonBlank is the index of the first line from i on that is not
// blank once normalized, or len(lines).
func nextNonBlank(lines []string, i int) int {
	for i < len(lines) && normalize(lines[i]) == "" {
		i++
	}
	return i
}

func isQuoted(n string) bool {
	return strings.HasPrefix(n, ">")
}

var (
	// Strong attributions carry a date, so a digit is required: "On
	// Monday Peter wrote:" in prose stays, "On 12 May 2024 … wrote:" goes.
	strongAttribution = regexp.MustCompile(`^(?i:` +
		`on\s.*\d.*\swrote\s?:` + // Gmail, Apple Mail, Thunderbird
		`|am\s.*\d.*\sschrieb\s.+:` + // German Gmail, Apple Mail, Thunderbird
		`|le\s.*\d.*\sa\sécrit\s?:` +
		`|el\s.*\d.*\sescribió\s?:` +
		`|op\s.*\d.*\sschreef\s.*:` +
		`)$`)
	// Weak attributions have no date ("Jane Doe wrote:"); they only count
	// when a quote follows.
	weakAttribution = regexp.MustCompile(`^.{2,200}\s(?i:` +
		`wrote|schrieb|schrieb\s(am|on)\s.+|hat\s.+\sgeschrieben|a\sécrit|escribió|schreef` +
		`)\s?:$`)
	attributionStart = regexp.MustCompile(`^(?i:on|am|le|el|op)\s`)
)

// attribution reports how many lines (1, or 2 when a client wrapped it)
// form an attribution line at i, and whether it is strong enough to cut
// without a quote under it.
func attribution(lines []string, i int) (k int, strong bool) {
	n := normalize(lines[i])
	if len(n) > 400 {
		return 0, false
	}
	// Every attribution ends in a colon; checking that first keeps the
	// regexps off the prose lines, which are most lines.
	if !strings.HasSuffix(n, ":") {
		if i+1 < len(lines) && strings.HasSuffix(normalize(lines[i+1]), ":") {
			return wrappedAttribution(lines, i)
		}
		return 0, false
	}
	if strongAttribution.MatchString(n) {
		return 1, true
	}
	if weakAttribution.MatchString(n) {
		return 1, false
	}
	return wrappedAttribution(lines, i)
}

// wrappedAttribution finds the attributions Gmail wraps, typically inside
// the address: "On …, John Doe <" / "john@example.com> wrote:".
func wrappedAttribution(lines []string, i int) (k int, strong bool) {
	n := normalize(lines[i])
	if !attributionStart.MatchString(n) || i+1 >= len(lines) {
		return 0, false
	}
	if next := normalize(lines[i+1]); next != "" && !isQuoted(next) {
		joined := n + " " + next
		if len(joined) <= 400 && strongAttribution.MatchString(joined) {
			return 2, true
		}
	}
	return 0, false
}

// isSignatureDelimiter accepts the RFC 3676 "-- " and what clients and
// people actually type: "--" without the space and Outlook's line of
// underscores above the original message.
func isSignatureDelimiter(n string) bool {
	if n == "--" {
		return true
	}
	return len(n) >= 2 && strings.Trim(n, "_") == ""
}

var mobileFooter = regexp.MustCompile(`^(?i:` +
	`sent from my\s.{1,60}` +
	`|sent from (outlook|mail|yahoo mail|aol|gmail|samsung|proton ?mail)\b.{0,60}` +
	`|sent with proton ?mail.{0,40}` +
	`|get outlook for .{1,30}` +
	`|(von|gesendet von|gesendet mit) (meinem|meiner) .{1,60}` +
	`|von meinem .{1,60} gesendet` +
	`|gesendet (von|mit) (der |dem )?(gmx|web\.de|t-online|telekom|outlook|mail|yahoo|samsung|blackberry|huawei|email\.de|freenet|1&1)\b.{0,60}` +
	`|outlook für (ios|android) (beziehen|herunterladen)` +
	`|holen sie sich outlook für .{1,30}` +
	`|diese nachricht wurde von meinem .{1,80} gesendet` +
	`|envoyé de mon .{1,60}` +
	`|enviado desde mi .{1,60}` +
	`|(verzonden|verstuurd) (vanaf|met) mijn .{1,60}` +
	`)[.!]?$`)

// footerStarts are the first words of mobileFooter's alternatives (keep
// them in step). The regexp runs only on lines that start with one:
// running it on every line of every mail took half of Text's time.
var footerStarts = []string{"sent ", "get ", "von ", "gesendet ", "outlook ", "holen ", "diese ",
	"envoyé ", "enviado ", "verzonden ", "verstuurd "}

// footersByFirst are footerStarts by their first byte.
var footersByFirst = func() (t [256][]string) {
	for _, w := range footerStarts {
		t[w[0]] = append(t[w[0]], w)
	}
	return t
}()

func isMobileFooter(n string) bool {
	return len(n) <= 120 && footerStart(n) && mobileFooter.MatchString(n)
}

// footerStart reports whether n starts with one of footerStarts.
func footerStart(n string) bool {
	if n == "" {
		return false
	}
	// By the first byte, in either case: most lines differ there, and a
	// rune that folds to an ASCII letter is longer than it.
	for _, w := range footersByFirst[n[0]|0x20] {
		if len(n) >= len(w) && strings.EqualFold(n[:len(w)], w) {
			return true
		}
	}
	return false
}

var originalMarker = regexp.MustCompile(`^(?i:` +
	`-{2,}\s*(original message|ursprüngliche nachricht|original-nachricht|originalnachricht` +
	`|message d'origine|mensaje original|oorspronkelijk bericht)\s*-{2,}` +
	`)$`)

func isOriginalMarker(n string) bool {
	return strings.HasPrefix(n, "--") && originalMarker.MatchString(n)
}

var forwardMarker = regexp.MustCompile(`^(?i:` +
	`-{2,}\s*(forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|doorgestuurd bericht)\s*-{2,}` +
	`|begin forwarded message\s?:` +
	`|anfang der weitergeleiteten (nachricht|e-mail)\s?:` +
	`|début du message réexpédié\s?:` +
	`|inicio del mensaje reenviado\s?:` +
	`)$`)

func isForwardMarker(n string) bool {
	return (strings.HasPrefix(n, "--") || strings.HasSuffix(n, ":")) && forwardMarker.MatchString(n)
}

// headerLine matches a quoted-header line as Outlook, GMX, Apple Mail's
// forwards and others write it, also bold from HTML ("*Von:* …").
var headerLine = regexp.MustCompile(`^\*?(From|Von|De|Van|Sent|Gesendet|Envoyé|Verzonden|Enviado|` +
	`Date|Datum|Fecha|To|An|À|Aan|Para|Cc|CC|Bcc|Kopie|Subject|Betreff|Objet|Onderwerp|Asunto|` +
	`Reply-To|Antwort an)\s?:\*?(\s|$)`)

// maybeHeaderLine is headerLine's cheap precondition: the colon of the
// longest field name ("*Antwort an:*") comes within the first 14 bytes.
func maybeHeaderLine(n string) bool {
	c := strings.IndexByte(n, ':')
	return c > 0 && c <= 14
}

// headerBlock reports whether a block of quoted mail headers starts at
// line i. One "From:" line is not enough, a customer may well write
// "From: Berlin / To: Munich": it takes a sender line plus a Sent or
// Subject line and at least three different fields within a few lines.
func headerBlock(lines []string, i int) bool {
	if n := normalize(lines[i]); !maybeHeaderLine(n) || !headerLine.MatchString(n) {
		return false
	}
	var from, sentOrSubject bool
	seen := map[string]bool{}
	gap := 0
	for j := i; j < len(lines) && j < i+14; j++ {
		var m []string
		if n := normalize(lines[j]); maybeHeaderLine(n) {
			m = headerLine.FindStringSubmatch(n)
		}
		if m == nil {
			// Tolerates a wrapped To: list or a blank line between fields.
			if gap++; gap > 2 {
				break
			}
			continue
		}
		gap = 0
		field := m[1]
		seen[field] = true
		switch field {
		case "From", "Von", "De", "Van":
			from = true
		case "Sent", "Gesendet", "Envoyé", "Verzonden", "Enviado",
			"Subject", "Betreff", "Objet", "Onderwerp", "Asunto":
			sentOrSubject = true
		}
	}
	return from && sentOrSubject && len(seen) >= 3
}
