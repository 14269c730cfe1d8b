// Package tnef reads the attachments and the body of a TNEF stream
// (application/ms-tnef, the winmail.dat of Outlook and Exchange), following
// the layout published in [MS-OXTNEF], with the compressed RTF body of
// [MS-OXRTFCP] and the HTML encapsulated in RTF of [MS-OXRTFEX].
//
// The stream comes from the sender, so every length is checked against the
// data that remains, the number of attachments and properties is capped,
// attachment contents are slices of the input rather than copies, and a
// damaged stream is an error, never a panic.
package tnef

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// Signature is the first four bytes of every TNEF stream, little-endian.
const Signature = 0x223E9F78

// Limits of a stream. A TNEF stream is an attachment of a mail; these are far
// above what Outlook writes and keep a crafted one from costing much.
const (
	MaxAttachments = 512
	maxProps       = 1 << 16
	maxValues      = 1 << 16
)

// Attribute levels.
const (
	levelMessage    = 0x01
	levelAttachment = 0x02
)

// Attribute ids (the low 16 bits of the attribute; the high 16 bits are its
// type, which is not needed to read these).
const (
	attSubject        = 0x8004
	attMessageClass   = 0x8008
	attBody           = 0x800C
	attAttachData     = 0x800F
	attAttachTitle    = 0x8010
	attAttachRendData = 0x9002
	attMAPIProps      = 0x9003
	attAttachment     = 0x9005
	attOemCodepage    = 0x9007
)

// MAPI property ids.
const (
	prBody              = 0x1000
	prRTFCompressed     = 0x1009
	prBodyHTML          = 0x1013
	prInternetCPID      = 0x3FDE
	prDisplayName       = 0x3001
	prAttachDataBin     = 0x3701
	prAttachFilename    = 0x3704
	prAttachMethod      = 0x3705
	prAttachLongName    = 0x3707
	prAttachMimeTag     = 0x370E
	prAttachContentID   = 0x3712
	prAttachmentHidden  = 0x7FFE
	attachByValue       = 1
	attachEmbeddedMsg   = 5
	attachOLE           = 6
	ptMultiValued       = 0x1000
	ptShort, ptLong     = 0x0002, 0x0003
	ptBoolean           = 0x000B
	ptString8, ptUTF16  = 0x001E, 0x001F
	ptBinary, ptObject  = 0x0102, 0x000D
	namedPropertyIDBase = 0x8000
)

// ErrNotTNEF is returned for data that does not start with the signature.
var ErrNotTNEF = errors.New("tnef: not a TNEF stream")

// Message is what a TNEF stream holds that a mail reader shows.
type Message struct {
	MessageClass string
	Subject      string
	// Body is the plain text body (attBody or PR_BODY).
	Body string
	// HTML is the HTML body: PR_BODY_HTML, or the HTML encapsulated in the
	// compressed RTF body.
	HTML string
	// RTF is the decompressed RTF body, if the stream has one.
	RTF         []byte
	Attachments []*Attachment
	// Problems are damage the decoder went past (bad checksums, an RTF body
	// it could not decompress...), for the caller to report.
	Problems []string

	codePage     int // attOemCodepage: the code page of 8-bit strings
	htmlCodePage int // PR_INTERNET_CPID: the code page of PR_BODY_HTML
	htmlBytes    []byte
}

// Attachment is one attachment of a TNEF stream.
type Attachment struct {
	Title       string // attAttachTitle: the 8.3 name
	LongName    string // PR_ATTACH_LONG_FILENAME
	DisplayName string // PR_DISPLAY_NAME
	MimeType    string // PR_ATTACH_MIME_TAG
	ContentID   string // PR_ATTACH_CONTENT_ID
	Method      int    // PR_ATTACH_METHOD (1: by value, 5: embedded message, 6: OLE)
	Hidden      bool   // PR_ATTACHMENT_HIDDEN: an inline image of the body
	// Data is the content, a slice of the decoded stream. It is nil for an
	// embedded message or an OLE object, which this package does not unpack.
	Data []byte
}

// Name is the best file name the attachment has.
func (a *Attachment) Name() string {
	for _, n := range []string{a.LongName, a.Title, a.DisplayName} {
		if n = strings.TrimSpace(n); n != "" {
			return n
		}
	}
	return ""
}

// Decode reads a TNEF stream.
func Decode(data []byte) (*Message, error) {
	if len(data) < 6 || binary.LittleEndian.Uint32(data) != Signature {
		return nil, ErrNotTNEF
	}
	r := reader{b: data[6:]} // signature, legacy key
	m := &Message{codePage: 1252}
	var att *Attachment
	for r.len() > 0 {
		level, err := r.byte()
		if err != nil {
			return nil, err
		}
		id, err := r.uint32()
		if err != nil {
			return nil, err
		}
		n, err := r.uint32()
		if err != nil {
			return nil, err
		}
		val, err := r.bytes(n, "attribute")
		if err != nil {
			return nil, err
		}
		sum, err := r.uint16()
		if err != nil {
			return nil, err
		}
		if checksum(val) != sum {
			m.problem("attribute %#08x: checksum mismatch", id)
		}
		switch level {
		case levelMessage:
			if err := m.messageAttr(id&0xFFFF, val); err != nil {
				return nil, err
			}
		case levelAttachment:
			if id&0xFFFF == attAttachRendData {
				if len(m.Attachments) >= MaxAttachments {
					return nil, fmt.Errorf("tnef: more than %d attachments", MaxAttachments)
				}
				att = &Attachment{Method: attachByValue}
				m.Attachments = append(m.Attachments, att)
				continue
			}
			if att == nil {
				return nil, errors.New("tnef: attachment attribute before attAttachRendData")
			}
			if err := m.attachmentAttr(att, id&0xFFFF, val); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("tnef: unknown attribute level %d", level)
		}
	}
	m.finish()
	return m, nil
}

func (m *Message) problem(format string, args ...any) {
	if len(m.Problems) < 10 {
		m.Problems = append(m.Problems, fmt.Sprintf(format, args...))
	}
}

func checksum(b []byte) uint16 {
	var s uint16
	for _, c := range b {
		s += uint16(c)
	}
	return s
}

func (m *Message) messageAttr(id uint32, val []byte) error {
	switch id {
	case attOemCodepage:
		if len(val) >= 4 {
			m.codePage = int(binary.LittleEndian.Uint32(val))
		}
	case attMessageClass:
		m.MessageClass = m.string8(val)
	case attSubject:
		m.Subject = m.string8(val)
	case attBody:
		m.Body = m.string8(val)
	case attMAPIProps:
		return readProps(val, func(p prop) {
			switch p.id {
			case prBody:
				if s := m.propString(p); s != "" {
					m.Body = s
				}
			case prBodyHTML:
				if p.typ == ptUTF16 {
					m.HTML = m.propString(p)
				} else {
					m.htmlBytes = p.value
				}
			case prRTFCompressed:
				rtf, err := DecompressRTF(p.value)
				if err != nil {
					m.problem("RTF body: %v", err)
					return
				}
				m.RTF = rtf
			case prInternetCPID:
				m.htmlCodePage = p.int()
			}
		})
	}
	return nil
}

func (m *Message) attachmentAttr(a *Attachment, id uint32, val []byte) error {
	switch id {
	case attAttachTitle:
		a.Title = m.string8(val)
	case attAttachData:
		a.Data = val
	case attAttachment:
		return readProps(val, func(p prop) {
			switch p.id {
			case prAttachLongName:
				a.LongName = m.propString(p)
			case prAttachFilename:
				if a.Title == "" {
					a.Title = m.propString(p)
				}
			case prDisplayName:
				a.DisplayName = m.propString(p)
			case prAttachMimeTag:
				a.MimeType = m.propString(p)
			case prAttachContentID:
				a.ContentID = m.propString(p)
			case prAttachMethod:
				a.Method = p.int()
			case prAttachmentHidden:
				a.Hidden = p.int() != 0
			case prAttachDataBin:
				if p.typ == ptBinary && a.Data == nil {
					a.Data = p.value
				}
			}
		})
	}
	return nil
}

// finish settles the HTML body once every attribute is read, since the code
// page of PR_BODY_HTML may come after it.
func (m *Message) finish() {
	if m.HTML == "" && m.htmlBytes != nil {
		cp := m.htmlCodePage
		if cp == 0 {
			cp = m.codePage
		}
		m.HTML = decodeCodePage(trimNUL(m.htmlBytes), cp)
	}
	if m.HTML == "" && m.RTF != nil {
		if html, ok := HTMLFromRTF(m.RTF); ok {
			m.HTML = html
		}
	}
	for _, a := range m.Attachments {
		if a.Method == attachEmbeddedMsg || a.Method == attachOLE {
			a.Data = nil
		}
	}
}

// Text is the plain text body: Body, or else the text of the RTF body when
// that is not encapsulated HTML.
func (m *Message) Text() string {
	if strings.TrimSpace(m.Body) != "" || m.RTF == nil {
		return m.Body
	}
	if _, ok := HTMLFromRTF(m.RTF); ok {
		return ""
	}
	return TextFromRTF(m.RTF)
}

// string8 decodes an 8-bit string of the stream's code page.
func (m *Message) string8(b []byte) string {
	return decodeCodePage(trimNUL(b), m.codePage)
}

func (m *Message) propString(p prop) string {
	switch p.typ {
	case ptUTF16:
		return utf16String(p.value)
	case ptString8, ptBinary:
		return m.string8(p.value)
	}
	return ""
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

func utf16String(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	for len(u) > 0 && u[len(u)-1] == 0 {
		u = u[:len(u)-1]
	}
	return string(utf16.Decode(u))
}

// codePages are the single-byte Windows code pages Outlook writes; others
// are read as UTF-8 when valid, else as Windows-1252.
var codePages = map[int]*charmap.Charmap{
	437: charmap.CodePage437, 850: charmap.CodePage850, 874: charmap.Windows874,
	1250: charmap.Windows1250, 1251: charmap.Windows1251, 1252: charmap.Windows1252,
	1253: charmap.Windows1253, 1254: charmap.Windows1254, 1255: charmap.Windows1255,
	1256: charmap.Windows1256, 1257: charmap.Windows1257, 1258: charmap.Windows1258,
	28591: charmap.ISO8859_1, 28592: charmap.ISO8859_2, 28605: charmap.ISO8859_15,
}

func decodeCodePage(b []byte, cp int) string {
	if cp == 65001 || cp == 20127 || utf8.Valid(b) {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	cm := codePages[cp]
	if cm == nil {
		cm = charmap.Windows1252
	}
	s, err := cm.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(s)
}

// prop is one MAPI property value (the first, for a multi-valued one).
type prop struct {
	typ, id uint16
	value   []byte
}

func (p prop) int() int {
	if len(p.value) >= 4 {
		return int(int32(binary.LittleEndian.Uint32(p.value)))
	}
	if len(p.value) >= 2 {
		return int(int16(binary.LittleEndian.Uint16(p.value)))
	}
	return 0
}

// readProps reads a MAPI property list ([MS-OXTNEF] 2.1.3.4) and calls f
// for each property.
func readProps(b []byte, f func(prop)) error {
	r := reader{b: b}
	count, err := r.uint32()
	if err != nil {
		return err
	}
	if count > maxProps || int(count) > r.len()/4 {
		return fmt.Errorf("tnef: %d MAPI properties in %d bytes", count, r.len())
	}
	for range count {
		typ, err := r.uint16()
		if err != nil {
			return err
		}
		id, err := r.uint16()
		if err != nil {
			return err
		}
		if id >= namedPropertyIDBase {
			if err := r.skipName(); err != nil {
				return err
			}
		}
		mv := typ&ptMultiValued != 0
		base := typ &^ ptMultiValued
		n := uint32(1)
		if mv || isVariable(base) {
			if n, err = r.uint32(); err != nil {
				return err
			}
			if n > maxValues || int(n) > r.len()/4 {
				return fmt.Errorf("tnef: property %#04x has %d values in %d bytes", id, n, r.len())
			}
		}
		p := prop{typ: base, id: id}
		for i := range n {
			v, err := r.value(base)
			if err != nil {
				return fmt.Errorf("tnef: property %#04x: %w", id, err)
			}
			if i == 0 {
				p.value = v
			}
		}
		if n > 0 {
			f(p)
		}
	}
	return nil
}

func isVariable(typ uint16) bool {
	return typ == ptString8 || typ == ptUTF16 || typ == ptBinary || typ == ptObject
}

// fixedSize is the size of a fixed-length property value in a TNEF stream,
// where values shorter than 4 bytes are padded to 4.
func fixedSize(typ uint16) (int, error) {
	switch typ {
	case 0x0001, ptShort, ptLong, 0x0004, 0x000A, ptBoolean: // null, i2, i4, r4, error, bool
		return 4, nil
	case 0x0005, 0x0006, 0x0007, 0x0014, 0x0040: // r8, currency, apptime, i8, systime
		return 8, nil
	case 0x0048: // clsid
		return 16, nil
	}
	return 0, fmt.Errorf("unknown property type %#04x", typ)
}

type reader struct{ b []byte }

func (r *reader) len() int { return len(r.b) }

var errShort = errors.New("tnef: truncated stream")

func (r *reader) byte() (byte, error) {
	if len(r.b) < 1 {
		return 0, errShort
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, nil
}

func (r *reader) uint16() (uint16, error) {
	if len(r.b) < 2 {
		return 0, errShort
	}
	v := binary.LittleEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v, nil
}

func (r *reader) uint32() (uint32, error) {
	if len(r.b) < 4 {
		return 0, errShort
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v, nil
}

// bytes returns the next n bytes, a slice of the input.
func (r *reader) bytes(n uint32, what string) ([]byte, error) {
	if uint64(n) > uint64(len(r.b)) {
		return nil, fmt.Errorf("tnef: %s of %d bytes with %d left", what, n, len(r.b))
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v, nil
}

// padded returns the next n bytes and skips the padding to 4 bytes.
func (r *reader) padded(n uint32, what string) ([]byte, error) {
	v, err := r.bytes(n, what)
	if err != nil {
		return nil, err
	}
	if pad := (4 - n%4) % 4; pad > 0 {
		if _, err := r.bytes(pad, "padding"); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (r *reader) value(typ uint16) ([]byte, error) {
	if isVariable(typ) {
		n, err := r.uint32()
		if err != nil {
			return nil, err
		}
		v, err := r.padded(n, "property value")
		if err == nil && typ == ptObject && len(v) >= 16 {
			v = v[16:] // the interface id of the object
		}
		return v, err
	}
	size, err := fixedSize(typ)
	if err != nil {
		return nil, err
	}
	return r.bytes(uint32(size), "property value")
}

// skipName skips the name of a named property: a GUID, a kind, then a
// number (kind 0) or a UTF-16 name with its length (kind 1).
func (r *reader) skipName() error {
	if _, err := r.bytes(16, "property set"); err != nil {
		return err
	}
	kind, err := r.uint32()
	if err != nil {
		return err
	}
	switch kind {
	case 0:
		_, err = r.uint32()
	case 1:
		var n uint32
		if n, err = r.uint32(); err == nil {
			_, err = r.padded(n, "property name")
		}
	default:
		err = fmt.Errorf("tnef: unknown property name kind %d", kind)
	}
	return err
}
