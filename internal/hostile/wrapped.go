package hostile

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"

	tt "github.com/enneo/mailbridge/internal/tnef/tneftest"
)

// base64Lines is data in base64, in lines of 76.
func base64Lines(data []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(data)
	var b bytes.Buffer
	b.Grow(len(enc) + len(enc)/76*2 + 2)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.Bytes()
}

// BERBomb is an S/MIME signed-data part whose BER nests depth levels deep,
// each an indefinite length: a recursive PKCS #7 parser overflows its stack.
func BERBomb(depth int) Mail {
	name := fmt.Sprintf("ber-bomb-%d", depth)
	b := head(name)
	b.WriteString("Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	b.Write(base64Lines(append(bytes.Repeat([]byte{0x30, 0x80}, depth), 0x05, 0x00)))
	return Mail{name, fmt.Sprintf("S/MIME BER nested %d levels", depth), b.Bytes()}
}

// winmailParts is a multipart/mixed of a short text and the given
// winmail.dat streams.
func winmailParts(name string, streams [][]byte) *bytes.Buffer {
	b := head(name)
	b.WriteString("Content-Type: multipart/mixed; boundary=\"w\"\r\n\r\n--w\r\n" +
		"Content-Type: text/plain\r\n\r\nsee the attachment\r\n")
	for _, s := range streams {
		b.WriteString("--w\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\n" +
			"Content-Transfer-Encoding: base64\r\n\r\n")
		b.Write(base64Lines(s))
	}
	b.WriteString("--w--\r\n")
	return b
}

// TNEFNames is winmail.dat parts full of files named "a (2)", "a (3)"...
// and then "a" again and again: a naive renaming of duplicates scans all
// the numbered ones for each.
func TNEFNames(parts, perPart int) Mail {
	name := fmt.Sprintf("tnef-names-%d", parts*perPart)
	total := parts * perPart
	streams := make([][]byte, parts)
	for p := range parts {
		var m tt.Message
		for i := range perPart {
			n := "a"
			if k := p*perPart + i; k < total/2 {
				n = fmt.Sprintf("a (%d)", k+2)
			}
			m.Attachments = append(m.Attachments, tt.Attachment{Title: n, Data: []byte{}})
		}
		streams[p] = m.Bytes()
	}
	return Mail{name, fmt.Sprintf("%d winmail.dat files named to collide", total), winmailParts(name, streams).Bytes()}
}

// TNEFMany is parts winmail.dat parts of perPart empty files each.
func TNEFMany(parts, perPart int) Mail {
	name := fmt.Sprintf("tnef-many-%dx%d", parts, perPart)
	var m tt.Message
	for range perPart {
		m.Attachments = append(m.Attachments, tt.Attachment{Title: "f.txt", Data: []byte{}})
	}
	stream := m.Bytes()
	streams := make([][]byte, parts)
	for i := range streams {
		streams[i] = stream
	}
	return Mail{name, fmt.Sprintf("%d winmail.dat parts of %d files", parts, perPart), winmailParts(name, streams).Bytes()}
}

// TNEFRTF is a winmail.dat whose compressed RTF body is made of
// references only, each 2 bytes that expand to 17: some 8.5 times its size,
// refs references in all.
func TNEFRTF(refs int) Mail {
	name := fmt.Sprintf("tnef-rtf-%d", refs)
	data := make([]byte, 0, refs/8*17+17)
	w := 207 // the writing position after the initial dictionary
	for i := 0; i < refs; i += 8 {
		data = append(data, 0xff) // eight references follow
		for range 8 {
			off := (w + 100) & 4095 // never w, which would end the stream
			ref := off<<4 | 15      // 15+2 = 17 bytes
			data = append(data, byte(ref>>8), byte(ref))
			w = (w + 17) & 4095
		}
	}
	rtf := binary.LittleEndian.AppendUint32(nil, uint32(len(data)+12))
	rtf = binary.LittleEndian.AppendUint32(rtf, 0xffffffff) // the size it claims
	rtf = binary.LittleEndian.AppendUint32(rtf, 0x75465A4C) // "LZFu"
	rtf = binary.LittleEndian.AppendUint32(rtf, 0)          // CRC, unchecked
	rtf = append(rtf, data...)
	m := tt.Message{Props: []tt.Prop{tt.Binary(tt.PrRTFCompressed, rtf)}}
	return Mail{name, fmt.Sprintf("winmail.dat whose compressed RTF claims %d MB", refs*17>>20), winmailParts(name, [][]byte{m.Bytes()}).Bytes()}
}

// Encrypted is parts encrypted S/MIME parts with names of nameLen bytes:
// each is noted before the body and quoted in a warning.
func Encrypted(parts, nameLen int) Mail {
	name := fmt.Sprintf("encrypted-%dx%d", parts, nameLen)
	b := head(name)
	b.WriteString("Content-Type: multipart/mixed; boundary=\"e\"\r\n\r\n")
	long := strings.Repeat("<", nameLen)
	for i := range parts {
		fmt.Fprintf(b, "--e\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=\"%s%d\"\r\n\r\nx\r\n", long, i)
	}
	b.WriteString("--e--\r\n")
	return Mail{name, fmt.Sprintf("%d encrypted parts named with %d bytes", parts, nameLen), b.Bytes()}
}

// Calendar is an invitation whose title is n bytes of '<'.
func Calendar(n int) Mail {
	name := fmt.Sprintf("calendar-%d", n)
	b := head(name)
	b.WriteString("Content-Type: text/calendar; method=REQUEST; charset=utf-8\r\n\r\n" +
		"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nSUMMARY:")
	b.WriteString(strings.Repeat("<", n))
	b.WriteString("\r\nDTSTART:20250101T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
	return Mail{name, fmt.Sprintf("an invitation titled with %d bytes", n), b.Bytes()}
}

// LongHeaderLine is a message whose Subject is one line of n bytes.
func LongHeaderLine(n int) Mail {
	name := fmt.Sprintf("header-line-%d", n)
	b := bytes.NewBuffer(bytes.Replace(head(name).Bytes(), []byte("Subject: hostile "), []byte("Subject: "+strings.Repeat("<", n)+" "), 1))
	b.WriteString("Content-Type: text/plain\r\n\r\nbody\r\n")
	return Mail{name, fmt.Sprintf("a Subject line of %d bytes", n), b.Bytes()}
}
