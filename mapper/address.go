package mapper

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/enneo/mailbridge/internal/enmime"
)

// addrEntry is one entry of an address header: a usable address, or what
// could be read of an unusable one and why it is not usable.
type addrEntry struct {
	Name    string
	Address string
	// raw is the entry as written, for warnings.
	raw string
	// problem says why Address is unusable; "" when it is usable.
	problem string
	// charset is the charset guessed for a display name written in raw
	// 8-bit bytes, "" when the name needed no guess.
	charset string
}

// wordDecoder decodes RFC 2047 encoded-words in any charset enmime knows.
// A mime.WordDecoder holds no state, so one serves every goroutine.
var wordDecoder = enmime.NewWordDecoder()

// listParser is net/mail's strict parser: it splits a phrase into words
// before decoding each encoded-word, so a decoded comma or quote never
// changes the list's syntax.
var listParser = mail.AddressParser{WordDecoder: wordDecoder}

// parseAddressList reads a raw (undecoded) address header. A list net/mail
// accepts as a whole is taken as it reads it. Otherwise the list is split
// into entries by a tolerant tokenizer and each entry is read on its own,
// by net/mail where it accepts the entry and by recoverEntry where not, so
// that one broken entry costs only itself.
func parseAddressList(raw string) []addrEntry {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil
	}
	if bareAddress(raw) {
		return []addrEntry{{Address: raw, raw: raw}}
	}
	// With encoded-words, each entry is read on its own: net/mail decodes
	// word by word, and the names are decoded again from the entry's own
	// text (see fromNetMail).
	if list, err := listParser.ParseList(raw); err == nil && !namesHoldList(list) && !strings.Contains(raw, "=?") {
		out := make([]addrEntry, 0, len(list))
		for _, a := range list {
			out = append(out, fromNetMail(a, a.Address))
		}
		return out
	}
	var out []addrEntry
	entries := splitEntries(raw)
	for i := 0; i < len(entries); i++ {
		e := entries[i]
		if i+1 < len(entries) && lastnameOnly(e) && strings.Contains(entries[i+1], "<") {
			// "Lastname, Firstname <addr>" left unquoted.
			e += ", " + entries[i+1]
			i++
		}
		if a, err := listParser.Parse(e); err == nil && !holdsList(a.Name) {
			out = append(out, fromNetMail(a, e))
			continue
		}
		out = append(out, recoverEntry(e)...)
	}
	return out
}

// lastnameOnly reports whether an entry is one word without an address,
// the first half of an unquoted "Lastname, Firstname <addr>".
func lastnameOnly(e string) bool {
	return !strings.ContainsAny(e, "@<>\" \t\r\n")
}

// holdsList reports whether a quoted string holds an address followed by a
// separator ("Kohl, Max <kohl@x>, "Anna" <anna@x>): no display name does,
// so its opening quote was left unclosed and it pairs with the next entry's.
func holdsList(s string) bool {
	for {
		i := strings.IndexByte(s, '>')
		if i < 0 {
			return false
		}
		s = strings.TrimLeft(s[i+1:], " \t\r\n")
		if s != "" && (s[0] == ',' || s[0] == ';') {
			return true
		}
	}
}

func namesHoldList(list []*mail.Address) bool {
	for _, a := range list {
		if holdsList(a.Name) {
			return true
		}
	}
	return false
}

// fromNetMail completes an address net/mail has read.
func fromNetMail(a *mail.Address, raw string) addrEntry {
	e := addrEntry{raw: raw, Address: requote(a.Address)}
	if strings.HasPrefix(e.Address, "'") {
		e.Address = cleanAddress(e.Address) // Outlook's 'a@x'
	}
	name := a.Name
	if i := strings.LastIndexByte(raw, '<'); i > 0 && strings.Contains(raw[:i], "=?") {
		// net/mail decodes each encoded-word alone, which garbles a
		// character or an ISO-2022-JP escape split across two words, and
		// keeps a malformed word as it is; the repairing decoder reads the
		// phrase whole.
		name = strings.TrimSpace(raw[:i])
		if len(name) >= 2 && name[0] == '"' && name[len(name)-1] == '"' {
			name = unescape(name[1 : len(name)-1])
		}
	}
	e.Name, e.charset = tidyName(name)
	e.problem = checkAddress(e.Address)
	return e
}

// requote restores the quotes of a quoted local part ("john doe"@...),
// which net/mail removes, so that the address stays one token.
func requote(addr string) string {
	if strings.ContainsAny(addr, " \t\"\\") {
		s := (&mail.Address{Address: addr}).String()
		return strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	}
	return addr
}

// splitEntries cuts a raw address list into entries at top-level commas
// and semicolons, respecting quoted strings, comments, angle addresses and
// domain literals. A group's display name ("undisclosed-recipients:") is
// dropped, its members kept. Mailers that forget the comma after an angle
// address ("A <a@x> B <b@x>") get one entry per address. A quote, comment
// or angle bracket that is never closed is taken as an ordinary character,
// so it cannot swallow the rest of the list, except that a quote left open
// before an angle address is taken to end there ("Kohl, Max <kohl@x>).
func splitEntries(raw string) []string {
	var out []string
	sc := scanner{s: raw}
	start := 0
	afterAngle := false
	flush := func(end int) {
		if e := strings.TrimSpace(raw[start:end]); e != "" {
			out = append(out, e)
		}
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if afterAngle && c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			afterAngle = false
			if c != ',' && c != ';' && c != '(' {
				flush(i)
				start = i
			}
		}
		switch c {
		case '"':
			if j := sc.closing(i); j > 0 && !holdsList(raw[i+1:j]) {
				i = j
			} else if k := sc.nextAngle(i); k > i {
				i = k - 1 // the quote was meant to end before the address
			}
		case '(', '[':
			if j := sc.closing(i); j > 0 {
				i = j
			}
		case '<':
			if j := sc.closing(i); j > 0 {
				i = j
				afterAngle = true
			}
		case '\'':
			if strings.TrimSpace(raw[start:i]) == "" {
				i = sc.singleQuoted(i)
			}
		case ',', ';':
			flush(i)
			start = i + 1
		case ':':
			start = i + 1 // a group's display name
		}
	}
	flush(len(raw))
	return out
}

// scanner finds the ends of a string's quoted strings, comments, angle
// addresses and domain literals. Once one of a kind is found unclosed, later
// ones of that kind are taken as unclosed too, which keeps a header of many
// unclosed brackets linear.
type scanner struct {
	s        string
	unclosed [4]bool // by kind: " ( < [
	// noQuoteUntil is where the last failed singleQuoted search stopped.
	noQuoteUntil int
	// angle is what nextAngle found searching from angleFrom, if angled:
	// the index of a '<', or -1 for none.
	angle, angleFrom int
	angled           bool
}

// closing returns the index of the byte that closes the construct opened
// at s[i], or -1.
func (sc *scanner) closing(i int) int {
	kind := strings.IndexByte(`"(<[`, sc.s[i])
	if sc.unclosed[kind] {
		return -1
	}
	j := closing(sc.s, i, sc.s[i], `")>]`[kind])
	if j < 0 {
		sc.unclosed[kind] = true
	}
	return j
}

// nextAngle returns the index of the first '<' at or after i, or -1.
func (sc *scanner) nextAngle(i int) int {
	if sc.angled && i >= sc.angleFrom && (sc.angle < 0 || i <= sc.angle) {
		return sc.angle // the same answer as the last search's
	}
	sc.angle, sc.angleFrom, sc.angled = strings.IndexByte(sc.s[i:], '<'), i, true
	if sc.angle >= 0 {
		sc.angle += i
	}
	return sc.angle
}

// singleQuoted returns the index of the quote that closes Outlook's
// single-quoted display name opened at s[i] ('Kohl, Max' <kohl@x>), or i
// if there is none. Only a quote that opens an entry and one followed by an
// angle address count, so apostrophes in names (O'Neil) stay apostrophes.
func (sc *scanner) singleQuoted(i int) int {
	if i < sc.noQuoteUntil {
		return i // a search from further left found no close before there
	}
	s := sc.s
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\'':
			if rest := strings.TrimLeft(s[j+1:], " \t\r\n"); rest != "" && rest[0] == '<' {
				return j
			}
		case ';', '<', '"':
			sc.noQuoteUntil = j
			return i
		}
	}
	sc.noQuoteUntil = len(s)
	return i
}

// closing returns the index of the byte that closes the construct opened
// at s[i], or -1 if it is never closed. Comments nest (RFC 5322 3.2.2);
// a backslash quotes the next byte in quoted strings and comments; an
// angle address may hold a quoted local part.
func closing(s string, i int, open, end byte) int {
	depth := 0
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '\\' && open != '<' && open != '[':
			j++
		case c == '"' && open == '<':
			k := closing(s, j, '"', '"')
			if k < 0 {
				return -1
			}
			j = k
		case c == end && depth == 0:
			return j
		case c == end:
			depth--
		case c == open && open == '(':
			depth++
		}
	}
	return -1
}

// recoverEntry reads an entry net/mail refused: the address is the angle
// address, or else the word holding an '@'; the display name is what
// remains, or else the comment. An entry of bare addresses separated by
// spaces gives each of them.
func recoverEntry(raw string) []addrEntry {
	var phrase, comments, bare []string
	angle, hasAngle := "", false
	sc := scanner{s: raw}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		j := -1
		if c == '"' || c == '(' || c == '<' {
			j = sc.closing(i)
		}
		switch {
		case c == '"' && j > 0 && !holdsList(raw[i+1:j]):
			phrase = append(phrase, unescape(raw[i+1:j]))
			i = j
		case c == '"' && sc.nextAngle(i) > i:
			// A quote left open before the angle address (see splitEntries).
			j = sc.nextAngle(i)
			phrase = append(phrase, raw[i+1:j])
			i = j - 1
		case c == '(' && j > 0:
			comments = append(comments, unescape(raw[i+1:j]))
			i = j
		case c == '<' && j > 0:
			if !hasAngle {
				angle, hasAngle = raw[i+1:j], true
			}
			i = j
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || strings.IndexByte(`"()<>`, c) >= 0:
			// Whitespace, or an unmatched quote or bracket: a word break.
		default:
			j = i
			for j < len(raw) && !strings.ContainsRune(" \t\r\n\"()<>", rune(raw[j])) {
				j++
			}
			w := raw[i:j]
			if !hasAngle && strings.Contains(w, "@") {
				bare = append(bare, w)
			} else {
				phrase = append(phrase, w)
			}
			i = j - 1
		}
	}
	name := strings.Join(phrase, " ")
	if name == "" {
		name = strings.Join(comments, " ")
	}
	e := addrEntry{raw: raw}
	e.Name, e.charset = tidyName(name)
	switch {
	case hasAngle:
		// Bare words with '@' before the angle address belong to the name
		// (some mailers repeat the address there).
		if len(bare) > 0 {
			e.Name, e.charset = tidyName(strings.Join(append(bare, phrase...), " "))
		}
		e.Address = cleanAddress(angle)
	case len(bare) == 1:
		e.Address = cleanAddress(bare[0])
	case len(bare) > 1 && len(phrase) == 0:
		out := make([]addrEntry, 0, len(bare))
		for _, b := range bare {
			a := addrEntry{raw: raw, Address: cleanAddress(b)}
			a.problem = checkAddress(a.Address)
			out = append(out, a)
		}
		return out
	case len(bare) > 1:
		e.problem = "several addresses in one entry"
		return []addrEntry{e}
	}
	e.problem = checkAddress(e.Address)
	return []addrEntry{e}
}

// cleanAddress strips what mailers wrap around an address: spaces, an
// obsolete source route ("@relay:"), "mailto:", and quotes around the
// whole address ('a@x', "a@x").
func cleanAddress(a string) string {
	a = strings.TrimSpace(a)
	if strings.HasPrefix(a, "@") {
		if i := strings.IndexByte(a, ':'); i > 0 {
			a = a[i+1:]
		}
	}
	if len(a) > 7 && strings.EqualFold(a[:7], "mailto:") {
		a = a[7:]
	}
	for len(a) >= 2 && (a[0] == '\'' || a[0] == '"') && a[len(a)-1] == a[0] {
		a = strings.TrimSpace(a[1 : len(a)-1])
	}
	return a
}

// unescape removes the backslashes of a quoted pair.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// checkAddress says why addr is not an address mail can be sent to, or ""
// if it is one: a local part, '@' and a domain. UTF-8 local parts and
// domains (RFC 6532, IDN) are fine; raw bytes of another charset are not,
// as the mailbox they name cannot be known.
func checkAddress(addr string) string {
	if addr == "" {
		return "no address"
	}
	if !utf8.ValidString(addr) {
		return "address is not UTF-8"
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "address lacks a local part or a domain"
	}
	local, domain := addr[:at], addr[at+1:]
	quoted := len(local) >= 2 && local[0] == '"' && local[len(local)-1] == '"'
	literal := domain[0] == '[' && domain[len(domain)-1] == ']'
	for i := 0; i < len(addr); {
		r, n := rune(addr[i]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRuneInString(addr[i:])
		}
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			return "control character in address"
		case quoted && i < at:
			// Anything printable may be quoted.
		case r == ' ' || (r >= utf8.RuneSelf && unicode.IsSpace(r)):
			return "space in address"
		case r < utf8.RuneSelf && i != at && addrSpecials[r]:
			if i > at && literal && r != '@' {
				break
			}
			return "invalid character in address"
		}
		i += n
	}
	if domain[0] == '.' || domain[len(domain)-1] == '.' || strings.Contains(domain, "..") {
		return "invalid domain"
	}
	return ""
}

// addrSpecials are the ASCII characters that cannot stand unquoted in an
// address (RFC 5322 specials and the backslash).
var addrSpecials = asciiSet(`()<>[]:;@\,"`)

// dotAtom are the ASCII characters of a dot-atom (RFC 5322 3.2.3).
var dotAtom = asciiSet("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~.")

func asciiSet(chars string) (set [utf8.RuneSelf]bool) {
	for i := 0; i < len(chars); i++ {
		set[chars[i]] = true
	}
	return set
}

// bareAddress reports whether s is a lone ASCII addr-spec of dot-atoms,
// the commonest address header ("To: support@example.net"): it is read as
// net/mail would read it, without the cost of the parser.
func bareAddress(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || s[0] == '\'' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; i != at && (c >= utf8.RuneSelf || !dotAtom[c]) {
			return false
		}
	}
	local, domain := s[:at], s[at+1:]
	for _, part := range []string{local, domain} {
		if part[0] == '.' || part[len(part)-1] == '.' || strings.Contains(part, "..") {
			return false
		}
	}
	return true
}

// tidyName turns a display name as read into text: raw 8-bit bytes decoded
// (charset names the guess, if one was made), encoded-words decoded, the
// single quotes Outlook puts around names removed, and whitespace and
// control characters collapsed to single spaces.
func tidyName(name string) (tidy, charset string) {
	if name == "" {
		return "", ""
	}
	if !utf8.ValidString(name) {
		name, charset = decode8bit(name)
	}
	if strings.Contains(name, "=?") {
		// Words of a quoted string, or of an entry net/mail refused; the
		// entry is already split, so decoding cannot change the syntax.
		d, _ := enmime.DecodeHeaderNotes(name)
		name = strings.ToValidUTF8(d, "\uFFFD")
	}
	if needsCollapse(name) {
		name = strings.Join(strings.FieldsFunc(name, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r)
		}), " ")
	}
	if len(name) >= 2 && name[0] == '\'' && name[len(name)-1] == '\'' {
		name = strings.TrimSpace(name[1 : len(name)-1])
	}
	return name, charset
}

// needsCollapse reports whether name has leading, trailing or repeated
// whitespace, or control characters; most names have none.
func needsCollapse(name string) bool {
	prevSpace := true
	for _, r := range name {
		space := r == ' '
		if (space && prevSpace) || (!space && (unicode.IsSpace(r) || unicode.IsControl(r))) {
			return true
		}
		prevSpace = space
	}
	return prevSpace
}

// decode8bit decodes a display name written in raw bytes of an undeclared
// charset that are not UTF-8, with the guess every other header's raw text
// gets (enmime.DecodeRaw), and names the charset it took.
func decode8bit(s string) (string, string) {
	return enmime.DecodeRaw(s)
}
