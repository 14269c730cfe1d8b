package mapper

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/textproto"
	"strings"
	"sync"

	"github.com/enneo/mailbridge/internal/enmime"
)

// Header holds the few facts the pipeline needs before a full parse: enough
// to deduplicate and list a message, read from the header block alone so
// that ingest stays fast however large the body is.
type Header struct {
	// MessageID is the first Message-ID without angle brackets ("" if none).
	MessageID  string
	InReplyTo  []string
	References []string
	Subject    string // RFC 2047 decoded
	From       string // as written, RFC 2047 decoded
	// identity holds the header fields a stable hash covers, unfolded;
	// read only for a mail without a Message-ID.
	identity string
}

// ParseHeader reads the header block of raw, past an mbox "From " line or
// junk before it (see headerStart). It never fails: a header it cannot read
// yields the facts found before the damage.
func ParseHeader(raw []byte) Header {
	start, _, _, ok := headerStart(raw)
	if !ok {
		return Header{}
	}
	raw = raw[start:]
	h := readHeader(raw)
	if h == nil {
		return Header{}
	}
	hd := Header{
		MessageID:  firstMsgID(h.Get("Message-Id")),
		InReplyTo:  msgIDs(h.Get("In-Reply-To")),
		References: msgIDs(h.Get("References")),
		Subject:    strings.TrimSpace(enmime.DecodeRFC2047(rawHeaderText(h.Get("Subject")))),
		From:       strings.TrimSpace(enmime.DecodeRFC2047(rawHeaderText(h.Get("From")))),
	}
	if hd.MessageID == "" {
		// Only a mail without a Message-ID is known by its hash.
		hd.identity = identity(h)
	}
	return hd
}

// identity is what of h the stable hash covers: identityHeaders, each
// with its whitespace collapsed.
func identity(h textproto.MIMEHeader) string {
	var id strings.Builder
	for _, k := range identityHeaders {
		id.WriteString(k)
		id.WriteByte(':')
		sep := ""
		for f := range strings.FieldsSeq(h.Get(k)) {
			id.WriteString(sep)
			id.WriteString(f)
			sep = " "
		}
		id.WriteByte('\n')
	}
	return id.String()
}

// HeaderStart is the offset at which ParseHeader reads raw's header
// block: past an mbox "From " line, or junk before the header.
func HeaderStart(raw []byte) int {
	start, _, _, _ := headerStart(raw)
	return start
}

// rawHeaderText reads raw 8-bit or ISO-2022-JP header text on its own
// (Map guesses from the whole message instead).
func rawHeaderText(s string) string {
	if !enmime.NeedsRawDecoding(s) {
		return s
	}
	out, _ := (*enmime.RawHeaderDecoder)(nil).Decode(s)
	return out
}

// headerReader is the reader readHeader reads a header block through,
// pooled: ParseHeader and ReadSignals run for every message.
type headerReader struct {
	raw bytes.Reader
	br  bufio.Reader
}

var headerReaders = sync.Pool{New: func() any { return new(headerReader) }}

// readHeader reads the header block at the start of raw, nil if there is
// none. The header keeps nothing of the reader: enmime.ReadHeader copies
// what it keeps.
func readHeader(raw []byte) textproto.MIMEHeader {
	hr := headerReaders.Get().(*headerReader)
	hr.raw.Reset(raw)
	hr.br.Reset(&hr.raw)
	h, _ := enmime.ReadHeader(&hr.br, discard{})
	hr.raw.Reset(nil)
	hr.br.Reset(&hr.raw)
	headerReaders.Put(hr)
	return h
}

// discard is an enmime.ErrorCollector for header reads whose warnings the
// full parse reports anyway.
type discard struct{}

func (discard) AddError(string, string, ...any)   {}
func (discard) AddWarning(string, string, ...any) {}

// ExternalID is the dedup key and externalConversationId of a message: its
// Message-ID, or, for a message without one, a hash of what identifies the
// mail itself. The hash leaves out trace headers (Received, Return-Path,
// Delivered-To...) and line-ending differences, so the same mail reaching
// mailbridge by two routes, or once over SMTP and once over IMAP, gets the
// same id.
func ExternalID(raw []byte, h Header) string {
	if h.MessageID != "" {
		return h.MessageID
	}
	return hashID(raw, h)
}

// identityHeaders are the header fields a stable hash covers.
var identityHeaders = []string{"From", "To", "Cc", "Date", "Subject"}

func hashID(raw []byte, h Header) string {
	sum := sha256.New()
	if h.identity == "" {
		// A header that could not be read at all hashes as empty fields.
		for _, k := range identityHeaders {
			h.identity += k + ":\n"
		}
	}
	sum.Write([]byte(h.identity))
	body := raw[headerEnd(raw):]
	sum.Write(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")))
	return "mailbridge-sha256-" + hex.EncodeToString(sum.Sum(nil))[:40]
}

// headerEnd returns the offset of the body: after the first empty line.
func headerEnd(raw []byte) int {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			return len(raw)
		}
		line := raw[i : i+j]
		i += j + 1
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return i
		}
	}
	return len(raw)
}

// maxMsgID is the longest message id taken: a msg-id cannot be folded,
// and no line of a mail may be longer (RFC 5322 2.1.1). A longer one is
// no id of a conforming mailer, and as a key it would pass what a
// database index entry takes (PostgreSQL: 2704 bytes), refusing the mail
// for good; a mail whose Message-ID is overlong is known by its hash.
const maxMsgID = 998

func overlong(id string) bool { return len(id) > maxMsgID }

// msgIDs extracts the <...> message ids of a header, in order, but for
// overlong ones.
func msgIDs(v string) []string {
	var ids []string
	for {
		start := strings.IndexByte(v, '<')
		if start < 0 {
			break
		}
		end := strings.IndexByte(v[start:], '>')
		if end < 0 {
			break
		}
		if id := strings.TrimSpace(v[start+1 : start+end]); id != "" && !overlong(id) {
			ids = append(ids, id)
		}
		v = v[start+end+1:]
	}
	return ids
}

// firstMsgID returns the first message id of v. A Message-ID written
// without brackets (seen from broken mailers) is taken whole. An overlong
// value gives no word of it as the id: folded, an overlong id reads as
// words, and mails whose ids differ past the first would share a key.
func firstMsgID(v string) string {
	if ids := msgIDs(v); len(ids) > 0 {
		return ids[0]
	}
	if v = strings.TrimSpace(v); overlong(v) {
		return ""
	}
	if f := strings.Fields(v); len(f) > 0 {
		return f[0]
	}
	return ""
}
