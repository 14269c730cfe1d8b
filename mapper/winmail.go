package mapper

import (
	"fmt"
	"path"
	"strings"

	"github.com/enneo/mailbridge/internal/enmime"
	"github.com/enneo/mailbridge/internal/tnef"
)

// openTNEF replaces winmail.dat by what it carries: its attachments, and
// its body where the message has none of that kind (Outlook sends the text
// outside and the formatted body inside). winmail.dat itself is useless to
// an agent, so it is kept only when something in it could not be unpacked.
func (m *mapping) openTNEF(p *enmime.Part) {
	name := orName(p.FileName, "winmail.dat")
	if m.tnefFiles >= maxTNEFFiles {
		m.warn("%s not unpacked: %d files were unpacked from this message already; kept as an attachment", name, maxTNEFFiles)
		return
	}
	msg, err := tnef.Decode(p.Content)
	if err != nil {
		m.warn("%s could not be unpacked (%v): kept as an attachment", name, err)
		return
	}
	for _, problem := range msg.Problems {
		m.warn("%s: %s", name, problem)
	}
	var parts []*enmime.Part
	var what []string
	if msg.HTML != "" && !m.hasBody("text/html") {
		parts = append(parts, newPart("text/html", "", "", []byte(msg.HTML)))
		if m.env.HTML == "" {
			m.env.HTML = msg.HTML
		}
		if strings.TrimSpace(m.env.Text) == "" {
			m.env.Text = "" // made from the HTML, within the body bound (textFromHTML)
		}
		what = append(what, "the HTML body")
	} else if text := msg.Text(); strings.TrimSpace(text) != "" && !m.hasBody("text/plain") && !m.hasBody("text/html") {
		parts = append(parts, newPart("text/plain", "", "", []byte(text)))
		m.env.Text = text
		what = append(what, "the text body")
	}
	files, skipped := 0, 0
	for _, a := range msg.Attachments {
		if a.Data == nil || m.tnefFiles >= maxTNEFFiles {
			skipped++
			continue
		}
		m.tnefFiles++
		disp := "attachment"
		if a.ContentID != "" || a.Hidden {
			disp = "inline"
		}
		fp := newPart(tnefType(a), a.Name(), disp, a.Data)
		fp.ContentID = strings.Trim(a.ContentID, "<>")
		parts = append(parts, fp)
		files++
	}
	if files > 0 {
		what = append([]string{plural(files, "attachment")}, what...)
	}
	switch {
	case len(parts) == 0 && skipped == 0:
		m.warn("%s holds no attachment and no body: kept as it is", name)
		return
	case skipped > 0:
		parts = append(parts, p)
		m.warn("%s unpacked: %s; %s (embedded messages, OLE objects, or beyond %d files in all) could not be unpacked, so %s is kept as well",
			name, strings.Join(what, " and "), plural(skipped, "attachment"), maxTNEFFiles, name)
	default:
		m.warn("%s unpacked: %s", name, strings.Join(what, " and "))
	}
	m.replacePart(p, parts)
}

// hasBody reports whether the message has a body part of the type.
func (m *mapping) hasBody(contentType string) bool {
	found := false
	walkParts(m.env.Root, func(p *enmime.Part) {
		found = found || (p.ContentType == contentType && isBodyPart(p))
	})
	return found
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// typesByExt are the content types of the attachments Outlook puts in
// winmail.dat without PR_ATTACH_MIME_TAG. A fixed table, since the
// system's (mime.TypeByExtension) varies between hosts.
var typesByExt = map[string]string{
	".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
	".gif": "image/gif", ".bmp": "image/bmp", ".txt": "text/plain", ".htm": "text/html", ".html": "text/html",
	".csv": "text/csv", ".ics": "text/calendar", ".eml": "message/rfc822", ".zip": "application/zip",
	".doc": "application/msword", ".xls": "application/vnd.ms-excel", ".ppt": "application/vnd.ms-powerpoint",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}

func tnefType(a *tnef.Attachment) string {
	if t := strings.ToLower(strings.TrimSpace(a.MimeType)); strings.Contains(t, "/") {
		return t
	}
	if t, ok := typesByExt[strings.ToLower(path.Ext(a.Name()))]; ok {
		return t
	}
	return "application/octet-stream"
}
