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
	"strings"
	"time"
	"unicode/utf8"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/enmime"
	"github.com/enneo/mailbridge/mapper/reply"
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
	// the HTML body as data: URIs; 0 embeds none.
	InlineImageMaxBytes int
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
var (
	fastParser    = enmime.NewParser(enmime.SkipMalformedParts(true), enmime.DisableCharacterDetection(true))
	carefulParser = enmime.NewParser(enmime.SkipMalformedParts(true))
)

func readEnvelope(raw []byte) (*enmime.Envelope, error) {
	env, err := fastParser.ReadEnvelope(bytes.NewReader(raw))
	if err != nil || (utf8.ValidString(env.Text) && utf8.ValidString(env.HTML)) {
		return env, err
	}
	return carefulParser.ReadEnvelope(bytes.NewReader(raw))
}

// Map parses raw and builds the store-conversation payload. Damage in the
// message becomes warnings and a best-effort payload; only a message of
// which nothing is readable is an error (wrapping ErrUnusable).
func Map(ctx context.Context, raw []byte, o Options) (*Result, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, fmt.Errorf("%w: empty message", ErrUnusable)
	}
	env, err := readEnvelope(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnusable, err)
	}
	m := &mapping{env: env, opts: o, header: ParseHeader(raw)}
	for _, e := range env.Errors {
		m.warn("%s", e.Error())
	}
	c := &api.Conversation{
		Process:                o.Process,
		Direction:              o.Direction,
		SubchannelID:           o.SubchannelID,
		Type:                   "html",
		Subject:                strings.TrimSpace(env.GetHeader("Subject")),
		ExternalConversationID: ExternalID(raw, m.header),
		CreatedAt:              m.createdAt(),
		To:                     m.addresses("To"),
		CCEmails:               m.named("Cc"),
		BCCEmails:              m.named("Bcc"),
	}
	c.From, c.FromName = m.sender()
	atts, inline := m.attachments()
	c.Attachments = atts
	plain, plainForClean := m.plainText()
	// enmime joins parts with bare LF and keeps each part's CRLF; one
	// line-ending convention makes the text comparable and searchable.
	// Converted once for the HTML body and bodyPlain. (Not for the reply
	// parser, which converts on its own: a conversion is not idempotent,
	// "\r\r\n" being "\r\n" after one, and bodyClean must not change.)
	lf := strings.ReplaceAll(plain, "\r\n", "\n")
	htmlText, hasHTML := m.htmlParts()
	c.Body = m.htmlBody(htmlText, hasHTML, inline, lf)
	c.BodyPlain = strings.TrimSpace(lf)
	// The HTML before CID rewriting: embedded data: images would only
	// make the reply parser slower.
	c.BodyClean = reply.Text(plainForClean, htmlText)
	if c.Body == "" && c.BodyPlain == "" && len(c.Attachments) == 0 {
		m.salvageBody(raw, c)
	}
	if c.Body == "" && c.BodyPlain == "" && len(c.Attachments) == 0 && c.Subject == "" {
		return nil, fmt.Errorf("%w: no subject, body or attachment found", ErrUnusable)
	}
	c.RawData = m.rawData(inline)
	validUTF8(c)
	return &Result{Conversation: c, Header: m.header, Warnings: m.warnings}, nil
}

// mapping holds the state of one Map call.
type mapping struct {
	env      *enmime.Envelope
	opts     Options
	header   Header
	warnings []string
	// addrs caches each address header as read, so that a header read
	// twice (Reply-To) warns once. An array: a map cost more allocations
	// than the parse of a typical header.
	addrs  [8]parsedHeader
	nAddrs int
	// senderSource names the header the sender came from when From had
	// no usable address.
	senderSource string
}

func (m *mapping) warn(format string, args ...any) {
	m.warnings = append(m.warnings, fmt.Sprintf(format, args...))
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

// htmlBody is the HTML of the message with cid: references rewritten, or
// its text escaped so that it reads the same in an HTML view (line breaks
// kept). lf is the text with its CRLFs converted already.
func (m *mapping) htmlBody(htmlText string, hasHTML bool, inline map[string]inlineImage, lf string) string {
	if !hasHTML {
		return lfToHTML(lf)
	}
	return rewriteCIDs(htmlText, inline)
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

// textHTML is html.EscapeString and a <br> at each line end in one pass:
// the two passes in a row cost a tenth of mapping a plain-text mail.
var textHTML = strings.NewReplacer(
	`&`, "&amp;", `'`, "&#39;", `<`, "&lt;", `>`, "&gt;", `"`, "&#34;",
	"\n", "<br>\n")

func textToHTML(text string) string {
	return lfToHTML(strings.ReplaceAll(text, "\r\n", "\n"))
}

// lfToHTML is textToHTML for text whose CRLFs are converted already.
func lfToHTML(lf string) string {
	lf = strings.TrimRight(lf, "\n")
	if lf == "" {
		return ""
	}
	return textHTML.Replace(lf)
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
	return rd
}

// validUTF8 replaces bytes that are not UTF-8 (a part that lied about its
// charset) by U+FFFD, so what enneo stores is what JSON would carry anyway,
// and agents see where text was lost; and it repairs Windows-1252 text
// decoded as ISO-8859-1 (see fixC1).
func validUTF8(c *api.Conversation) {
	for _, s := range []*string{&c.From, &c.FromName, &c.Subject, &c.Body, &c.BodyPlain, &c.BodyClean} {
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
	m.warn("no readable MIME part: the raw body is kept as plain text")
	c.BodyPlain = strings.ReplaceAll(body, "\r\n", "\n")
	c.BodyClean = reply.Text(c.BodyPlain, "")
	c.Body = textToHTML(body)
}
