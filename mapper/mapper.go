// Package mapper turns a raw email into the body of enneo's
// POST /ticket/{ticketId}/conversation/store. It is pure: the same bytes and
// options always give the same payload, which the golden tests rely on.
package mapper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/enmime"
	"github.com/inbucket/html2text"
)

// TimeLayout is the format of createdAt in the enneo API.
const TimeLayout = "2006-01-02 15:04:05"

// Options carry what the payload needs beyond the message itself.
type Options struct {
	SubchannelID int
	Process      string // realtime | batch | false
	Direction    string // in | out | internal
	// Location is the time zone createdAt is written in (default UTC).
	Location *time.Location
	// ReceivedAt is used as createdAt when the Date header is missing or
	// unreadable.
	ReceivedAt time.Time
	// InlineImageMaxBytes: cid: images up to this size are also embedded in
	// the HTML body as data: URIs; 0 embeds none. Each image is embedded
	// once, and only while the body stays within BodyMaxBytes.
	InlineImageMaxBytes int
	// BodyMaxBytes is the size beyond which each of body, bodyPlain and
	// bodyClean is cut, with a note saying so; the full text is then
	// attached. 0 means DefaultBodyMaxBytes.
	BodyMaxBytes int
	// Source describes where the message came from; it is reported in
	// rawData.source as given (it must marshal to JSON).
	Source any
	// EnvelopeFrom is the SMTP envelope's MAIL FROM, if the message came
	// by SMTP: a sender of last resort for mail without a usable From.
	EnvelopeFrom string
}

// Result is a mapped message.
type Result struct {
	Conversation *api.Conversation
	Header       Header
	// Warnings are the parser's complaints and the mapper's own fallbacks,
	// also listed in rawData.parserWarnings.
	Warnings []string
}

// ErrUnusable is returned when nothing usable remains of a message.
var ErrUnusable = errors.New("mapper: message is unusable")

// fastParser trusts a part's declared charset. Detecting the charset of
// every text part (enmime's default) costs more than the rest of the parse;
// it is only worth it for a message whose declared charset is wrong, which
// shows as invalid UTF-8 after decoding, and such a message is parsed again
// by carefulParser.
//
// Neither turns an HTML-only message's HTML into its text: the mapper does,
// from no more HTML than a body field holds (see textFromHTML).
var (
	fastParser = enmime.NewParser(enmime.SkipMalformedParts(true), enmime.MultipartWOBoundaryAsSinglePart(true),
		enmime.DisableCharacterDetection(true), enmime.DisableTextConversion(true),
		enmime.MaxNesting(MaxNesting), enmime.MaxParts(MaxParts), enmime.MaxStoredPartErrors(maxWarnings))
	carefulParser = enmime.NewParser(enmime.SkipMalformedParts(true), enmime.MultipartWOBoundaryAsSinglePart(true),
		enmime.DisableTextConversion(true), enmime.MaxNesting(MaxNesting), enmime.MaxParts(MaxParts),
		enmime.MaxStoredPartErrors(maxWarnings))
)

func readEnvelope(ctx context.Context, raw []byte) (*enmime.Envelope, error) {
	env, err := fastParser.ReadEnvelopeContext(ctx, bytes.NewReader(raw))
	if err != nil || (utf8.ValidString(env.Text) && utf8.ValidString(env.HTML)) {
		return env, err
	}
	return carefulParser.ReadEnvelopeContext(ctx, bytes.NewReader(raw))
}

// Map parses raw and builds the store-conversation payload. Damage in the
// message becomes warnings, repairs (see structure.go) and a best-effort
// payload; only an empty or blank message is an error (wrapping
// ErrUnusable): whatever else arrived, a person can read. Its work and its
// payload are bounded by the size of raw (see bounds.go), and it gives up
// with an error wrapping ctx.Err() once ctx ends.
func Map(ctx context.Context, raw []byte, o Options) (*Result, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, fmt.Errorf("%w: empty message", ErrUnusable)
	}
	m := &mapping{ctx: ctx, opts: o, header: ParseHeader(raw)}
	msg, err := m.parse(m.message(raw))
	if err != nil {
		return nil, fmt.Errorf("mapper: %w", err)
	}
	env := m.env
	m.top = env.Root
	m.unwrap()
	m.textFromHTML()
	c := &api.Conversation{
		Process:                o.Process,
		Direction:              o.Direction,
		SubchannelID:           o.SubchannelID,
		Type:                   "html",
		Subject:                strings.TrimSpace(m.headerText("Subject")),
		ExternalConversationID: ExternalID(raw, m.header),
		CreatedAt:              m.createdAt(),
		To:                     m.addresses("To"),
		CCEmails:               m.named("Cc"),
		BCCEmails:              m.named("Bcc"),
	}
	c.From, c.FromName = m.sender()
	atts, inline := m.attachments()
	c.Attachments = atts
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mapper: %w", err)
	}
	m.bodies(c, inline)
	m.applyNotes(c)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mapper: %w", err)
	}
	if c.Body == "" && c.BodyPlain == "" && len(c.Attachments) == 0 {
		m.salvageBody(msg, c)
	}
	if c.Body == "" && c.BodyPlain == "" && len(c.Attachments) == 0 && c.Subject == "" {
		m.warn("the message has header fields but no subject, body or attachment")
	}
	if m.incomplete {
		c.Attachments = m.original(raw, c.Attachments)
	}
	m.warnings = capWarnings(m.warnings, m.moreWarnings)
	c.RawData = m.rawData(inline)
	validUTF8(c, m.cleaned[:]...)
	return &Result{Conversation: c, Header: m.header, Warnings: m.warnings}, nil
}

// mapping holds the state of one Map call.
type mapping struct {
	ctx context.Context
	env *enmime.Envelope
	// top is the message's own root part: its header is the message's,
	// whatever unwrap makes of env.
	top      *enmime.Part
	opts     Options
	header   Header
	warnings []string
	// textPartial is set when the text was made from part of the HTML.
	textPartial  bool
	tnefFiles    int                      // files unpacked from winmail.dat so far
	moreWarnings int                      // warnings past maxWarnings, only counted
	notes        []string                 // put before the body; see unwrap
	extra        map[string]any           // added to rawData
	raw          *enmime.RawHeaderDecoder // made on the first header that needs it
	repairs      []string                 // codes, see structure.go
	// incomplete: some of the message may be missing from the payload.
	incomplete bool
	// addrs caches each address header as read, so that a header read
	// twice (Reply-To) warns once. An array: a map cost more allocations
	// than the parse of a typical header.
	addrs  [8]parsedHeader
	nAddrs int
	// senderSource names the header the sender came from when From had
	// no usable address.
	senderSource string
	// cleaned are body fields as fillBodies made them from cleaned text:
	// validUTF8 need not check them again.
	cleaned [3]string
}

// headerText is header key of the message as UTF-8 text: see decodeHeader.
func (m *mapping) headerText(key string) string {
	return m.decodeHeader(key, m.top.Header.Get(key))
}

// decodeHeader decodes a raw header value: raw 8-bit bytes and raw
// ISO-2022-JP in the message's charset (see rawText), then its RFC 2047
// encoded-words, repairing malformed ones. Every repair is a warning
// naming what, e.g. "Subject".
func (m *mapping) decodeHeader(what, raw string) string {
	s, notes := enmime.DecodeHeaderNotes(m.rawText(what, raw))
	for _, n := range notes {
		m.warn("%s: %s", what, n)
	}
	return s
}

// rawText is s with raw 8-bit bytes (GBK, Shift_JIS, Latin-1... written
// without RFC 2047) and raw ISO-2022-JP read as text, in the charset the
// message's headers are guessed to be in; s itself where it is valid UTF-8
// already. Each repair is a warning naming what.
func (m *mapping) rawText(what, s string) string {
	if !enmime.NeedsRawDecoding(s) {
		return s
	}
	if m.raw == nil {
		m.raw = enmime.NewRawHeaderDecoder(m.top)
	}
	out, note := m.raw.Decode(s)
	if note != "" {
		m.warn("%s: %s", what, note)
	}
	return out
}

// warn records a warning. Warnings quote the mail (a name, a header), so
// each is cut at maxWarningBytes, and past maxWarnings they are only
// counted (see capWarnings).
func (m *mapping) warn(format string, args ...any) {
	if len(m.warnings) > maxWarnings {
		m.moreWarnings++
		return
	}
	w := fmt.Sprintf(format, args...)
	if len(w) > maxWarningBytes {
		w = prefix(w, maxWarningBytes) + "…"
	}
	m.warnings = append(m.warnings, w)
}

func (m *mapping) createdAt() string {
	loc := m.opts.Location
	if loc == nil {
		loc = time.UTC
	}
	t, err := parseDate(m.env.GetHeader("Date"))
	switch {
	case errors.Is(err, mail.ErrHeaderNotPresent):
		m.warn("no Date header: createdAt is the time of receipt")
		t = m.opts.ReceivedAt
	case err != nil:
		m.warn("unreadable Date header %q: createdAt is the time of receipt", m.env.GetHeader("Date"))
		t = m.opts.ReceivedAt
	}
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format(TimeLayout)
}

// formatAddress writes a decoded display name as it reads, quoting only
// where the name would otherwise be misread as address syntax.
func formatAddress(a *mail.Address) string {
	name := strings.TrimSpace(a.Name)
	if name == "" {
		return a.Address
	}
	if strings.ContainsAny(name, `()<>[]:;@\,."`) { // RFC 5322 specials
		name = `"` + strings.ReplaceAll(strings.ReplaceAll(name, `\`, `\\`), `"`, `\"`) + `"`
	}
	return name + " <" + a.Address + ">"
}

// htmlParts is the HTML of the message as sent; ok is false when it has
// no HTML part.
//
// enmime's Envelope.HTML holds only the first HTML part. Apple Mail and
// others send multipart/mixed with HTML, an attachment, then more HTML;
// those later parts are appended here, unless they are only another
// alternative of an HTML part already taken.
func (m *mapping) htmlParts() (body string, ok bool) {
	parts := m.env.Root.DepthMatchAll(func(p *enmime.Part) bool {
		return p.ContentType == "text/html" && isBodyPart(p)
	})
	if len(parts) == 0 {
		return "", false
	}
	if len(parts) == 1 && string(parts[0].Content) == m.env.HTML {
		return m.env.HTML, true // the common case, without a copy
	}
	var b strings.Builder
	taken := map[*enmime.Part]bool{}
	for _, p := range parts {
		if alt := p.Parent; alt != nil && alt.ContentType == "multipart/alternative" {
			if taken[alt] {
				continue
			}
			taken[alt] = true
		}
		b.Write(p.Content)
	}
	return b.String(), true
}

// plainText is enmime's Text, unless enmime counted a named text file as
// message text (it does for "inline; filename=..."): then the text is
// rebuilt from the body parts alone, the same way, since the file is
// already an attachment.
//
// forClean is the same text for reply.Text. Where text parts are joined
// (enmime does it for multipart/mixed), it joins them with a blank line
// instead of "--", which reply.Text would take for a signature delimiter
// and drop the text after an attachment.
func (m *mapping) plainText() (text, forClean string) {
	files := m.env.Root.DepthMatchAll(func(p *enmime.Part) bool {
		return p.ContentType == "text/plain" && p.Disposition != "attachment" && !isBodyPart(p)
	})
	if len(files) == 0 {
		if m.env.Root.ContentType == "multipart/alternative" {
			return m.env.Text, m.env.Text
		}
		// The parts enmime joined into Text.
		parts := m.env.Root.DepthMatchAll(func(p *enmime.Part) bool {
			return p.ContentType == "text/plain" && p.Disposition != "attachment"
		})
		if len(parts) < 2 {
			return m.env.Text, m.env.Text
		}
		return m.env.Text, joinContent(parts, "\n\n")
	}
	parts := m.env.Root.DepthMatchAll(func(p *enmime.Part) bool {
		return p.ContentType == "text/plain" && isBodyPart(p)
	})
	if m.env.Root.ContentType == "multipart/alternative" && len(parts) > 1 {
		parts = parts[:1]
	}
	if text := joinContent(parts, "\n--\n"); text != "" || m.env.HTML == "" {
		return text, joinContent(parts, "\n\n")
	}
	text, err := html2text.FromString(m.env.HTML)
	if err != nil {
		m.warn("text from HTML: %v", err)
	}
	return text, text
}

func joinContent(parts []*enmime.Part, sep string) string {
	texts := make([]string, len(parts))
	for i, p := range parts {
		texts[i] = string(p.Content)
	}
	return strings.Join(texts, sep)
}

// textToHTML is html.EscapeString and a <br> at each line end in one
// pass (see htmlEscape): the two passes in a row cost a tenth of mapping
// a plain-text mail.
func textToHTML(text string) string {
	return lfToHTML(crlfToLF(text))
}

// lfToHTML is textToHTML for text whose CRLFs are converted already.
func lfToHTML(lf string) string {
	lf = strings.TrimRight(lf, "\n")
	var b strings.Builder
	b.Grow(htmlSize(lf))
	writeHTML(&b, lf)
	return b.String()
}

func (m *mapping) rawData(inline map[string]inlineImage) map[string]any {
	rd := map[string]any{}
	h := m.header
	if h.MessageID != "" {
		rd["messageId"] = h.MessageID
	}
	if len(h.InReplyTo) > 0 {
		rd["inReplyTo"] = h.InReplyTo
	}
	if len(h.References) > 0 {
		rd["references"] = h.References
	}
	if rt := m.addresses("Reply-To"); len(rt) > 0 {
		rd["replyTo"] = rt
	}
	if m.senderSource != "" {
		rd["senderSource"] = m.senderSource
	}
	if m.opts.Source != nil {
		rd["source"] = m.opts.Source
	}
	if len(inline) > 0 {
		rd["inlineImages"] = inlineReport(inline)
	}
	if len(m.warnings) > 0 {
		rd["parserWarnings"] = m.warnings
	}
	for k, v := range m.extra {
		rd[k] = v
	}
	if len(m.repairs) > 0 {
		rd["repairs"] = m.repairs
	}
	if m.incomplete {
		rd["parseIncomplete"] = true
	}
	return rd
}

// validUTF8 replaces bytes that are not UTF-8 (a part that lied about its
// charset) by U+FFFD, so what enneo stores is what JSON would carry anyway,
// and agents see where text was lost; and it repairs Windows-1252 text
// decoded as ISO-8859-1 (see fixC1). A field that is one of the strings
// clean (cleanText's own results) is left as it is.
func validUTF8(c *api.Conversation, clean ...string) {
	for _, s := range []*string{&c.From, &c.FromName, &c.Subject, &c.Body, &c.BodyPlain, &c.BodyClean} {
		// Comparing a string with itself does not read its bytes.
		if *s == "" || slices.Contains(clean, *s) {
			continue
		}
		*s = cleanText(*s)
	}
	for _, list := range [][]string{c.To, c.CCEmails, c.BCCEmails} {
		for i := range list {
			list[i] = strings.ToValidUTF8(list[i], "\uFFFD")
		}
	}
	for i := range c.Attachments {
		c.Attachments[i].Name = cleanText(c.Attachments[i].Name)
	}
}

// salvageBody keeps the text of a message whose MIME structure hid it, e.g.
// a multipart type whose boundary never appears: enmime finds no part and
// the body would silently vanish.
func (m *mapping) salvageBody(raw []byte, c *api.Conversation) {
	body := strings.TrimSpace(string(raw[headerEnd(raw):]))
	if body == "" {
		return
	}
	m.repair("raw-body", "no readable MIME part: the raw body is kept as plain text")
	// The body may still carry the message's transfer encoding: mailers
	// that declare multipart wrongly also encode the text as a whole.
	text, notes := enmime.DecodeTextBody([]byte(body), m.top.Header.Get("Content-Transfer-Encoding"))
	for _, n := range notes {
		m.warn("body: %s", n)
	}
	body = strings.TrimSpace(text)
	m.fillBodies(c, body, body, "", false, nil)
}
