package mapper

import (
	"encoding/base64"
	"fmt"
	"mime"
	"net/url"
	"path"
	"sort"
	"strings"
	"unicode"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/enmime"
)

// inlineImage is a part referenced (or referable) by cid: from the HTML.
type inlineImage struct {
	name        string
	contentType string
	content     []byte
	embeddable  bool // small enough to be rewritten to a data: URI
	embedded    bool // rewritten to a data: URI in the body
}

// attachments returns every non-body part of the message in document order
// (attachments, inline parts, forwarded messages, calendar invites...) and
// the parts that carry a Content-ID, by that id.
func (m *mapping) attachments() ([]api.Attachment, map[string]inlineImage) {
	var out []api.Attachment
	inline := map[string]inlineImage{}
	seen := newNames()
	_ = m.env.Root.DepthMatchAll(func(p *enmime.Part) bool {
		if p.FirstChild != nil || strings.HasPrefix(p.ContentType, "multipart/") || isBodyPart(p) {
			return false
		}
		a := api.Attachment{
			Name:        seen.unique(m.partName(p, len(out)+1)),
			ContentType: p.ContentType,
			ContentID:   p.ContentID,
			Inline:      p.Disposition == "inline" || p.ContentID != "",
			Content:     p.Content,
		}
		if a.Content == nil {
			a.Content = []byte{}
		}
		m.cutOff(p, a.Name)
		out = append(out, a)
		if p.ContentID != "" {
			inline[p.ContentID] = inlineImage{name: a.Name, contentType: p.ContentType, content: p.Content}
		}
		return false
	})
	for id, img := range inline {
		img.embeddable = strings.HasPrefix(img.contentType, "image/") && m.env.HTML != "" &&
			m.opts.InlineImageMaxBytes > 0 && len(img.content) <= m.opts.InlineImageMaxBytes
		inline[id] = img
	}
	return out, inline
}

// isBodyPart reports whether p is message text rather than an attachment:
// a text or HTML part that is not marked as an attachment and has no file
// name. Apple Mail sends attached files as "inline; filename=...", so a
// name makes a file, whatever the disposition.
func isBodyPart(p *enmime.Part) bool {
	return (p.ContentType == "text/plain" || p.ContentType == "text/html") &&
		p.Disposition != "attachment" && p.FileName == ""
}

// partName is the file name a part is stored under: its own (decoded by
// enmime from RFC 2047/2231), or one made from the content type.
func (m *mapping) partName(p *enmime.Part, n int) string {
	name := cleanName(m.rawText("part "+p.PartID+" file name", p.FileName))
	if name == "" {
		name = cleanName(rfc2231Name(p.Header.Get("Content-Disposition"), p.Header.Get("Content-Type")))
	}
	if p.ContentType == "message/rfc822" {
		if name == "" {
			name = cleanName(ParseHeader(p.Content).Subject)
		}
		if name == "" {
			name = "forwarded-message"
		}
		if !strings.HasSuffix(strings.ToLower(name), ".eml") {
			name += ".eml"
		}
		return name
	}
	if name != "" {
		return name
	}
	name = fmt.Sprintf("attachment-%d%s", n, extension(p.ContentType))
	ct := p.ContentType
	if ct == "" {
		ct = "no content type"
	}
	m.warn("part %s (%s) has no file name: stored as %s", p.PartID, ct, name)
	return name
}

// cleanName keeps the last path element of a file name and drops control
// characters, so a name can neither climb directories nor break a header.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	if s == "." || s == ".." {
		return ""
	}
	if len(s) > maxNameBytes {
		// Keep the extension, which says what the file is.
		ext := path.Ext(s)
		if len(ext) > 16 {
			ext = ""
		}
		s = prefix(s[:len(s)-len(ext)], maxNameBytes-len(ext)) + ext
	}
	return s
}

// preferredExt overrides mime.ExtensionsByType, whose first answer for
// common types is an unusual one (.jfif for image/jpeg).
var preferredExt = map[string]string{
	"":                         ".txt", // a part without headers is text/plain (RFC 2046)
	"image/jpeg":               ".jpg",
	"image/png":                ".png",
	"image/gif":                ".gif",
	"application/pdf":          ".pdf",
	"text/plain":               ".txt",
	"text/html":                ".html",
	"text/calendar":            ".ics",
	"application/ms-tnef":      ".dat",
	"message/delivery-status":  ".txt",
	"application/octet-stream": ".bin",
}

func extension(contentType string) string {
	if ext, ok := preferredExt[contentType]; ok {
		return ext
	}
	if exts, _ := mime.ExtensionsByType(contentType); len(exts) > 0 {
		return exts[0]
	}
	return ".bin"
}

// names are the attachment names of a message so far, by lower case,
// and for each name the next number to try for a copy of it.
type names struct {
	taken map[string]bool
	next  map[string]int
}

func newNames() *names { return &names{taken: map[string]bool{}, next: map[string]int{}} }

// unique renames the second "a.pdf" of a message to "a (2).pdf", since a
// ticket shows attachments by name and one would hide the other. The
// number to try next is kept per name: a crafted mail that names its
// files "a (2)" to "a (N)" and then "a" again and again would otherwise
// cost a scan of all of them for each.
func (n *names) unique(name string) string {
	key := strings.ToLower(name)
	if !n.taken[key] {
		n.taken[key] = true
		return name
	}
	ext := path.Ext(name)
	for i := max(n.next[key], 2); ; i++ {
		cand := fmt.Sprintf("%s (%d)%s", strings.TrimSuffix(name, ext), i, ext)
		if c := strings.ToLower(cand); !n.taken[c] {
			n.taken[c] = true
			n.next[key] = i + 1
			return cand
		}
	}
}

// rewriteCIDs replaces cid: references to small inline images by data:
// URIs, so the image shows wherever the body is rendered, with or without
// access to the attachments. Each image is embedded once, at its first
// reference, and only while the embedded data fits in budget bytes: a
// crafted mail references one image thousands of times. Other references
// stay cid:, resolved through the attachments under the names
// rawData.inlineImages gives; it reports which images were embedded.
func rewriteCIDs(body string, inline map[string]inlineImage, budget int) string {
	if len(inline) == 0 {
		return body
	}
	for id, img := range inline {
		img.embedded = false
		inline[id] = img
	}
	var b strings.Builder
	for {
		i := indexFold(body, "cid:")
		if i < 0 {
			b.WriteString(body)
			return b.String()
		}
		end := i + 4
		for end < len(body) && !strings.ContainsRune(`"'()<> `+"\t\r\n", rune(body[end])) {
			end++
		}
		id := body[i+4 : end]
		img, ok := inline[id]
		if !ok {
			if u, err := url.PathUnescape(id); err == nil {
				id = u
				img, ok = inline[u]
			}
		}
		b.WriteString(body[:i])
		prefix := "data:" + img.contentType + ";base64,"
		size := len(prefix) + base64.StdEncoding.EncodedLen(len(img.content))
		if ok && img.embeddable && !img.embedded && size <= budget {
			b.WriteString(prefix)
			b.WriteString(base64.StdEncoding.EncodeToString(img.content))
			budget -= size
			img.embedded = true
			inline[id] = img
		} else {
			b.WriteString(body[i:end])
		}
		body = body[end:]
	}
}

func indexFold(s, substr string) int {
	for i := 0; i+len(substr) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(substr)], substr) {
			return i
		}
	}
	return -1
}

type inlineEntry struct {
	ContentID string `json:"contentId"`
	Name      string `json:"name"`
	Embedded  bool   `json:"embedded"`
}

// inlineReport tells agents and integrations which attachment a cid: in the
// body refers to, and whether it was embedded.
func inlineReport(inline map[string]inlineImage) []inlineEntry {
	out := make([]inlineEntry, 0, len(inline))
	for id, img := range inline {
		out = append(out, inlineEntry{ContentID: id, Name: img.name, Embedded: img.embedded})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ContentID < out[j].ContentID })
	return out
}
