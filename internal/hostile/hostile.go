// Package hostile builds crafted mail that aims at a MIME parser's memory
// and time: each is small on the wire and costly to a naive parser. The
// mapper's bounds are tested and measured against them.
package hostile

import (
	"bytes"
	"fmt"
	"strings"
)

// Mail is one crafted message.
type Mail struct {
	Name string
	// What the mail attacks, for test output.
	What string
	Raw  []byte
}

const header = "From: Mallory <mallory@example.net>\r\n" +
	"To: support@example.com\r\n" +
	"Subject: hostile %s\r\n" +
	"Date: Mon, 3 Mar 2025 09:15:00 +0100\r\n" +
	"Message-ID: <hostile-%s@example.net>\r\n" +
	"MIME-Version: 1.0\r\n"

func head(name string) *bytes.Buffer {
	var b bytes.Buffer
	fmt.Fprintf(&b, header, name, name)
	return &b
}

// CIDBomb is an HTML part that references one image refs times, next to
// that image of imgBytes: inlining the image at every reference multiplies
// it.
func CIDBomb(refs, imgBytes int) Mail {
	name := fmt.Sprintf("cid-bomb-%d", refs)
	b := head(name)
	b.WriteString("Content-Type: multipart/related; boundary=\"rel\"\r\n\r\n--rel\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n\r\n<html><body>\r\n")
	for range refs {
		b.WriteString("<img src=\"cid:a\">\r\n")
	}
	b.WriteString("</body></html>\r\n--rel\r\nContent-Type: image/png\r\nContent-ID: <a>\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	line := strings.Repeat("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH", 1)
	for n := 0; n < imgBytes*4/3; n += len(line) {
		b.WriteString(line + "\r\n")
	}
	b.WriteString("--rel--\r\n")
	return Mail{name, fmt.Sprintf("%d cid: references to one %d KB image", refs, imgBytes>>10), b.Bytes()}
}

// Nested is a multipart nested depth levels deep, the innermost part a
// line of text.
func Nested(depth int) Mail {
	name := fmt.Sprintf("nested-%d", depth)
	b := head(name)
	b.WriteString("Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n")
	for i := 1; i < depth; i++ {
		fmt.Fprintf(b, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i-1, i)
	}
	fmt.Fprintf(b, "--b%d\r\nContent-Type: text/plain\r\n\r\ninnermost text\r\n", depth-1)
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(b, "--b%d--\r\n", i)
	}
	return Mail{name, fmt.Sprintf("multipart nested %d levels deep", depth), b.Bytes()}
}

// Wide is a multipart with parts empty parts side by side.
func Wide(parts int) Mail {
	name := fmt.Sprintf("wide-%d", parts)
	b := head(name)
	b.WriteString("Content-Type: multipart/mixed; boundary=\"w\"\r\n\r\n")
	for range parts {
		b.WriteString("--w\r\n\r\nx\r\n")
	}
	b.WriteString("--w--\r\n")
	return Mail{name, fmt.Sprintf("%d parts side by side", parts), b.Bytes()}
}

// Repeated is a text/plain body of n bytes made of unit repeated, each
// line lineLen bytes long (0: one line).
func Repeated(label, unit string, n, lineLen int) Mail {
	name := fmt.Sprintf("repeated-%s-%d", label, n)
	b := head(name)
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
	b.Grow(n + n/max(lineLen, 1)*2)
	written, line := 0, 0
	for written < n {
		b.WriteString(unit)
		written += len(unit)
		line += len(unit)
		if lineLen > 0 && line >= lineLen {
			b.WriteString("\r\n")
			line = 0
		}
	}
	b.WriteString("\r\n")
	return Mail{name, fmt.Sprintf("%d bytes of %q in text/plain", n, unit), b.Bytes()}
}

// HTMLText is an HTML-only body of n bytes of short paragraphs: the text
// part is made from it.
func HTMLText(n int) Mail {
	name := fmt.Sprintf("html-text-%d", n)
	b := head(name)
	b.WriteString("Content-Type: text/html; charset=utf-8\r\n\r\n<html><body>\r\n")
	b.Grow(n)
	for written := 0; written < n; written += 13 {
		b.WriteString("<p>x &amp; y\r\n")
	}
	b.WriteString("</body></html>\r\n")
	return Mail{name, fmt.Sprintf("%d bytes of HTML paragraphs, no text part", n), b.Bytes()}
}

// Attachment is a short text with one base64 attachment of n bytes: not
// crafted, the large mail every help desk gets.
func Attachment(n int) Mail {
	name := fmt.Sprintf("attachment-%d", n)
	b := head(name)
	b.WriteString("Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nPlease find the scan attached.\r\n--m\r\n" +
		"Content-Type: application/pdf; name=\"scan.pdf\"\r\nContent-Disposition: attachment; filename=\"scan.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	b.Grow(n*4/3 + n/57*2)
	line := strings.Repeat("JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29k", 1)
	for written := 0; written < n; written += 57 {
		b.WriteString(line + "\r\n")
	}
	b.WriteString("--m--\r\n")
	return Mail{name, fmt.Sprintf("a %d MB attachment", n>>20), b.Bytes()}
}

// HTMLDeep is an HTML body of depth unclosed nested elements.
func HTMLDeep(depth int) Mail {
	name := fmt.Sprintf("html-deep-%d", depth)
	b := head(name)
	b.WriteString("Content-Type: text/html; charset=utf-8\r\n\r\n<html><body>")
	for range depth {
		b.WriteString("<div><b>")
	}
	b.WriteString("text\r\n")
	return Mail{name, fmt.Sprintf("HTML of %d unclosed nested elements", depth), b.Bytes()}
}

// ManyHeaders is a message with n header fields.
func ManyHeaders(n int) Mail {
	name := fmt.Sprintf("headers-%d", n)
	b := head(name)
	for i := range n {
		fmt.Fprintf(b, "X-Filler-%d: %s\r\n", i%50, strings.Repeat("v", 20))
	}
	b.WriteString("Content-Type: text/plain\r\n\r\nbody\r\n")
	return Mail{name, fmt.Sprintf("%d header fields", n), b.Bytes()}
}

// ManyRecipients is a message whose To lists n addresses.
func ManyRecipients(n int) Mail {
	name := fmt.Sprintf("recipients-%d", n)
	b := bytes.NewBuffer(bytes.Replace(head(name).Bytes(), []byte("To: support@example.com\r\n"), nil, 1))
	b.WriteString("To: ")
	for i := range n {
		if i > 0 {
			b.WriteString(",\r\n ")
		}
		fmt.Fprintf(b, "=?utf-8?B?TcO8bGxlciwgQmVybmQ=?= <r%d@example.com>", i)
	}
	b.WriteString("\r\nContent-Type: text/plain\r\n\r\nbody\r\n")
	return Mail{name, fmt.Sprintf("%d recipients in To", n), b.Bytes()}
}

// All is the set the bounds are tested on: the cid bomb, deep nesting and a wide multipart, and
// variants aimed at the other stages of a mapping.
func All() []Mail {
	return []Mail{
		CIDBomb(1000, 250<<10),
		CIDBomb(4000, 250<<10),
		Nested(10000),
		Nested(20000),
		Wide(100000),
		Repeated("lt", "<", 24<<20, 0),
		Repeated("amp-lines", "&", 1<<20, 76),
		Repeated("quote", `"`, 1<<20, 0),
		Repeated("newlines", "a\r\n", 1<<20, 0),
		Repeated("control", "\x01", 1<<20, 0),
		Repeated("lt-small", "<", 300<<10, 0),
		HTMLDeep(100000),
		HTMLText(16 << 20),
		Attachment(30 << 20),
		ManyHeaders(1000000),
		ManyRecipients(100000),
		LongHeaderLine(14 << 20),
		BERBomb(2000000),
		TNEFNames(40, 500),
		TNEFMany(999, 511),
		TNEFRTF(1 << 20),
		Encrypted(900, 20000),
		Calendar(20 << 20),
	}
}
