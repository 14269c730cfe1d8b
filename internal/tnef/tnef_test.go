package tnef_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/enneo/mailbridge/internal/tnef"
	tt "github.com/enneo/mailbridge/internal/tnef/tneftest"
)

const outlookHTML = `<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><style>p {margin:0}</style></head>
<body lang="DE"><p>Sehr geehrte Damen und Herren,</p><p>anbei die Rechnung {Nr. 2025\03} und der Vertrag – Grüße 😀</p>
<p><img src="cid:image001.png@01DB9A2B.5C3D7E10" width="4" height="2"></p></body></html>`

// outlookMessage is a Rich-Text (TNEF) Outlook mail: an HTML body carried
// only in PR_RTF_COMPRESSED, a PDF and a DOCX with long names, and an
// embedded image referenced by cid:.
func outlookMessage() []byte {
	return tt.Message{
		Props: []tt.Prop{
			tt.Binary(tt.PrRTFCompressed, tt.CompressRTF([]byte(tt.EncapsulateHTML(outlookHTML)))),
			tt.Long(tt.PrInternetCPID, 65001),
			{Type: tt.PtString8, ID: 0x8005, Name: "x-ms-exchange-organization-authas", Values: [][]byte{[]byte("Internal\x00")}},
		},
		Attachments: []tt.Attachment{
			{Title: "RECHNU~1.PDF", Data: []byte("%PDF-1.4 invoice"), Props: []tt.Prop{
				tt.Unicode(tt.PrAttachLongName, "Rechnung März 2025.pdf"),
				tt.String8(tt.PrAttachMimeTag, "application/pdf"),
				tt.Long(tt.PrAttachMethod, 1),
			}},
			{Title: "VERTRA~1.DOC", Data: []byte("PK\x03\x04docx"), Props: []tt.Prop{
				tt.String8(tt.PrAttachLongName, "Vertrag Entwurf v2.docx"),
				tt.Long(tt.PrAttachMethod, 1),
			}},
			{Title: "image001.png", Props: []tt.Prop{
				tt.Binary(tt.PrAttachDataBin, []byte("\x89PNG\r\n\x1a\nimg")),
				tt.String8(tt.PrAttachMimeTag, "image/png"),
				tt.String8(tt.PrAttachContentID, "image001.png@01DB9A2B.5C3D7E10"),
				tt.Bool(tt.PrAttachmentHidden, true),
				tt.Long(tt.PrAttachMethod, 1),
			}},
		},
	}.Bytes()
}

func TestDecodeOutlook(t *testing.T) {
	m, err := tnef.Decode(outlookMessage())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Problems) > 0 {
		t.Errorf("problems: %q", m.Problems)
	}
	want := strings.ReplaceAll(outlookHTML, "\n", "\r\n")
	if m.HTML != want {
		t.Errorf("HTML:\n got %q\nwant %q", m.HTML, want)
	}
	if m.Text() != "" {
		t.Errorf("Text of an HTML body = %q, want none", m.Text())
	}
	if len(m.Attachments) != 3 {
		t.Fatalf("%d attachments, want 3", len(m.Attachments))
	}
	for i, w := range []struct{ name, mime, cid, data string }{
		{"Rechnung März 2025.pdf", "application/pdf", "", "%PDF-1.4 invoice"},
		{"Vertrag Entwurf v2.docx", "", "", "PK\x03\x04docx"},
		{"image001.png", "image/png", "image001.png@01DB9A2B.5C3D7E10", "\x89PNG\r\n\x1a\nimg"},
	} {
		a := m.Attachments[i]
		if a.Name() != w.name || a.MimeType != w.mime || a.ContentID != w.cid || string(a.Data) != w.data {
			t.Errorf("attachment %d = %q %q %q %q, want %q", i, a.Name(), a.MimeType, a.ContentID, a.Data, w)
		}
	}
	if !m.Attachments[2].Hidden {
		t.Error("the embedded image is not hidden")
	}
}

func TestPlainBodies(t *testing.T) {
	m, err := tnef.Decode(tt.Message{Props: []tt.Prop{tt.Unicode(tt.PrBody, "Hallo Welt\r\nZeile 2")}}.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if m.Text() != "Hallo Welt\r\nZeile 2" || m.HTML != "" {
		t.Errorf("PR_BODY: text %q html %q", m.Text(), m.HTML)
	}
	rtf := tt.RTF("Rich text {mail}\nwith a second line – and ümlauts")
	m, err = tnef.Decode(tt.Message{Props: []tt.Prop{tt.Binary(tt.PrRTFCompressed, tt.CompressRTF([]byte(rtf)))}}.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Text(), "Rich text {mail}\nwith a second line – and ümlauts\n"; got != want {
		t.Errorf("RTF text = %q, want %q", got, want)
	}
}

// The example of [MS-OXRTFCP] 3.1.1.
func TestDecompressSpecExample(t *testing.T) {
	in, _ := hex.DecodeString("2d0000002b0000004c5a4675f1c5c7a703000a007263706731323542320af32068656c09002062770" +
		"5b06c647d0a800fa0")
	got, err := tnef.DecompressRTF(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCompressRoundTrip(t *testing.T) {
	for _, s := range []string{"", "a", strings.Repeat("abc", 3000), tt.EncapsulateHTML(outlookHTML)} {
		got, err := tnef.DecompressRTF(tt.CompressRTF([]byte(s)))
		if err != nil || string(got) != s {
			t.Errorf("round trip of %d bytes: %v, %d bytes back", len(s), err, len(got))
		}
	}
}

func TestDamage(t *testing.T) {
	good := outlookMessage()
	if _, err := tnef.Decode([]byte("not tnef at all")); !errors.Is(err, tnef.ErrNotTNEF) {
		t.Errorf("not TNEF: %v", err)
	}
	for n := range len(good) {
		// a cut at an attribute boundary is a shorter valid stream; any
		// other is an error, and none may panic
		_, _ = tnef.Decode(good[:n])
	}
	huge := append([]byte{}, good[:6]...)
	huge = append(huge, 1, 0x03, 0x90, 0x06, 0x00, 0xFF, 0xFF, 0xFF, 0x7F)
	if _, err := tnef.Decode(huge); err == nil {
		t.Error("an attribute longer than the stream was accepted")
	}
	var many bytes.Buffer
	many.Write(good[:6])
	for range tnef.MaxAttachments + 1 {
		many.Write(tt.Attr(2, tt.AttAttachRendData, make([]byte, 14)))
	}
	if _, err := tnef.Decode(many.Bytes()); err == nil {
		t.Error("more attachments than the cap were accepted")
	}
	// a compressed RTF claiming a huge size
	bomb := tt.CompressRTF(bytes.Repeat([]byte("x"), 100))
	bomb[4], bomb[5], bomb[6], bomb[7] = 0xFF, 0xFF, 0xFF, 0x7F
	if out, err := tnef.DecompressRTF(bomb); err != nil || len(out) != 100 {
		t.Errorf("bomb: %v, %d bytes", err, len(out))
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(outlookMessage())
	f.Add(tt.Message{Props: []tt.Prop{tt.Binary(tt.PrRTFCompressed, tt.CompressRTF([]byte(tt.RTF("x{\\u-10179?\\u-8704?}"))))}}.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := tnef.Decode(data)
		if err != nil {
			return
		}
		_ = m.Text()
		total := len(m.HTML) + len(m.Body) + len(m.RTF)
		if total > 40*len(data)+1024 {
			t.Errorf("%d bytes of input gave %d bytes of bodies", len(data), total)
		}
	})
}

func FuzzRTF(f *testing.F) {
	f.Add([]byte(tt.EncapsulateHTML(outlookHTML)))
	f.Add([]byte(tt.RTF("plain {text}")))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = tnef.TextFromRTF(data)
		_, _ = tnef.HTMLFromRTF(data)
		_, _ = tnef.DecompressRTF(data)
	})
}
