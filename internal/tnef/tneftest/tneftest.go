// Package tneftest writes TNEF streams shaped like Outlook's, for the tests
// of package tnef and the mapper's test corpus. It is the inverse of the
// decoder for what the decoder reads; it is not used by the program.
package tneftest

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
)

// MAPI property types and ids the builders use.
const (
	PtLong    = 0x0003
	PtBoolean = 0x000B
	PtString8 = 0x001E
	PtUnicode = 0x001F
	PtBinary  = 0x0102
	PtSysTime = 0x0040

	PrBody             = 0x1000
	PrRTFCompressed    = 0x1009
	PrBodyHTML         = 0x1013
	PrInternetCPID     = 0x3FDE
	PrDisplayName      = 0x3001
	PrAttachDataBin    = 0x3701
	PrAttachFilename   = 0x3704
	PrAttachMethod     = 0x3705
	PrAttachLongName   = 0x3707
	PrAttachMimeTag    = 0x370E
	PrAttachContentID  = 0x3712
	PrAttachmentHidden = 0x7FFE
)

// Prop is a MAPI property. Name, when set, makes it a named property (kind
// 1, with a fixed property set) with an id of 0x8000 or more.
type Prop struct {
	Type, ID uint16
	Name     string
	Values   [][]byte
}

// String8 is a PT_STRING8 property (NUL-terminated, as Outlook writes).
func String8(id uint16, s string) Prop {
	return Prop{Type: PtString8, ID: id, Values: [][]byte{append([]byte(s), 0)}}
}

// Unicode is a PT_UNICODE property.
func Unicode(id uint16, s string) Prop {
	u := utf16.Encode([]rune(s + "\x00"))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return Prop{Type: PtUnicode, ID: id, Values: [][]byte{b}}
}

// Binary is a PT_BINARY property.
func Binary(id uint16, b []byte) Prop { return Prop{Type: PtBinary, ID: id, Values: [][]byte{b}} }

// Long is a PT_LONG property.
func Long(id uint16, v int32) Prop {
	return Prop{Type: PtLong, ID: id, Values: [][]byte{binary.LittleEndian.AppendUint32(nil, uint32(v))}}
}

// Bool is a PT_BOOLEAN property.
func Bool(id uint16, v bool) Prop {
	b := []byte{0, 0, 0, 0}
	if v {
		b[0] = 1
	}
	return Prop{Type: PtBoolean, ID: id, Values: [][]byte{b}}
}

// Props encodes a MAPI property list ([MS-OXTNEF] 2.1.3.4).
func Props(props ...Prop) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(props)))
	for _, p := range props {
		b = binary.LittleEndian.AppendUint16(b, p.Type)
		b = binary.LittleEndian.AppendUint16(b, p.ID)
		if p.ID >= 0x8000 {
			b = append(b, "\x08\x20\x06\x00\x00\x00\x00\x00\xC0\x00\x00\x00\x00\x00\x00\x46"...) // PS_PUBLIC_STRINGS
			b = binary.LittleEndian.AppendUint32(b, 1)
			name := Unicode(0, p.Name).Values[0]
			b = binary.LittleEndian.AppendUint32(b, uint32(len(name)))
			b = pad(append(b, name...))
		}
		variable := p.Type&^0x1000 == PtString8 || p.Type&^0x1000 == PtUnicode || p.Type&^0x1000 == PtBinary
		if variable || p.Type&0x1000 != 0 {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Values)))
		}
		for _, v := range p.Values {
			if variable {
				b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
			}
			b = pad(append(b, v...))
		}
	}
	return b
}

func pad(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// Attr encodes one attribute with its checksum.
func Attr(level byte, id uint32, data []byte) []byte {
	b := []byte{level}
	b = binary.LittleEndian.AppendUint32(b, id)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	var sum uint16
	for _, c := range data {
		sum += uint16(c)
	}
	return binary.LittleEndian.AppendUint16(b, sum)
}

// Attachment is an attachment of a Message.
type Attachment struct {
	Title string // attAttachTitle, the 8.3 name
	Data  []byte // attAttachData
	Props []Prop // attAttachment
}

// Message is a TNEF stream as Outlook writes it: version, code page,
// message class, the message's MAPI properties, then the attachments.
type Message struct {
	Class       string // default IPM.Microsoft Mail.Note
	Props       []Prop
	Attachments []Attachment
}

// Attribute ids.
const (
	AttTnefVersion    = 0x00089006
	AttOemCodepage    = 0x00069007
	AttMessageClass   = 0x00078008
	AttBody           = 0x0002800C
	AttMAPIProps      = 0x00069003
	AttAttachRendData = 0x00069002
	AttAttachTitle    = 0x00018010
	AttAttachData     = 0x0006800F
	AttAttachment     = 0x00069005
)

// Bytes encodes m.
func (m Message) Bytes() []byte {
	class := m.Class
	if class == "" {
		class = "IPM.Microsoft Mail.Note"
	}
	b := binary.LittleEndian.AppendUint32(nil, 0x223E9F78)
	b = binary.LittleEndian.AppendUint16(b, 0x0BCD) // legacy key
	b = append(b, Attr(1, AttTnefVersion, []byte{0, 0, 1, 0})...)
	b = append(b, Attr(1, AttOemCodepage, []byte{0xE4, 0x04, 0, 0, 0, 0, 0, 0})...)
	b = append(b, Attr(1, AttMessageClass, append([]byte(class), 0))...)
	if len(m.Props) > 0 {
		b = append(b, Attr(1, AttMAPIProps, Props(m.Props...))...)
	}
	for _, a := range m.Attachments {
		rend := []byte{0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0}
		b = append(b, Attr(2, AttAttachRendData, rend)...)
		if a.Title != "" {
			b = append(b, Attr(2, AttAttachTitle, append([]byte(a.Title), 0))...)
		}
		if a.Data != nil {
			b = append(b, Attr(2, AttAttachData, a.Data)...)
		}
		if len(a.Props) > 0 {
			b = append(b, Attr(2, AttAttachment, Props(a.Props...))...)
		}
	}
	return b
}

const rtfPrefix = "{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"

// CompressRTF compresses rtf as PR_RTF_COMPRESSED ("LZFu", [MS-OXRTFCP]),
// taking the longest match in the dictionary at each step. The CRC is left
// zero: readers need not check it.
func CompressRTF(rtf []byte) []byte {
	var dict [4096]byte
	copy(dict[:], rtfPrefix)
	w := len(rtfPrefix)
	var out []byte
	var control byte
	var run []byte
	bit := 0
	flush := func() {
		out = append(out, control)
		out = append(out, run...)
		control, run, bit = 0, run[:0], 0
	}
	for pos := 0; pos < len(rtf); {
		bestOff, bestLen := 0, 0
		for off := 0; off < 4096; off++ {
			if off == w {
				continue
			}
			n := 0
			for n < 17 && pos+n < len(rtf) {
				idx := (off + n) & 4095
				c := dict[idx]
				if d := (idx - w) & 4095; d < n {
					c = rtf[pos+d]
				}
				if c != rtf[pos+n] {
					break
				}
				n++
			}
			if n > bestLen {
				bestOff, bestLen = off, n
			}
		}
		if bestLen >= 2 {
			control |= 1 << bit
			run = append(run, byte(bestOff>>4), byte(bestOff<<4|(bestLen-2)))
		} else {
			bestLen = 1
			run = append(run, rtf[pos])
		}
		for k := 0; k < bestLen; k++ {
			dict[w] = rtf[pos+k]
			w = (w + 1) & 4095
		}
		pos += bestLen
		if bit++; bit == 8 {
			flush()
		}
	}
	control |= 1 << bit // the end marker: a reference to the write position
	run = append(run, byte(w>>4), byte(w<<4))
	flush()
	h := binary.LittleEndian.AppendUint32(nil, uint32(len(out)+12))
	h = binary.LittleEndian.AppendUint32(h, uint32(len(rtf)))
	h = binary.LittleEndian.AppendUint32(h, 0x75465A4C)
	h = binary.LittleEndian.AppendUint32(h, 0)
	return append(h, out...)
}

// EncapsulateHTML writes html as Outlook's RTF body of an HTML mail
// (\fromhtml1, [MS-OXRTFEX]): tags in \*\htmltag groups, text as RTF, and
// RTF-only paragraph marks between \htmlrtf and \htmlrtf0 that a reader of
// the HTML must drop.
func EncapsulateHTML(html string) string {
	var b strings.Builder
	b.WriteString("{\\rtf1\\ansi\\ansicpg1252\\fromhtml1 \\deff0{\\fonttbl\r\n" +
		"{\\f0\\fswiss\\fcharset0 Arial;}\r\n{\\f1\\fmodern Courier New;}}\r\n" +
		"{\\colortbl\\red0\\green0\\blue0;\\red5\\green99\\blue193;}\r\n" +
		"{\\*\\generator Microsoft Exchange Server;}\r\n" +
		"{\\*\\formatConverter converted from html;}\r\n\\uc1\\pard\\plain\\deftab360 \\f0\\fs24 ")
	for html != "" {
		if html[0] == '<' {
			end := strings.IndexByte(html, '>')
			if end < 0 {
				end = len(html) - 1
			}
			tag := html[:end+1]
			html = html[end+1:]
			fmt.Fprintf(&b, "{\\*\\htmltag%d %s}", 64, rtfEscape(tag))
			if strings.EqualFold(tag, "</p>") || strings.HasPrefix(strings.ToLower(tag), "<br") {
				b.WriteString("\\htmlrtf \\par\r\n\\htmlrtf0 ")
			}
			continue
		}
		end := strings.IndexByte(html, '<')
		if end < 0 {
			end = len(html)
		}
		b.WriteString(rtfEscape(html[:end]))
		html = html[end:]
	}
	b.WriteString("}")
	return b.String()
}

func rtfEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\' || r == '{' || r == '}':
			b.WriteString("\\" + string(r))
		case r == '\n':
			b.WriteString("\\par\r\n")
		case r == '\r':
		case r < 0x80:
			b.WriteRune(r)
		case r < 0x10000:
			fmt.Fprintf(&b, "\\u%d?", int16(r))
		default:
			for _, u := range utf16.Encode([]rune{r}) {
				fmt.Fprintf(&b, "\\u%d?", int16(u))
			}
		}
	}
	return b.String()
}

// RTF writes text as a plain Rich-Text body (no HTML encapsulated), as
// Outlook's "Rich Text" format does.
func RTF(text string) string {
	return "{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0\\fswiss Arial;}}" +
		"{\\colortbl;\\red0\\green0\\blue0;}\\viewkind4\\uc1\\pard\\f0\\fs20 " +
		rtfEscape(text) + "\\par\r\n}"
}
