package mapper

import (
	"strings"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/enmime"
)

// Mail whose real content is wrapped in something a ticket cannot show:
// Outlook's winmail.dat, S/MIME and PGP, calendar invitations. unwrap
// rewrites the parsed tree before the payload is built from it, so that the
// rest of the mapper sees ordinary bodies and attachments; what it cannot
// open it explains in a note put before the body. Each change is reported
// by a warning.

// unwrapDepth bounds the layers opened (a signed message inside a signed
// message...).
const unwrapDepth = 4

// unwrap opens the wrappings of m.env. Mail without any pays for one walk
// of its parts and one search of its text.
func (m *mapping) unwrap() {
	for range unwrapDepth {
		if !m.openSignedData() {
			break
		}
	}
	var tnefParts, signed, encrypted, calendars []*enmime.Part
	walkParts(m.env.Root, func(p *enmime.Part) {
		switch p.ContentType {
		case "application/ms-tnef", "application/vnd.ms-tnef":
			tnefParts = append(tnefParts, p)
		case "multipart/signed":
			signed = append(signed, p)
		case "multipart/encrypted", "application/pkcs7-mime", "application/x-pkcs7-mime":
			encrypted = append(encrypted, p)
		case "text/calendar", "application/ics":
			calendars = append(calendars, p)
		default:
			if p.FirstChild == nil && strings.EqualFold(p.FileName, "winmail.dat") {
				tnefParts = append(tnefParts, p)
			}
		}
	})
	for _, p := range tnefParts {
		if m.ctx.Err() != nil {
			return
		}
		m.openTNEF(p)
	}
	for _, p := range signed {
		m.nameSignature(p)
	}
	for _, p := range encrypted {
		m.noteEncrypted(p)
	}
	if strings.Contains(m.env.Text, pgpBegin) {
		m.openInlinePGP()
	}
	if len(calendars) > 0 {
		m.summariseCalendar(calendars)
	}
}

// walkParts calls f for p and every part below it, parents first.
func walkParts(p *enmime.Part, f func(*enmime.Part)) {
	for ; p != nil; p = p.NextSibling {
		f(p)
		walkParts(p.FirstChild, f)
	}
}

// replacePart puts parts where old was in the tree (none: old is removed).
// A root is replaced by a multipart/mixed of the parts.
func (m *mapping) replacePart(old *enmime.Part, parts []*enmime.Part) {
	parent := old.Parent
	if parent == nil {
		root := enmime.NewPart("multipart/mixed")
		for _, p := range parts {
			p.NextSibling = nil
			root.AddChild(p)
		}
		m.env.Root = root
		return
	}
	next := old.NextSibling
	for i, p := range parts {
		p.Parent = parent
		p.NextSibling = next
		if i > 0 {
			parts[i-1].NextSibling = p
		}
	}
	first := next
	if len(parts) > 0 {
		first = parts[0]
	}
	if parent.FirstChild == old {
		parent.FirstChild = first
		return
	}
	for c := parent.FirstChild; c != nil; c = c.NextSibling {
		if c.NextSibling == old {
			c.NextSibling = first
			return
		}
	}
}

// appendPart adds p after every other part of the message.
func (m *mapping) appendPart(p *enmime.Part) {
	root := m.env.Root
	if root == nil || !strings.HasPrefix(root.ContentType, "multipart/") {
		mixed := enmime.NewPart("multipart/mixed")
		if root != nil {
			root.NextSibling = nil
			mixed.AddChild(root)
		}
		m.env.Root = mixed
		root = mixed
	}
	root.AddChild(p)
}

// newPart is a leaf part made by the mapper.
func newPart(contentType, fileName, disposition string, content []byte) *enmime.Part {
	p := enmime.NewPart(contentType)
	p.FileName = fileName
	p.Disposition = disposition
	p.Content = content
	return p
}

// note puts text (a paragraph or a few lines) before the message's own
// text in every body. Notes are added after the bodies are cut and carry
// text of the mail (a file name, an invitation's title), so each is cut
// at maxNoteBytes and there are at most maxNotes.
func (m *mapping) note(text string) {
	switch {
	case len(m.notes) < maxNotes:
		if len(text) > maxNoteBytes {
			text = prefix(text, maxNoteBytes) + "…"
		}
		m.notes = append(m.notes, text)
	case len(m.notes) == maxNotes:
		m.notes = append(m.notes, "[mailbridge: further notes left out]")
	}
}

// setRaw records a fact for rawData.
func (m *mapping) setRaw(key string, v any) {
	if m.extra == nil {
		m.extra = map[string]any{}
	}
	m.extra[key] = v
}

// applyNotes writes the notes before the bodies: escaped in the HTML (after
// <body> where the HTML has one), as they are in the texts.
func (m *mapping) applyNotes(c *api.Conversation) {
	if len(m.notes) == 0 {
		return
	}
	plain := strings.Join(m.notes, "\n\n")
	html := "<p>" + strings.ReplaceAll(lfToHTML(plain), "<br>\n<br>\n", "</p>\n<p>") + "</p>\n"
	if i := indexFold(c.Body, "<body"); i >= 0 {
		if j := strings.IndexByte(c.Body[i:], '>'); j >= 0 {
			k := i + j + 1
			c.Body = c.Body[:k] + html + c.Body[k:]
		} else {
			c.Body = html + c.Body
		}
	} else {
		c.Body = html + c.Body
	}
	c.BodyPlain = joinNonEmpty(plain, c.BodyPlain)
	c.BodyClean = joinNonEmpty(plain, c.BodyClean)
}

func joinNonEmpty(a, b string) string {
	if b == "" {
		return a
	}
	return a + "\n\n" + b
}
