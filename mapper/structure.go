package mapper

import (
	"bytes"
	"strings"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/enmime"
)

// Repairs of a message's structure are listed in rawData.repairs, each
// also as a warning, so that agents and integrations know the payload is
// the mapper's reading of a damaged mail. The codes:
//
//   - mbox-from-line: an mbox "From " (or ">From ") separator line before
//     the header was removed.
//   - junk-before-header: lines before the header that are no header fields
//     were skipped; the warning quotes them.
//   - no-header: the message has no header block (a pasted body): all of it
//     is read as the text body.
//   - multipart-without-boundary: a multipart type without boundary
//     parameter was read as text/plain.
//   - empty-part-dropped: an empty part without headers (a last delimiter
//     line with nothing after it) was not made an attachment.
//   - truncated-base64: a base64 part cut off mid-stream was decoded as far
//     as it goes.
//   - raw-body: no MIME part could be read; the body is kept as text.
//   - unreadable-structure: the MIME structure could not be parsed; the
//     header and the body as plain text are kept.
//   - part-lost: a part of the message could not be read.
//
// The last two mean that some of the message may be missing from the
// payload: rawData.parseIncomplete is then true and the message as received
// is attached as original.eml (message/rfc822), for a person to open.
const originalName = "original.eml"

// headerStart is where the header block of raw begins, past an mbox "From "
// line and a few lines of junk; fromLines and junk are the lines skipped.
// ok is false when raw has no header block at all.
func headerStart(raw []byte) (start int, fromLines, junk []string, ok bool) {
	for bytes.HasPrefix(raw[start:], []byte("From ")) || bytes.HasPrefix(raw[start:], []byte(">From ")) {
		line, next := lineAt(raw, start)
		fromLines = append(fromLines, string(line))
		start = next
	}
	if line, _ := lineAt(raw, start); isFieldLine(line) {
		return start, fromLines, nil, true
	}
	// A stray line (or a few) before the header: skip them, if what follows
	// is a header block with at least one field a mail header has.
	const maxJunk = 3
	at := start
	for n := 0; n < maxJunk && at < len(raw); n++ {
		line, next := lineAt(raw, at)
		junk = append(junk, string(line))
		at = next
		if next, _ := lineAt(raw, at); isFieldLine(next) && knownFieldFollows(raw[at:]) {
			return at, fromLines, junk, true
		}
	}
	return start, fromLines, nil, false
}

// lineAt returns the line starting at raw[i] without its line ending, and
// the offset of the next line.
func lineAt(raw []byte, i int) ([]byte, int) {
	j := bytes.IndexByte(raw[i:], '\n')
	if j < 0 {
		return bytes.TrimRight(raw[i:], "\r"), len(raw)
	}
	return bytes.TrimRight(raw[i:i+j], "\r"), i + j + 1
}

// isFieldLine reports whether line starts a header field: a field name
// (printable ASCII without colon or space), maybe spaces, and a colon.
func isFieldLine(line []byte) bool {
	i := 0
	for i < len(line) && line[i] > ' ' && line[i] < 0x7f && line[i] != ':' {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	return i < len(line) && line[i] == ':'
}

// knownFieldFollows reports whether the header block at the start of b has
// a field every mail header has one of.
func knownFieldFollows(b []byte) bool {
	for i := 0; i < len(b); {
		line, next := lineAt(b, i)
		if len(line) == 0 {
			return false
		}
		if c := bytes.IndexByte(line, ':'); c > 0 && knownField[strings.ToLower(string(bytes.TrimSpace(line[:c])))] {
			return true
		}
		i = next
	}
	return false
}

// hasKnownField is knownFieldFollows for a parsed header.
func hasKnownField(env *enmime.Envelope) bool {
	if env.Root == nil {
		return false
	}
	for _, k := range knownFieldKeys {
		if _, ok := env.Root.Header[k]; ok {
			return true
		}
	}
	for k := range env.Root.Header {
		if knownField[strings.ToLower(k)] {
			return true
		}
	}
	return false
}

// knownFieldKeys are the commonest known fields in the form the header map
// holds them, looked up first: nearly every mail has one.
var knownFieldKeys = []string{"From", "Subject", "Date", "To", "Message-Id", "Received"}

var knownField = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "subject": true, "date": true,
	"message-id": true, "received": true, "return-path": true, "mime-version": true,
	"content-type": true, "content-transfer-encoding": true, "reply-to": true,
	"sender": true, "delivered-to": true, "in-reply-to": true, "references": true,
	"x-mailer": true, "user-agent": true, "x-mozilla-status": true,
}

// repair records a repair under its code (see above) and warns.
func (m *mapping) repair(code, format string, args ...any) {
	m.repairs = append(m.repairs, code)
	m.warn(format, args...)
}

// message is raw as it is parsed: from its header on, or, for a message
// without header, as a body under an empty header.
func (m *mapping) message(raw []byte) []byte {
	start, fromLines, junk, ok := headerStart(raw)
	for _, l := range fromLines {
		m.repair("mbox-from-line", "mbox separator line %q before the header removed", l)
	}
	if !ok {
		return m.noHeader(raw[start:])
	}
	if len(junk) > 0 {
		m.repair("junk-before-header", "%d line(s) before the header skipped: %q", len(junk), junk)
	}
	return raw[start:]
}

func (m *mapping) noHeader(body []byte) []byte {
	m.repair("no-header", "the message has no header: all of it is read as the text body")
	return append([]byte("\r\n"), body...)
}

// parse reads msg into m.env, falling back to plainer readings of it when
// the MIME structure cannot be parsed. It fails only when m.ctx ends.
func (m *mapping) parse(msg []byte) ([]byte, error) {
	env, err := readEnvelope(m.ctx, msg)
	if err == nil && !hasKnownField(env) && len(env.Root.Header) > 0 {
		// "Re: your order" and then text is a pasted body, not a header.
		msg = m.noHeader(msg)
		env, err = readEnvelope(m.ctx, msg)
	}
	if ctxErr := m.ctx.Err(); ctxErr != nil {
		return nil, ctxErr
	}
	if err != nil {
		m.incomplete = true
		m.repair("unreadable-structure", "the MIME structure could not be read (%v): the header is kept and the body read as plain text", err)
		// Without its Content-Type the body is one text part.
		end := headerEnd(msg)
		var b bytes.Buffer
		for i := 0; i < end; {
			line, next := lineAt(msg, i)
			if !bytes.HasPrefix(bytes.ToLower(line), []byte("content-type")) {
				b.Write(msg[i:next])
			} else {
				for next < end && (msg[next] == ' ' || msg[next] == '\t') {
					_, next = lineAt(msg, next) // its continuation lines
				}
			}
			i = next
		}
		if end == len(msg) || b.Len() == 0 {
			b.WriteString("\r\n")
		}
		b.Write(msg[end:])
		msg = b.Bytes()
		if env, err = readEnvelope(m.ctx, msg); err != nil {
			msg = append([]byte("\r\n"), msg...)
			env, err = readEnvelope(m.ctx, msg)
		}
		if ctxErr := m.ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		if err != nil {
			env = &enmime.Envelope{Root: &enmime.Part{}, Text: string(msg)}
		}
	}
	m.env = env
	for _, e := range env.Errors {
		m.warn("%s", e.Error())
		if code := repairCode(e); code != "" {
			m.repairs = append(m.repairs, code)
		}
		if e.Severe && (e.Name == enmime.ErrorMalformedChildPart || e.Name == enmime.ErrorMalformedBase64) {
			if !m.incomplete {
				m.repairs = append(m.repairs, "part-lost")
			}
			m.incomplete = true
		}
	}
	return msg, nil
}

// repairCode names the repairs our copy of enmime makes (its warnings say
// what they are in words); "" for any other parser warning.
func repairCode(e *enmime.Error) string {
	switch {
	case e.Name == enmime.ErrorMissingBoundary && strings.Contains(e.Detail, "without a boundary parameter"):
		return "multipart-without-boundary"
	case e.Name == enmime.ErrorMalformedChildPart && strings.HasPrefix(e.Detail, "empty part"):
		return "empty-part-dropped"
	case e.Name == enmime.ErrorMalformedBase64 && strings.HasPrefix(e.Detail, "base64 data is truncated"):
		return "truncated-base64"
	}
	return ""
}

// original is the message as received, attached when some of it may be
// missing from the payload.
func (m *mapping) original(raw []byte, atts []api.Attachment) []api.Attachment {
	seen := newNames()
	for _, a := range atts {
		seen.taken[strings.ToLower(a.Name)] = true
	}
	return append(atts, api.Attachment{
		Name:        seen.unique(originalName),
		ContentType: "message/rfc822",
		Content:     raw,
	})
}

// cutOff warns of the last part of a multipart whose closing delimiter is
// missing: the message may have been cut off inside it (a size limit).
func (m *mapping) cutOff(p *enmime.Part, name string) {
	if p.NextSibling != nil || p.Parent == nil {
		return
	}
	unclosed := false
	for _, e := range p.Parent.Errors {
		switch repairCode(e) {
		case "empty-part-dropped":
			return // a delimiter line followed p: p was read to its end
		}
		unclosed = unclosed || e.Name == enmime.ErrorMissingBoundary && strings.Contains(e.Detail, "not closed")
	}
	if unclosed {
		m.warn("attachment %q ends the message, which lacks its closing boundary: it may be cut off (%d bytes kept)", name, len(p.Content))
	}
}
