// Command gen writes the .eml corpus used by the mapper's golden tests.
//
// Run it from the module root:
//
//	go run ./mapper/testdata/gen
//
// (It lives under testdata, so "./..." patterns never build or vet it.)
// main.go holds the helpers and the first corpus; each other file adds the
// messages of one class of real-world mail through register.
//
// Every message is built from literals in this file. Nothing is random and
// nothing depends on the clock, so running it again yields byte-identical
// files. All names and addresses are invented; only example.com, example.org
// and example.net domains are used.
//
// Conventions: messages are written here with "\n" and converted to CRLF by
// crlf() when the file is written, except 40-bare-lf.eml which keeps bare LF
// on purpose. Bytes in legacy charsets are produced with golang.org/x/text.
package main

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"fmt"
	"hash/adler32"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"log"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
)

type file struct {
	name string
	data []byte
}

func main() {
	out := flag.String("out", "mapper/testdata", "directory to write the .eml files to")
	flag.Parse()
	if st, err := os.Stat(*out); err != nil || !st.IsDir() {
		log.Fatalf("output directory %q does not exist (run from the module root or pass -out)", *out)
	}
	seen := map[string]bool{}
	for _, f := range corpus() {
		if seen[f.name] {
			log.Fatalf("duplicate file name %s", f.name)
		}
		seen[f.name] = true
		if err := os.WriteFile(filepath.Join(*out, f.name), f.data, 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-45s %6d bytes\n", f.name, len(f.data))
	}
}

// ---------------------------------------------------------------------------
// helpers

// crlf normalises every line ending to CRLF.
func crlf(s string) []byte {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

// b64 base64-encodes data in 76-character lines, each ending in "\n".
func b64(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	if s != "" {
		b.WriteString(s + "\n")
	}
	return b.String()
}

// qp quoted-printable-encodes data (text mode: line breaks stay line breaks).
func qp(data string) string {
	var buf bytes.Buffer
	w := quotedprintable.NewWriter(&buf)
	if _, err := w.Write([]byte(data)); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	return buf.String()
}

// enc converts UTF-8 text to the given legacy encoding. It fails loudly if a
// character is not representable, so the corpus never contains silent '?'s.
func enc(e encoding.Encoding, s string) string {
	out, err := encoding.HTMLEscapeUnsupported(e.NewEncoder()).String(s)
	if err != nil {
		log.Fatal(err)
	}
	if strings.Contains(out, "&#") && !strings.Contains(s, "&#") {
		log.Fatalf("unrepresentable character in %q", s)
	}
	return out
}

// bword builds an RFC 2047 B-encoded word from bytes already in charset.
func bword(charset, raw string) string {
	return "=?" + charset + "?B?" + base64.StdEncoding.EncodeToString([]byte(raw)) + "?="
}

// qword builds an RFC 2047 Q-encoded word from bytes already in charset,
// using the restricted character set that is valid inside a phrase.
func qword(charset, raw string) string {
	var b strings.Builder
	b.WriteString("=?" + charset + "?Q?")
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == ' ':
			b.WriteByte('_')
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			strings.IndexByte("!*+-/", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	b.WriteString("?=")
	return b.String()
}

// pdf returns a minimal, valid one-page PDF showing text (ASCII, no parens).
func pdf(text string) []byte {
	content := "BT /F1 12 Tf 10 50 Td (" + text + ") Tj ET"
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 100] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// png returns a w×h RGB PNG of one colour, written by hand with a stored
// (uncompressed) zlib stream so the bytes never depend on a compressor.
func png(w, h int, r, g, bl byte) []byte {
	var raw []byte
	for y := 0; y < h; y++ {
		raw = append(raw, 0) // filter: none
		for x := 0; x < w; x++ {
			raw = append(raw, r, g, bl)
		}
	}
	z := []byte{0x78, 0x01, 0x01, byte(len(raw)), byte(len(raw) >> 8), ^byte(len(raw)), ^byte(len(raw) >> 8)}
	z = append(z, raw...)
	z = binary.BigEndian.AppendUint32(z, adler32.Checksum(raw))

	chunk := func(typ string, data []byte) []byte {
		c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
		c = append(c, typ...)
		c = append(c, data...)
		return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // 8-bit, RGB, deflate, no filter, no interlace
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, chunk("IHDR", ihdr)...)
	out = append(out, chunk("IDAT", z)...)
	out = append(out, chunk("IEND", nil)...)
	return out
}

// jpg returns a small 8×8 baseline JPEG (a colour gradient), encoded by the
// standard library's deterministic encoder.
func jpg() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 32), uint8(y * 32), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 50}); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}

// xlsx returns a minimal spreadsheet (stored, fixed timestamps).
func xlsx() []byte {
	files := []struct{ name, body string }{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
			`<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
			`<Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
			`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>` +
			`</Types>`},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
			`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>` +
			`</Relationships>`},
		{"xl/workbook.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
			`<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">` +
			`<sheets><sheet name="Report" sheetId="1" r:id="rId1"/></sheets></workbook>`},
		{"xl/_rels/workbook.xml.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
			`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>` +
			`</Relationships>`},
		{"xl/worksheets/sheet1.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
			`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` +
			`<row r="1"><c r="A1" t="inlineStr"><is><t>Month</t></is></c><c r="B1" t="inlineStr"><is><t>Tickets</t></is></c></row>` +
			`<row r="2"><c r="A2" t="inlineStr"><is><t>February</t></is></c><c r="B2"><v>42</v></c></row>` +
			`</sheetData></worksheet>`},
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{
			Name:     f.name,
			Method:   zip.Store,
			Modified: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		})
		if err != nil {
			log.Fatal(err)
		}
		if _, err := w.Write([]byte(f.body)); err != nil {
			log.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}

// winmailDat returns a small synthetic TNEF stream. It is NOT a capture of
// a real Outlook message: it starts with the TNEF signature 0x78 0x9F 0x3E
// 0x22, a legacy key, and a handful of well-formed attributes (TNEF version,
// OEM code page, message class) followed by one attachment ("hello.txt")
// carried in attAttachTitle/attAttachData, each with its 16-bit checksum.
func winmailDat() []byte {
	attr := func(level byte, id uint32, data []byte) []byte {
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
	const lvlMessage, lvlAttachment = 1, 2
	b := []byte{0x78, 0x9F, 0x3E, 0x22}
	b = binary.LittleEndian.AppendUint16(b, 0x0001)                                                 // legacy key
	b = append(b, attr(lvlMessage, 0x00089006, []byte{0x00, 0x00, 0x01, 0x00})...)                  // attTnefVersion 0x00010000
	b = append(b, attr(lvlMessage, 0x00069007, []byte{0xE4, 0x04, 0, 0, 0, 0, 0, 0})...)            // attOemCodepage 1252
	b = append(b, attr(lvlMessage, 0x00078008, []byte("IPM.Microsoft Mail.Note\x00"))...)           // attMessageClass
	rend := []byte{0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0}                      // type=file, position=-1
	b = append(b, attr(lvlAttachment, 0x00069002, rend)...)                                         // attAttachRendData
	b = append(b, attr(lvlAttachment, 0x00018010, []byte("hello.txt\x00"))...)                      // attAttachTitle
	b = append(b, attr(lvlAttachment, 0x0006800F, []byte("Hello from inside winmail.dat.\r\n"))...) // attAttachData
	return b
}

// ---------------------------------------------------------------------------
// the corpus

func corpus() []file {
	var fs []file
	add := func(name string, data []byte) { fs = append(fs, file{name, data}) }
	addCRLF := func(name, s string) { add(name, crlf(s)) }

	pixelPNG := png(1, 1, 0xCC, 0x00, 0x00)
	logoPNG := png(4, 2, 0x00, 0x66, 0xCC)
	photoJPG := jpg()

	// 01 -------------------------------------------------------------------
	addCRLF("01-text-only.eml", `Return-Path: <alice@example.com>
Received: from mail.example.com (mail.example.com [192.0.2.10])
	by mx.example.net (Postfix) with ESMTPS id 4Z0aa1
	for <support@example.net>; Mon,  3 Mar 2025 09:15:02 +0100 (CET)
From: Alice Example <alice@example.com>
To: Support <support@example.net>
Subject: Question about invoice #4711
Date: Mon, 3 Mar 2025 09:15:00 +0100 (CET)
Message-ID: <20250303091500.4711.alice@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 7bit
User-Agent: Example Mailer 3.1

Hello support team,

I have a question about invoice #4711 <INV-4711>. The line items do not add
up: the summary says 3 < 5 & 7 > 2, which is true, but not helpful.

Please do not render this as markup: <b>not bold</b>, <script>alert(1)</script>,
and a literal entity &amp; that must stay "&amp;" after escaping.

> Quoted text from your previous mail, with a "quote" & an <angle>.
>> And a doubly quoted line.

Thanks in advance,
Alice

-- 
Alice Example
Example Corp & Sons <https://www.example.com>
`)

	// 02 -------------------------------------------------------------------
	addCRLF("02-html-only.eml", `From: Bob Builder <bob@example.org>
To: support@example.net
Subject: Order confirmation #1001
Date: Mon, 3 Mar 2025 10:00:00 +0000
Message-ID: <order-1001.20250303100000@shop.example.org>
MIME-Version: 1.0
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

`+qp(`<!DOCTYPE html>
<html>
<head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"><title>Order confirmation</title></head>
<body>
<h1>Thank you for your order!</h1>
<p>Hello Bob,</p>
<p>We have received your order <strong>#1001</strong>. Grüße from the shop team &amp; see you soon.</p>
<table border="1" cellpadding="4">
<tr><th>Item</th><th>Qty</th><th>Price</th></tr>
<tr><td>Blue widget</td><td>2</td><td>€ 19,90</td></tr>
<tr><td>Red widget</td><td>1</td><td>€ 9,95</td></tr>
</table>
<p><a href="https://shop.example.org/orders/1001">View your order</a></p>
</body>
</html>
`))

	// 03 -------------------------------------------------------------------
	addCRLF("03-multipart-alternative.eml", `From: Carol Chen <carol@example.com>
To: Support Team <support@example.net>
Subject: Password reset not working
Date: Tue, 4 Mar 2025 08:30:12 +0100
Message-ID: <b1e7c2d4-0f3a-4c5b-8d6e-7f8091a2b3c4@example.com>
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Content-Language: en-US
Content-Type: multipart/alternative;
 boundary="------------Xq7pWm3Lr9Tz2Yb5Nc8Kd1Fg"

This is a multi-part message in MIME format.
--------------Xq7pWm3Lr9Tz2Yb5Nc8Kd1Fg
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

`+qp(`Hi,

the password reset link in your e-mail leads to an error page ("token
expired") even when I click it right away. I tried it three times – café
Wi-Fi and at home.

Thanks,
Carol
`)+`
--------------Xq7pWm3Lr9Tz2Yb5Nc8Kd1Fg
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

`+qp(`<!DOCTYPE html>
<html>
  <head>
    <meta http-equiv="content-type" content="text/html; charset=UTF-8">
  </head>
  <body>
    <p>Hi,</p>
    <p>the password reset link in your e-mail leads to an error page ("token
      expired") even when I click it right away. I tried it <b>three times</b> – café
      Wi-Fi and at home.</p>
    <p>Thanks,<br>
      Carol</p>
  </body>
</html>
`)+`
--------------Xq7pWm3Lr9Tz2Yb5Nc8Kd1Fg--
`)

	// 04 -------------------------------------------------------------------
	// Outlook 2016 structure: related { alternative { plain, html }, png, jpg }.
	addCRLF("04-outlook-related-cid-images.eml", `From: Bernd Schmidt <bernd.schmidt@example.com>
To: "support@example.net" <support@example.net>
Subject: Screenshot of the error
Thread-Topic: Screenshot of the error
Thread-Index: AduMKl8+U2NyZWVuc2hvdCBmYWtlIGlkeA==
Date: Tue, 4 Mar 2025 10:22:31 +0000
Message-ID: <AM0PR07MB41230C9A1B2C3D4E5F6A7B8C9D0E@AM0PR07MB4123.eurprd07.prod.example.com>
Accept-Language: de-DE, en-US
Content-Language: de-DE
X-MS-Has-Attach: yes
X-MS-TNEF-Correlator:
Content-Type: multipart/related;
	boundary="_004_AM0PR07MB41230C9A1B2C3D4E5F6A7B8C9D0E_";
	type="multipart/alternative"
MIME-Version: 1.0

--_004_AM0PR07MB41230C9A1B2C3D4E5F6A7B8C9D0E_
Content-Type: multipart/alternative;
	boundary="_000_AM0PR07MB41230C9A1B2C3D4E5F6A7B8C9D0E_"

--_000_AM0PR07MB41230C9A1B2C3D4E5F6A7B8C9D0E_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

`+qp(`Hello,

the export fails with the error shown below:

[cid:image001.png@01DB8C2A.5F3E1B20]

And this is our company logo, just because Outlook adds it:

[cid:image002.jpg@01DB8C2A.5F3E1B20]

Kind regards
Bernd Schmidt
`)+`
--_000_AM0PR07MB41230C9A1B2C3D4E5F6A7B8C9D0E_
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

`+qp(`<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" xmlns="http://www.w3.org/TR/REC-html40">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=us-ascii">
<meta name="Generator" content="Microsoft Word 15 (filtered medium)">
<style><!--
/* Font Definitions */
@font-face
	{font-family:Calibri;
	panose-1:2 15 5 2 2 2 4 3 2 4;}
p.MsoNormal, li.MsoNormal, div.MsoNormal
	{margin:0cm;
	font-size:11.0pt;
	font-family:"Calibri",sans-serif;}
--></style>
</head>
<body lang="DE" link="#0563C1" vlink="#954F72" style="word-wrap:break-word">
<div class="WordSection1">
<p class="MsoNormal">Hello,<o:p></o:p></p>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<p class="MsoNormal">the export fails with the error shown below:<o:p></o:p></p>
<p class="MsoNormal"><img width="1" height="1" style="width:.0104in;height:.0104in" id="Picture_x0020_1" src="cid:image001.png@01DB8C2A.5F3E1B20"><o:p></o:p></p>
<p class="MsoNormal">And this is our company logo, just because Outlook adds it:<o:p></o:p></p>
<p class="MsoNormal"><img width="8" height="8" id="Picture_x0020_2" src="cid:image002.jpg@01DB8C2A.5F3E1B20" alt="Logo"><o:p></o:p></p>
<p class="MsoNormal">Kind regards<o:p></o:p></p>
<p class="MsoNormal">Bernd Schmidt<o:p></o:p></p>
</div>
</body>
</html>
`)+`
--_000_AM0PR07MB41230C9A1B2C3D4E5F6A7B8C9D0E_--

--_004_AM0PR07MB41230C9A1B2C3D4E5F6A7B8C9D0E_
Content-Type: image/png; name="image001.png"
Content-Description: image001.png
Content-Disposition: inline; filename="image001.png"; size=`+fmt.Sprint(len(pixelPNG))+`;
	creation-date="Tue, 04 Mar 2025 10:22:30 GMT";
	modification-date="Tue, 04 Mar 2025 10:22:30 GMT"
Content-ID: <image001.png@01DB8C2A.5F3E1B20>
Content-Transfer-Encoding: base64

`+b64(pixelPNG)+`
--_004_AM0PR07MB41230C9A1B2C3D4E5F6A7B8C9D0E_
Content-Type: image/jpeg; name="image002.jpg"
Content-Description: image002.jpg
Content-Disposition: inline; filename="image002.jpg"; size=`+fmt.Sprint(len(photoJPG))+`;
	creation-date="Tue, 04 Mar 2025 10:22:30 GMT";
	modification-date="Tue, 04 Mar 2025 10:22:30 GMT"
Content-ID: <image002.jpg@01DB8C2A.5F3E1B20>
Content-Transfer-Encoding: base64

`+b64(photoJPG)+`
--_004_AM0PR07MB41230C9A1B2C3D4E5F6A7B8C9D0E_--
`)

	// 05 -------------------------------------------------------------------
	// Apple Mail structure: alternative { plain, related { html, png, jpg } }.
	// The second image has a Content-ID but no Content-Disposition at all.
	addCRLF("05-apple-alternative-related-cid.eml", `From: Clara Weiss <clara@example.org>
Content-Type: multipart/alternative;
	boundary="Apple-Mail=_3F1A2B3C-4D5E-6F70-8192-A3B4C5D6E7F8"
Mime-Version: 1.0 (Mac OS X Mail 16.0 \(3826.400.131.1.6\))
Subject: Our new logo
Date: Wed, 5 Mar 2025 16:40:12 +0100
Message-Id: <5B8E0F52-2C7A-4E38-9D1B-6F0C3A9E7D21@example.org>
To: support@example.net
X-Mailer: Apple Mail (2.3826.400.131.1.6)


--Apple-Mail=_3F1A2B3C-4D5E-6F70-8192-A3B4C5D6E7F8
Content-Transfer-Encoding: quoted-printable
Content-Type: text/plain;
	charset=utf-8

`+qp(`Hi team,

here is our new logo for the invoice template:

And my signature picture.

Viele Grüße
Clara
`)+`
--Apple-Mail=_3F1A2B3C-4D5E-6F70-8192-A3B4C5D6E7F8
Content-Type: multipart/related;
	type="text/html";
	boundary="Apple-Mail=_9C8B7A6F-5E4D-3C2B-1A09-F8E7D6C5B4A3"


--Apple-Mail=_9C8B7A6F-5E4D-3C2B-1A09-F8E7D6C5B4A3
Content-Transfer-Encoding: quoted-printable
Content-Type: text/html;
	charset=utf-8

`+qp(`<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head><body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; line-break: after-white-space;">Hi team,<div><br></div><div>here is our new logo for the invoice template:</div><div><br></div><div><img apple-inline="yes" id="A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF" width="4" height="2" src="cid:7A1C2E3F-0B4D-4E5F-9A8B-1C2D3E4F5A6B" alt="logo.png"></div><div><br></div><div>And my signature picture.</div><div><img src="cid:signature-photo@example.org" alt="signature"></div><div><br></div><div>Viele Grüße<br>Clara</div></body></html>`)+`
--Apple-Mail=_9C8B7A6F-5E4D-3C2B-1A09-F8E7D6C5B4A3
Content-Transfer-Encoding: base64
Content-Disposition: inline;
	filename=logo.png
Content-Type: image/png;
	x-unix-mode=0644;
	name="logo.png"
Content-Id: <7A1C2E3F-0B4D-4E5F-9A8B-1C2D3E4F5A6B>

`+b64(logoPNG)+`
--Apple-Mail=_9C8B7A6F-5E4D-3C2B-1A09-F8E7D6C5B4A3
Content-Transfer-Encoding: base64
Content-Type: image/jpeg;
	name="signature.jpg"
Content-Id: <signature-photo@example.org>

`+b64(photoJPG)+`
--Apple-Mail=_9C8B7A6F-5E4D-3C2B-1A09-F8E7D6C5B4A3--

--Apple-Mail=_3F1A2B3C-4D5E-6F70-8192-A3B4C5D6E7F8--
`)

	// 06 -------------------------------------------------------------------
	invoicePDF := pdf("Invoice 2025-0042 - total 119.00 EUR")
	addCRLF("06-attachment-pdf.eml", `Content-Type: multipart/mixed; boundary="------------0aB1cD2eF3gH4iJ5kL6mN7oP"
Message-ID: <8d2f6c1e-5a4b-4c3d-9e8f-0a1b2c3d4e5f@example.com>
Date: Thu, 6 Mar 2025 11:02:44 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Content-Language: en-US
To: support@example.net
From: David Miller <david.miller@example.com>
Subject: Invoice 2025-0042 attached

This is a multi-part message in MIME format.
--------------0aB1cD2eF3gH4iJ5kL6mN7oP
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 7bit

Hello,

please find attached the invoice 2025-0042. This paragraph is written as 
format=flowed, so the lines above end in a space and belong to one 
paragraph.

Regards,
David

--------------0aB1cD2eF3gH4iJ5kL6mN7oP
Content-Type: application/pdf; name="invoice-2025-0042.pdf"
Content-Disposition: attachment; filename="invoice-2025-0042.pdf"
Content-Transfer-Encoding: base64

`+b64(invoicePDF)+`
--------------0aB1cD2eF3gH4iJ5kL6mN7oP--
`)

	// 07 -------------------------------------------------------------------
	// Gmail structure: mixed { alternative { plain, html }, png, jpg }, with
	// the X-Attachment-Id/Content-ID Gmail puts on every attachment.
	addCRLF("07-attachment-png-jpeg.eml", `MIME-Version: 1.0
Date: Thu, 6 Mar 2025 13:45:09 +0100
Message-ID: <CAF8x9Yz0QmT3e+kP1w2v3u4t5s6r7q8p9o0n1m2l3k4j5i6h7g@mail.example.com>
Subject: Photos of the damaged parcel
From: Erik Olsen <erik.olsen@example.com>
To: support@example.net
Content-Type: multipart/mixed; boundary="000000000000a1b2c3d4e5f60718"

--000000000000a1b2c3d4e5f60718
Content-Type: multipart/alternative; boundary="000000000000a1b2c3d4e5f60716"

--000000000000a1b2c3d4e5f60716
Content-Type: text/plain; charset="UTF-8"

Hi, the parcel arrived damaged. Two pictures attached.
Erik

--000000000000a1b2c3d4e5f60716
Content-Type: text/html; charset="UTF-8"

<div dir="ltr">Hi, the parcel arrived damaged. Two pictures attached.<div>Erik</div></div>

--000000000000a1b2c3d4e5f60716--
--000000000000a1b2c3d4e5f60718
Content-Type: image/png; name="pixel.png"
Content-Disposition: attachment; filename="pixel.png"
Content-Transfer-Encoding: base64
Content-ID: <f_m7x1a2b30>
X-Attachment-Id: f_m7x1a2b30

`+b64(pixelPNG)+`--000000000000a1b2c3d4e5f60718
Content-Type: image/jpeg; name="photo.jpg"
Content-Disposition: attachment; filename="photo.jpg"
Content-Transfer-Encoding: base64
Content-ID: <f_m7x1a2b41>
X-Attachment-Id: f_m7x1a2b41

`+b64(photoJPG)+`--000000000000a1b2c3d4e5f60718--
`)

	// 08 -------------------------------------------------------------------
	// Two zero-byte attachments: one with an empty line before the closing
	// delimiter, one where the delimiter follows the header block directly.
	addCRLF("08-attachment-zero-byte.eml", `From: Fiona Fox <fiona@example.org>
To: support@example.net
Subject: Export produced empty files
Date: Fri, 7 Mar 2025 09:00:00 +0100
Message-ID: <20250307090000.empty.fiona@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="=_empty_boundary_01"

--=_empty_boundary_01
Content-Type: text/plain; charset=us-ascii

The export produced two empty files, attached as they came out.

--=_empty_boundary_01
Content-Type: text/plain; charset=us-ascii; name="empty.txt"
Content-Disposition: attachment; filename="empty.txt"
Content-Transfer-Encoding: base64


--=_empty_boundary_01
Content-Type: application/octet-stream; name="empty.bin"
Content-Disposition: attachment; filename="empty.bin"; size=0
Content-Transfer-Encoding: base64

--=_empty_boundary_01--
`)

	// 09 -------------------------------------------------------------------
	addCRLF("09-attachment-same-filename.eml", `From: Gustav Gray <gustav@example.com>
To: support@example.net
Subject: Two scans
Date: Fri, 7 Mar 2025 09:30:00 +0100
Message-ID: <20250307093000.scans.gustav@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="scan-boundary-9f8e7d"

--scan-boundary-9f8e7d
Content-Type: text/plain; charset=utf-8

Both pages came out of the scanner as "scan.pdf", sorry.

--scan-boundary-9f8e7d
Content-Type: application/pdf; name="scan.pdf"
Content-Disposition: attachment; filename="scan.pdf"
Content-Transfer-Encoding: base64

`+b64(pdf("Scan page 1 of 2"))+`
--scan-boundary-9f8e7d
Content-Type: application/pdf; name="scan.pdf"
Content-Disposition: attachment; filename="scan.pdf"
Content-Transfer-Encoding: base64

`+b64(pdf("Scan page 2 of 2"))+`
--scan-boundary-9f8e7d--
`)

	// 10 -------------------------------------------------------------------
	l1 := charmap.ISO8859_1
	addCRLF("10-iso-8859-1-german.eml", `From: `+qword("ISO-8859-1", enc(l1, "Jürgen Müller"))+` <juergen.mueller@example.com>
To: `+qword("ISO-8859-1", enc(l1, "Björn Weiß"))+` <bjoern.weiss@example.net>
Subject: `+qword("ISO-8859-1", enc(l1, "Rückfrage zur Bestellung für Müller & Söhne"))+`
Date: Mon, 10 Mar 2025 08:05:33 +0100
Message-ID: <4f2a9c31.20250310080533@mail.example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-8859-1
Content-Transfer-Encoding: quoted-printable
X-Mailer: Example Mail Client 7.2

`+qp(enc(l1, `Sehr geehrte Damen und Herren,

ich möchte mich nach dem Status meiner Bestellung Nr. 2025-117 erkundigen.
Die Lieferung in Größe XL war für Dienstag angekündigt, ist aber bisher
nicht eingetroffen.

Könnten Sie bitte prüfen, ob die Ware bereits verschickt wurde? Außerdem
hätte ich gern eine Rechnung über 149,90 EUR (inkl. 19 % MwSt.).

Übrigens: Die Straße heißt »Am Bärenzwinger 5«, nicht »Am Barenzwinger«.
Lagerung bei max. 25 °C laut § 4 der AGB; Anteil ½, © Müller & Söhne.

Mit freundlichen Grüßen
Jürgen Müller
`)))

	// 11 -------------------------------------------------------------------
	w1252 := charmap.Windows1252
	addCRLF("11-windows-1252.eml", `From: `+qword("windows-1252", enc(w1252, "Zoë O’Brien"))+` <zoe.obrien@example.com>
To: support@example.net
Subject: `+qword("windows-1252", enc(w1252, "“Angebot” – 500 € netto"))+`
Date: Mon, 10 Mar 2025 09:12:00 +0100
Message-ID: <000001db9182$4a5b6c70$df0e1250$@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset="windows-1252"
Content-Transfer-Encoding: 8bit
X-Mailer: Microsoft Outlook 16.0
Content-Language: en-gb

`+enc(w1252, `Hello,

as discussed, here is our “final” offer – we can’t go lower than 500 € net.
That’s a 12 ‰ discount on last year’s price… and it’s our best one™.

• Delivery: 2 weeks — maybe 3
• Payment: 30 days
• Contact: Zoë O’Brien, Œuvre Š.p.A., Ÿvelines office

Regards,
Zoë
`))

	// 12 -------------------------------------------------------------------
	// Labelled ISO-8859-1 but the body and subject contain Windows-1252 bytes
	// in 0x80–0x9F (€ 0x80, „ 0x84, … 0x85, “ 0x93, ” 0x94, – 0x96).
	addCRLF("12-iso-8859-1-with-cp1252-bytes.eml", `From: Hanna Huber <hanna.huber@example.com>
To: support@example.net
Subject: `+qword("iso-8859-1", enc(w1252, "Preis: 99 € – „Sonderangebot“"))+`
Date: Mon, 10 Mar 2025 10:40:00 +0100
Message-ID: <002a01db9190$1c2d3e40$5a6b7c80$@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: 8bit
X-Mailer: Microsoft Outlook Express 6.00.2900.5931

`+enc(w1252, `Hallo,

der Preis beträgt 99 € – das ist unser „Sonderangebot“ für Stammkunden…
Bitte bestätigen Sie bis Freitag, dass Sie das “Angebot” annehmen.

Grüße
Hanna Huber
`))

	// 13 -------------------------------------------------------------------
	jis := japanese.ISO2022JP
	addCRLF("13-iso-2022-jp.eml", `From: `+bword("ISO-2022-JP", enc(jis, "山田 太郎"))+` <yamada@example.com>
To: support@example.net
Subject: `+bword("ISO-2022-JP", enc(jis, "お見積もりの"))+`
 `+bword("ISO-2022-JP", enc(jis, "ご依頼について"))+`
Date: Tue, 11 Mar 2025 10:15:30 +0900
Message-ID: <20250311101530.1234.yamada@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-2022-JP
Content-Transfer-Encoding: 7bit
X-Mailer: Example Mailer for Japan 2.0

`+enc(jis, `サポートご担当者様

いつもお世話になっております。
山田商事の山田太郎です。

先日お問い合わせした件について、お見積もりをお願いできますでしょうか。
数量は１２０個、納期は４月末を希望しております。

ご確認のほど、よろしくお願いいたします。

山田 太郎
`))

	// 14 -------------------------------------------------------------------
	koi := charmap.KOI8R
	addCRLF("14-koi8-r.eml", `From: `+bword("KOI8-R", enc(koi, "Иван Петров"))+` <ivan.petrov@example.org>
To: support@example.net
Subject: `+bword("KOI8-R", enc(koi, "Вопрос по заказу 1542"))+`
Date: Tue, 11 Mar 2025 12:00:00 +0300
Message-ID: <1741683600.542318@mail.example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=KOI8-R
Content-Transfer-Encoding: 8bit

`+enc(koi, `Здравствуйте!

Я оформил заказ 1542 на прошлой неделе, но до сих пор не получил письмо
с подтверждением. Подскажите, пожалуйста, когда ожидается отправка?

Также прошу выставить счёт на организацию "Пример".

С уважением,
Иван Петров
`))

	// 15 -------------------------------------------------------------------
	// 8-bit Shift_JIS. Several characters have 0x5C ('\') as second byte:
	// ソ 83 5C, 表 95 5C, 能 94 5C, 予 97 5C, 十 8F 5C.
	sjis := japanese.ShiftJIS
	addCRLF("15-shift-jis.eml", `From: `+bword("Shift_JIS", enc(sjis, "佐藤 花子"))+` <sato.hanako@example.com>
To: support@example.net
Subject: `+bword("Shift_JIS", enc(sjis, "表示ソフトの不具合について"))+`
Date: Tue, 11 Mar 2025 18:20:45 +0900
Message-ID: <20250311182045.5C5C@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=Shift_JIS
Content-Transfer-Encoding: 8bit

`+enc(sjis, `サポートご担当者様

いつもお世話になっております。佐藤です。

表示ソフトの画面が正しく表示されない不具合が発生しています。
機能の予定表を確認しましたが、十分な能力がないためか解決できませんでした。

お手数ですが、ご確認をお願いいたします。

佐藤 花子
`))

	// 16 -------------------------------------------------------------------
	// Subject decodes to "Re: Grüße aus Köln, Straße – Übersicht":
	// plain text and encoded-words separated by spaces keep the space,
	// adjacent encoded-words (separated only by whitespace/folding) join.
	// The second To address splits "€" across two B-encoded words, which
	// RFC 2047 forbids but some mailers do.
	euro := "Preis €10"
	addCRLF("16-rfc2047-headers.eml", `From: `+bword("UTF-8", "Élodie Dupont")+` <elodie@example.org>
To: `+qword("iso-8859-1", enc(l1, "François Lévesque"))+` <francois@example.com>,
 `+bword("UTF-8", euro[:7])+` `+bword("UTF-8", euro[7:])+` <prices@example.com>
Cc: "`+qword("UTF-8", "Müller, Hans")+`" <hans.mueller@example.com>,
 `+strings.ToLower(qword("utf-8", "Ørsted Ågård"))+` <orsted@example.net>
Subject: Re: `+bword("UTF-8", "Grüße")+` aus `+qword("ISO-8859-1", enc(l1, "Köln"))+`
 `+qword("UTF-8", ", Straße")+`	`+strings.Replace(bword("utf-8", " – Übersicht"), "?B?", "?b?", 1)+`
Date: Wed, 12 Mar 2025 14:00:00 +0100
Message-ID: <rfc2047-test.20250312140000@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 8bit

Bonjour,

the subject and display names of this message are RFC 2047 encoded.
The subject should read: Re: Grüße aus Köln, Straße – Übersicht

Élodie
`)

	// 17 -------------------------------------------------------------------
	addCRLF("17-rfc2231-filenames.eml", `From: Ines Iversen <ines@example.com>
To: support@example.net
Subject: Rates and quarterly overview
Date: Wed, 12 Mar 2025 15:30:00 +0100
Message-ID: <rfc2231-test.20250312153000@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="rfc2231-boundary"

--rfc2231-boundary
Content-Type: text/plain; charset=utf-8

Four attachments whose names use RFC 2231 parameter encoding.

--rfc2231-boundary
Content-Type: application/pdf
Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf
Content-Transfer-Encoding: base64

`+b64(pdf("EUR rates"))+`
--rfc2231-boundary
Content-Type: application/pdf;
 name*0*=UTF-8''Quartalsbericht%20%C3%9Cbersicht%20;
 name*1*=2025%20%E2%80%93%20;
 name*2="Q1 final.pdf"
Content-Disposition: attachment;
 filename*0*=UTF-8''Quartalsbericht%20%C3%9Cbersicht%20;
 filename*1*=2025%20%E2%80%93%20;
 filename*2="Q1 final.pdf"
Content-Transfer-Encoding: base64

`+b64(pdf("Quarterly overview Q1"))+`
--rfc2231-boundary
Content-Type: text/plain; charset=us-ascii
Content-Disposition: attachment;
 filename*0="a-very-long-file-name-that-has-been-split-";
 filename*1="across-two-parameter-sections.txt"

plain continuation without charset

--rfc2231-boundary
Content-Type: text/plain; charset=iso-8859-1
Content-Disposition: attachment; filename*=iso-8859-1'de'Gr%FC%DFe.txt
Content-Transfer-Encoding: quoted-printable

`+qp(enc(l1, "Viele Grüße!\n"))+`
--rfc2231-boundary--
`)

	// 18 -------------------------------------------------------------------
	// Outlook-style RFC 2047 encoded-words inside quoted name/filename
	// parameters (not allowed by RFC 2047 §5, but very common).
	docName := "Übersicht Straße – März 2025.pdf"
	docPDF := pdf("Overview March 2025")
	addCRLF("18-rfc2047-filename-outlook.eml", `From: Jan Jansen <jan.jansen@example.com>
To: "support@example.net" <support@example.net>
Subject: Overview for March
Thread-Topic: Overview for March
Thread-Index: AduTQ0hPdmVydmlldyBmYWtlIGlk
Date: Thu, 13 Mar 2025 09:45:10 +0000
Message-ID: <DB9PR02MB7788AABBCCDDEEFF00112233@DB9PR02MB7788.eurprd02.prod.example.com>
Accept-Language: en-US
Content-Language: en-US
X-MS-Has-Attach: yes
X-MS-TNEF-Correlator:
Content-Type: multipart/mixed;
	boundary="_002_DB9PR02MB7788AABBCCDDEEFF00112233_"
MIME-Version: 1.0

--_002_DB9PR02MB7788AABBCCDDEEFF00112233_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Please see attached.

--_002_DB9PR02MB7788AABBCCDDEEFF00112233_
Content-Type: application/pdf;
	name="`+bword("utf-8", docName)+`"
Content-Description: `+bword("utf-8", docName)+`
Content-Disposition: attachment;
	filename="`+bword("utf-8", docName)+`"; size=`+fmt.Sprint(len(docPDF))+`;
	creation-date="Thu, 13 Mar 2025 09:44:58 GMT";
	modification-date="Thu, 13 Mar 2025 09:44:58 GMT"
Content-Transfer-Encoding: base64

`+b64(docPDF)+`
--_002_DB9PR02MB7788AABBCCDDEEFF00112233_
Content-Type: text/plain; charset="iso-8859-1";
	name="`+qword("iso-8859-1", enc(l1, "Rückmeldung"))+` `+qword("iso-8859-1", " Lieferung.txt")+`"
Content-Disposition: attachment;
	filename="`+qword("iso-8859-1", enc(l1, "Rückmeldung"))+` `+qword("iso-8859-1", " Lieferung.txt")+`"
Content-Transfer-Encoding: quoted-printable

`+qp(enc(l1, "Lieferung vollständig erhalten.\n"))+`
--_002_DB9PR02MB7788AABBCCDDEEFF00112233_--
`)

	// 19 -------------------------------------------------------------------
	inner := `From: Kim Customer <kim@example.org>
To: Sales <sales@example.com>
Subject: Delivery delayed again
Date: Wed, 12 Mar 2025 07:55:00 +0100
Message-ID: <inner-message.20250312075500@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="inner-boundary-42"

--inner-boundary-42
Content-Type: text/plain; charset=utf-8

Hello, my delivery is delayed for the second time. Tracking note attached.
Kim

--inner-boundary-42
Content-Type: application/pdf; name="tracking.pdf"
Content-Disposition: attachment; filename="tracking.pdf"
Content-Transfer-Encoding: base64

` + b64(pdf("Tracking 00340434161234567890")) + `
--inner-boundary-42--
`
	addCRLF("19-forward-as-attachment.eml", `Content-Type: multipart/mixed; boundary="------------fwdAttach7Hq2Lm9Xc4Vb"
Message-ID: <e0a1b2c3-fwd-4d5e-8f90-123456789abc@example.com>
Date: Wed, 12 Mar 2025 09:10:00 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
To: support@example.net
From: Sales Desk <sales@example.com>
Subject: Fwd: Delivery delayed again

This is a multi-part message in MIME format.
--------------fwdAttach7Hq2Lm9Xc4Vb
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 7bit

FYI, see the attached message from our customer.

--------------fwdAttach7Hq2Lm9Xc4Vb
Content-Type: message/rfc822; charset=UTF-8; name="Delivery delayed again.eml"
Content-Disposition: attachment; filename="Delivery delayed again.eml"
Content-Transfer-Encoding: 7bit

`+inner+`
--------------fwdAttach7Hq2Lm9Xc4Vb--
`)

	// 20 -------------------------------------------------------------------
	addCRLF("20-forward-inline.eml", `MIME-Version: 1.0
Date: Wed, 12 Mar 2025 09:20:00 +0100
Message-ID: <CAFwd1nl1ne0x7Yq2Lm9Xc4Vb8Nz3Kd5Pq6Rs7Tu8Vw9@mail.example.com>
Subject: Fwd: Broken delivery
From: Sales Desk <sales@example.com>
To: support@example.net
Content-Type: text/plain; charset="UTF-8"

FYI, forwarding inline.

---------- Forwarded message ---------
From: Lena Lind <lena.lind@example.org>
Date: Tue, 11 Mar 2025 at 18:02
Subject: Broken delivery
To: <sales@example.com>


Hello,

the chair arrived with a broken leg. What now?

Lena
`)

	// 21 -------------------------------------------------------------------
	addCRLF("21-missing-message-id.eml", `To: support@example.net
Subject: Contact form: callback request
From: Website <noreply@example.com>
Reply-To: Max Mustermann <max@example.org>
Date: Thu, 13 Mar 2025 11:11:11 +0100
X-Mailer: PHP/8.2.12
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 8bit

Name: Max Mustermann
E-Mail: max@example.org
Message: Please call me back tomorrow morning.

(This message was sent by a web form and has no Message-ID header.)
`)

	// 22 -------------------------------------------------------------------
	addCRLF("22-missing-date.eml", `From: Monitoring <monitor@example.com>
To: support@example.net
Subject: Disk usage above 90% on app01
Message-ID: <monitor.app01.disk.1741860000@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Disk /var on app01 is 91% full.
This alert has no Date header.
`)

	// 23 -------------------------------------------------------------------
	addCRLF("23-invalid-date.eml", `From: Nora North <nora@example.org>
To: support@example.net
Subject: Meeting notes
Date: yesterday at noon
Message-ID: <invalid-date.nora@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

The Date header of this message is not an RFC 5322 date.
`)

	// 24 -------------------------------------------------------------------
	addCRLF("24-date-obsolete-zone-no-seconds.eml", `From: Oscar Owens <oscar@example.com>
To: support@example.net
Subject: Old-style date header
Date: Fri, 14 Mar 2025 14:05 EST
Message-ID: <obs-zone.oscar.20250314@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

The Date header uses the obsolete zone "EST" (= -0500) and has no seconds.
Expected instant: 2025-03-14T19:05:00Z.
`)

	// 25 -------------------------------------------------------------------
	addCRLF("25-missing-from.eml", `Return-Path: <bounces@example.net>
To: support@example.net
Subject: Message without a From header
Date: Fri, 14 Mar 2025 15:00:00 +0100
Message-ID: <no-from.20250314150000@example.net>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

This message has no From header (and no Sender header either).
`)

	// 26 -------------------------------------------------------------------
	addCRLF("26-folded-headers.eml", `From: Paula Park
 <paula.park@example.com>
To: Anna Adams <anna.adams@example.com>, "Berg, Bernd" <bernd.berg@example.com>,
	Carla Castro <carla.castro@example.org>, dieter.dahl@example.org,
	"Eve Evans (Accounting)" <eve.evans@example.net>,
	`+qword("UTF-8", "Françoise Fabre")+`
	<francoise.fabre@example.net>, support@example.net
Cc: Gina Green <gina.green@example.com>,
 Henry Hill <henry.hill@example.com>
Subject: Re: AW: WG: Request for a quotation regarding the maintenance
 contract for the ventilation systems in buildings A, B and C
 (ticket 2025-0311)
Date: Mon, 17 Mar 2025
 08:00:00 +0100
Message-ID:
 <folded-headers.20250317080000@example.com>
MIME-Version: 1.0
Content-Type: text/plain;
	charset="utf-8"
Content-Transfer-Encoding: 7bit

Subject, To, Cc, From, Date, Message-ID and Content-Type of this message are
folded over several lines.
`)

	// 27 -------------------------------------------------------------------
	var refs []string
	for i := 0; len(strings.Join(refs, " ")) < 5000; i++ {
		refs = append(refs, fmt.Sprintf("<thread-%04d.%08x@mail.example.org>", i, uint32(i)*2654435761))
	}
	longSubject := "Re: "
	for i := 1; len(longSubject) < 2000; i++ {
		longSubject += fmt.Sprintf("part %d of a very long subject line; ", i)
	}
	longSubject = strings.TrimRight(longSubject[:1999], " ;")
	for len(longSubject) < 2000 {
		longSubject += "."
	}
	addCRLF("27-very-long-headers.eml", `From: Quinn Quest <quinn@example.org>
To: support@example.net
Subject: `+longSubject+`
Date: Mon, 17 Mar 2025 09:00:00 +0100
Message-ID: <long-headers.20250317090000@example.org>
In-Reply-To: `+refs[len(refs)-1]+`
References: `+strings.Join(refs, " ")+`
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

The References header is a single line of `+fmt.Sprint(len(strings.Join(refs, " ")))+` characters and the
Subject a single line of 2000 characters.
`)

	// 28 -------------------------------------------------------------------
	addCRLF("28-broken-missing-closing-boundary.eml", `From: Rita Rose <rita@example.com>
To: support@example.net
Subject: Contract draft
Date: Mon, 17 Mar 2025 10:00:00 +0100
Message-ID: <no-closing-boundary.rita@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="unclosed-boundary-77"

--unclosed-boundary-77
Content-Type: text/plain; charset=utf-8

The contract draft is attached. (The closing boundary of this message is missing.)

--unclosed-boundary-77
Content-Type: application/pdf; name="contract-draft.pdf"
Content-Disposition: attachment; filename="contract-draft.pdf"
Content-Transfer-Encoding: base64

`+b64(pdf("Contract draft v3")))

	// 29 -------------------------------------------------------------------
	addCRLF("29-broken-unused-boundary.eml", `From: Sam Stone <sam@example.org>
To: support@example.net
Subject: Boundary declared but never used
Date: Mon, 17 Mar 2025 10:30:00 +0100
Message-ID: <unused-boundary.sam@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="this-boundary-never-appears"

Hello,

the Content-Type of this message says multipart/mixed, but the body is plain
text and the boundary never appears in it.

Sam
`)

	// 30 -------------------------------------------------------------------
	addCRLF("30-broken-part-without-headers.eml", `From: Tara Teal <tara@example.com>
To: support@example.net
Subject: Parts without headers
Date: Mon, 17 Mar 2025 11:00:00 +0100
Message-ID: <headerless-parts.tara@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="hdrless"

--hdrless

First part: an empty header block (just a blank line after the boundary),
which RFC 2046 says means text/plain; charset=us-ascii.

--hdrless
Second part: no blank line at all, the text starts right after the boundary
so a parser has to decide whether these lines are headers.

--hdrless
Content-Type: text/plain; charset=us-ascii

Third part: a normal part with headers.

--hdrless--
`)

	// 31 -------------------------------------------------------------------
	// Base64 with junk: (a) a text body with "!", "*" and "%" inserted in
	// the middle (removing them restores the original text); (b) a PDF
	// with "@@" and "#" inserted; (c) a text attachment truncated so that
	// the data ends one character into a 4-character group (undecodable).
	garbled := func(data []byte, inserts map[int]string) string {
		lines := strings.Split(strings.TrimSuffix(b64(data), "\n"), "\n")
		for ln, junk := range inserts {
			l := lines[ln]
			lines[ln] = l[:len(l)/2] + junk + l[len(l)/2:]
		}
		return strings.Join(lines, "\n") + "\n"
	}
	text31 := []byte("This text body was base64 encoded and then had junk characters inserted\n" +
		"in the middle of its lines. A tolerant decoder that skips the junk gets\n" +
		"this text back unchanged.\n")
	trunc := base64.StdEncoding.EncodeToString([]byte("truncated attachment content"))
	trunc = trunc[:len(trunc)-3] // 40 chars -> 37: 37 % 4 == 1
	addCRLF("31-base64-invalid-chars.eml", `From: Uma Urban <uma@example.org>
To: support@example.net
Subject: Base64 with garbage
Date: Mon, 17 Mar 2025 12:00:00 +0100
Message-ID: <base64-garbage.uma@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b64-garbage"

--b64-garbage
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: base64

`+garbled(text31, map[int]string{0: "!!!", 1: "*", 2: "%"})+`
--b64-garbage
Content-Type: application/pdf; name="garbled.pdf"
Content-Disposition: attachment; filename="garbled.pdf"
Content-Transfer-Encoding: base64

`+garbled(pdf("Garbled but recoverable"), map[int]string{1: "@@", 3: "#"})+`
--b64-garbage
Content-Type: text/plain; charset=us-ascii; name="truncated.txt"
Content-Disposition: attachment; filename="truncated.txt"
Content-Transfer-Encoding: base64

`+trunc+`
--b64-garbage--
`)

	// 32 -------------------------------------------------------------------
	text32 := []byte("Base64 body without padding.\n") // 29 bytes -> 40 chars incl. "=" padding
	png32 := logoPNG
	addCRLF("32-base64-missing-padding.eml", `From: Victor Vance <victor@example.com>
To: support@example.net
Subject: Base64 without padding
Date: Mon, 17 Mar 2025 12:30:00 +0100
Message-ID: <base64-nopad.victor@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b64-nopad"

--b64-nopad
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: base64

`+strings.TrimRight(b64(text32), "=\n")+`
--b64-nopad
Content-Type: image/png; name="nopad.png"
Content-Disposition: attachment; filename="nopad.png"
Content-Transfer-Encoding: base64

`+strings.TrimRight(b64(png32), "=\n")+`
--b64-nopad--
`)

	// 33 -------------------------------------------------------------------
	addCRLF("33-tnef-winmail-dat.eml", `From: Walter White <walter.white@example.com>
To: "support@example.net" <support@example.net>
Subject: Document as requested
Thread-Topic: Document as requested
Date: Tue, 18 Mar 2025 08:15:00 +0000
Message-ID: <VI1PR04MB5566778899AABBCCDDEEFF00@VI1PR04MB5566.eurprd04.prod.example.com>
Accept-Language: en-US
Content-Language: en-US
X-MS-Has-Attach: yes
X-MS-TNEF-Correlator: <VI1PR04MB5566778899AABBCCDDEEFF00@VI1PR04MB5566.eurprd04.prod.example.com>
Content-Type: multipart/mixed;
	boundary="_002_VI1PR04MB5566778899AABBCCDDEEFF00_"
MIME-Version: 1.0

--_002_VI1PR04MB5566778899AABBCCDDEEFF00_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Hello, the document is attached (your mail client may only show winmail.dat).

--_002_VI1PR04MB5566778899AABBCCDDEEFF00_
Content-Type: application/ms-tnef; name="winmail.dat"
Content-Disposition: attachment; filename="winmail.dat"
Content-Transfer-Encoding: base64

`+b64(winmailDat())+`
--_002_VI1PR04MB5566778899AABBCCDDEEFF00_--
`)

	// 34 -------------------------------------------------------------------
	addCRLF("34-cc-bcc.eml", `From: Xenia Xu <xenia.xu@example.com>
To: Support <support@example.net>, Yusuf Yilmaz <yusuf@example.org>
Cc: "Müller, Hans" <hans.mueller@example.com>,
 `+qword("UTF-8", "Jörg Schäfer")+` <joerg@example.org>, plain@example.net,
 "Team Lead (ext.)" <lead@example.net>
Bcc: "Audit Archive" <archive@example.net>, hidden@example.com
Reply-To: Xenia Xu <replies@example.com>
Subject: Escalation: ticket 2025-0318
Date: Tue, 18 Mar 2025 09:00:00 +0100
Message-ID: <cc-bcc.20250318090000@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 8bit

Escalating this ticket to everyone in Cc; the archive is in Bcc.
(The first Cc display name is raw UTF-8 inside quotes, the second is
RFC 2047 encoded.)
`)

	// 35 -------------------------------------------------------------------
	addCRLF("35-empty-subject.eml", `From: Yara Young <yara@example.org>
To: support@example.net
Subject:
Date: Tue, 18 Mar 2025 10:00:00 +0100
Message-ID: <empty-subject.yara@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

This message has a Subject header with an empty value.
`)

	// 36 -------------------------------------------------------------------
	addCRLF("36-no-subject.eml", `From: Zack Zimmer <zack@example.com>
To: undisclosed-recipients:;
Date: Tue, 18 Mar 2025 10:30:00 +0100
Message-ID: <no-subject.zack@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

This message has no Subject header at all, and its To header is the empty
group "undisclosed-recipients:;" (the real recipient was in Bcc).
`)

	// 37 -------------------------------------------------------------------
	addCRLF("37-html-script-style.eml", `From: Example Newsletter <news@example.com>
To: support@example.net
Subject: Spring update
Date: Wed, 19 Mar 2025 07:00:00 +0000
Message-ID: <newsletter-2025-03.support@example.com>
MIME-Version: 1.0
List-Unsubscribe: <mailto:unsubscribe@example.com?subject=unsubscribe>
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

`+qp(`<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>Spring update</title>
<style type="text/css">
body { font-family: Arial, sans-serif; color: #333333; }
.button { background-color: #0066cc; color: #ffffff; padding: 10px 20px; }
@media only screen and (max-width: 600px) { .column { width: 100% !important; } }
</style>
<script type="text/javascript">
  window.onload = function () { document.getElementById("promo").innerText = "loaded"; };
  if (1 < 2 && 3 > 2) { console.log("SCRIPT-MARKER must not reach bodyPlain"); }
</script>
</head>
<body>
<!-- HTML-COMMENT-MARKER: must not appear in bodyPlain -->
<h1>Spring update</h1>
<p>Hello,</p>
<p>Our offices will be closed on <strong>Friday</strong>, 21 March.</p>
<p id="promo" class="button"><a href="https://www.example.com/news">Read more</a></p>
<style>.late-style { color: red; } /* STYLE-IN-BODY-MARKER */</style>
<p onclick="alert('x')">Click &amp; win &lt;nothing&gt;</p>
<img src="https://tracking.example.com/pixel.gif?id=123" width="1" height="1" alt="">
</body>
</html>
`))

	// 38 -------------------------------------------------------------------
	addCRLF("38-attachment-without-filename.eml", `From: Alan Archer <alan@example.org>
To: support@example.net
Subject: Attachments without names
Date: Wed, 19 Mar 2025 11:00:00 +0100
Message-ID: <nameless-attachments.alan@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="nameless"

--nameless
Content-Type: text/plain; charset=us-ascii

Three attachments, none of which has a file name.

--nameless
Content-Type: application/pdf
Content-Disposition: attachment
Content-Transfer-Encoding: base64

`+b64(pdf("Nameless PDF"))+`
--nameless
Content-Type: image/png
Content-Transfer-Encoding: base64

`+b64(pixelPNG)+`
--nameless
Content-Type: text/csv; charset=utf-8
Content-Disposition: attachment

id,name
1,Widget
--nameless--
`)

	// 39 -------------------------------------------------------------------
	addCRLF("39-octet-stream-name-param.eml", `From: Beth Baker <beth@example.com>
To: support@example.net
Subject: Monthly report
Date: Wed, 19 Mar 2025 12:00:00 +0100
Message-ID: <octet-stream.beth@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="octet"

--octet
Content-Type: text/plain; charset=us-ascii

Report attached. The attachment has no Content-Disposition; its name is
only in the Content-Type name parameter.

--octet
Content-Type: application/octet-stream; name="report.xlsx"
Content-Transfer-Encoding: base64

`+b64(xlsx())+`
--octet--
`)

	// 40 -------------------------------------------------------------------
	// Bare LF line endings throughout (as saved by some Unix tools).
	add("40-bare-lf.eml", []byte(`From: Cody Cole <cody@example.net>
To: support@example.net
Subject: Saved with Unix line endings
Date: Thu, 20 Mar 2025 08:00:00 +0100
Message-ID: <bare-lf.cody@example.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="lf-only"

--lf-only
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Every line of this message ends in a bare LF, not CRLF.
Gr=C3=BC=C3=9Fe, Cody

--lf-only
Content-Type: application/pdf; name="lf.pdf"
Content-Disposition: attachment; filename="lf.pdf"
Content-Transfer-Encoding: base64

`+b64(pdf("Bare LF"))+`
--lf-only--
`))

	// 41 -------------------------------------------------------------------
	// 8-bit UTF-8 everywhere, charset never declared: raw UTF-8 in Subject
	// and From display name (as RFC 6532 allows) and no charset parameter.
	addCRLF("41-undeclared-8bit-utf8.eml", `From: Dörte Däumling <doerte@example.org>
To: support@example.net
Subject: Rückruf erbeten – Lieferung für Zoë
Date: Thu, 20 Mar 2025 09:00:00 +0100
Message-ID: <undeclared-utf8.doerte@example.org>
MIME-Version: 1.0
Content-Type: text/plain
Content-Transfer-Encoding: 8bit

Hallo,

diese Nachricht ist in UTF-8 geschrieben, aber der Content-Type nennt keinen
Zeichensatz. Umlaute: äöü ÄÖÜ ß, Euro: €, Anführungszeichen: „so“ und “so”.
Ein bisschen mehr Text, damit eine Zeichensatzerkennung genug Material hat:
Größe, Übergröße, Maßanfertigung, schöne Grüße aus Köln und München.

Dörte
`)

	// 42 -------------------------------------------------------------------
	addCRLF("42-unknown-charset.eml", `From: Ella Eck <ella@example.com>
To: support@example.net
Subject: =?x-unknown-foo?Q?Unknown_charset_label?=
Date: Thu, 20 Mar 2025 10:00:00 +0100
Message-ID: <unknown-charset.ella@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=x-unknown-foo
Content-Transfer-Encoding: 8bit

This part declares charset=x-unknown-foo, which no decoder knows.
The bytes are actually UTF-8: café.
`)

	// 43 -------------------------------------------------------------------
	addCRLF("43-inline-image-without-cid.eml", `From: Felix Frost <felix@example.net>
To: support@example.net
Subject: Picture of the error
Date: Thu, 20 Mar 2025 11:00:00 +0100
Message-ID: <inline-no-cid.felix@example.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="inline-nocid-outer"

--inline-nocid-outer
Content-Type: multipart/alternative; boundary="inline-nocid-alt"

--inline-nocid-alt
Content-Type: text/plain; charset=us-ascii

The picture is below (it is an inline part, but nothing references it).

--inline-nocid-alt
Content-Type: text/html; charset=us-ascii

<p>The picture is below (it is an inline part, but nothing references it).</p>

--inline-nocid-alt--

--inline-nocid-outer
Content-Type: image/png; name="error.png"
Content-Disposition: inline; filename="error.png"
Content-Transfer-Encoding: base64

`+b64(pixelPNG)+`
--inline-nocid-outer--
`)

	// 44 -------------------------------------------------------------------
	addCRLF("44-text-attachment-text.eml", `From: Greta Gold <greta@example.org>
To: support@example.net
Subject: Text before and after the attachment
Date: Thu, 20 Mar 2025 12:00:00 +0100
Message-ID: <text-att-text.greta@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="interleaved"

--interleaved
Content-Type: text/plain; charset=us-ascii

Here is the delivery note:

--interleaved
Content-Type: application/pdf; name="delivery-note.pdf"
Content-Disposition: attachment; filename="delivery-note.pdf"
Content-Transfer-Encoding: base64

`+b64(pdf("Delivery note"))+`
--interleaved
Content-Type: text/plain; charset=us-ascii

And this text comes after the attachment. Please confirm receipt.
Greta

--interleaved--
`)

	// 45 -------------------------------------------------------------------
	// Apple Mail rich text with an attachment in the middle:
	// alternative { plain, mixed { html, pdf, html } }.
	addCRLF("45-apple-html-attachment-html.eml", `From: Hugo Hart <hugo@example.com>
Content-Type: multipart/alternative;
	boundary="Apple-Mail=_11111111-2222-3333-4444-555555555555"
Mime-Version: 1.0 (Mac OS X Mail 16.0 \(3826.400.131.1.6\))
Subject: Signed form
Date: Thu, 20 Mar 2025 13:00:00 +0100
Message-Id: <A0B1C2D3-E4F5-4607-8899-AABBCCDDEE45@example.com>
To: support@example.net
X-Mailer: Apple Mail (2.3826.400.131.1.6)


--Apple-Mail=_11111111-2222-3333-4444-555555555555
Content-Transfer-Encoding: 7bit
Content-Type: text/plain;
	charset=us-ascii

Here is the signed form:

And this is the text after the attachment.
Hugo

--Apple-Mail=_11111111-2222-3333-4444-555555555555
Content-Type: multipart/mixed;
	boundary="Apple-Mail=_66666666-7777-8888-9999-AAAAAAAAAAAA"


--Apple-Mail=_66666666-7777-8888-9999-AAAAAAAAAAAA
Content-Transfer-Encoding: 7bit
Content-Type: text/html;
	charset=us-ascii

<html><head><meta http-equiv="content-type" content="text/html; charset=us-ascii"></head><body style="overflow-wrap: break-word;">Here is the signed form:<div><br></div><div></div></body></html>
--Apple-Mail=_66666666-7777-8888-9999-AAAAAAAAAAAA
Content-Disposition: attachment;
	filename=signed-form.pdf
Content-Type: application/pdf;
	x-unix-mode=0644;
	name="signed-form.pdf"
Content-Transfer-Encoding: base64

`+b64(pdf("Signed form"))+`
--Apple-Mail=_66666666-7777-8888-9999-AAAAAAAAAAAA
Content-Transfer-Encoding: 7bit
Content-Type: text/html;
	charset=us-ascii

<html><head><meta http-equiv="content-type" content="text/html; charset=us-ascii"></head><body style="overflow-wrap: break-word;"><div></div><div><br></div><div>And this is the text after the attachment.</div><div>Hugo</div></body></html>
--Apple-Mail=_66666666-7777-8888-9999-AAAAAAAAAAAA--

--Apple-Mail=_11111111-2222-3333-4444-555555555555--
`)

	// 46 -------------------------------------------------------------------
	// Modelled on the structure of a Google Calendar invitation:
	// mixed { alternative { plain, html, text/calendar;method=REQUEST }, invite.ics }.
	ics := `BEGIN:VCALENDAR
PRODID:-//Example Corp//Example Calendar 1.0//EN
VERSION:2.0
CALSCALE:GREGORIAN
METHOD:REQUEST
BEGIN:VEVENT
DTSTART:20250327T140000Z
DTEND:20250327T150000Z
DTSTAMP:20250320T090000Z
ORGANIZER;CN=Grace Green:mailto:grace.green@example.com
UID:7f3c2a10-9b4e-4d21-8c6f-1e2d3c4b5a69@example.com
ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=
 TRUE;CN=support@example.net;X-NUM-GUESTS=0:mailto:support@example.net
CREATED:20250320T085900Z
DESCRIPTION:Agenda: account setup\, data import\, questions.
LAST-MODIFIED:20250320T090000Z
LOCATION:https://meet.example.com/abc-defg-hij
SEQUENCE:0
STATUS:CONFIRMED
SUMMARY:Onboarding call
TRANSP:OPAQUE
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:This is an event reminder
TRIGGER:-P0DT0H10M0S
END:VALARM
END:VEVENT
END:VCALENDAR
`
	addCRLF("46-calendar-invite.eml", `MIME-Version: 1.0
Date: Thu, 20 Mar 2025 09:00:00 +0000
Message-ID: <calendar-7f3c2a10-9b4e-4d21-8c6f-1e2d3c4b5a69@example.com>
Subject: Invitation: Onboarding call @ Thu 27 Mar 2025 15:00 - 16:00 (CET)
From: Grace Green <grace.green@example.com>
To: support@example.net
Content-Type: multipart/mixed; boundary="000000000000cal0mixed0000001"

--000000000000cal0mixed0000001
Content-Type: multipart/alternative; boundary="000000000000cal0alt000000001"

--000000000000cal0alt000000001
Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes

You have been invited to the following event.

Onboarding call
When: Thursday 27 March 2025 15:00 - 16:00 (CET)
Joining: https://meet.example.com/abc-defg-hij
Organizer: Grace Green <grace.green@example.com>

--000000000000cal0alt000000001
Content-Type: text/html; charset="UTF-8"

<p>You have been invited to the following event.</p><h2>Onboarding call</h2><p>When: Thursday 27 March 2025 15:00 &ndash; 16:00 (CET)</p>

--000000000000cal0alt000000001
Content-Type: text/calendar; charset="UTF-8"; method=REQUEST
Content-Transfer-Encoding: 7bit

`+ics+`
--000000000000cal0alt000000001--

--000000000000cal0mixed0000001
Content-Type: application/ics; name="invite.ics"
Content-Disposition: attachment; filename="invite.ics"
Content-Transfer-Encoding: base64

`+b64(crlf(ics))+`
--000000000000cal0mixed0000001--
`)

	// 47 -------------------------------------------------------------------
	// Modelled on the structure of a Postfix bounce.
	addCRLF("47-delivery-status-notification.eml", `Return-Path: <>
Received: by mx.example.net (Postfix)
	id 4Z1abc2DefG; Fri, 21 Mar 2025 12:00:05 +0100 (CET)
Date: Fri, 21 Mar 2025 12:00:05 +0100 (CET)
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: support@example.net
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="4Z1abc2DefG.1742554805/mx.example.net"
Content-Transfer-Encoding: 8bit
Message-Id: <20250321110005.4Z1abc2DefG@mx.example.net>

This is a MIME-encapsulated message.

--4Z1abc2DefG.1742554805/mx.example.net
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

                   The mail system

<nobody@example.org>: host mx.example.org[192.0.2.25] said: 550 5.1.1
    <nobody@example.org>: Recipient address rejected: User unknown in virtual
    mailbox table (in reply to RCPT TO command)

--4Z1abc2DefG.1742554805/mx.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: 4Z1abc2DefG
X-Postfix-Sender: rfc822; support@example.net
Arrival-Date: Fri, 21 Mar 2025 12:00:03 +0100 (CET)

Final-Recipient: rfc822; nobody@example.org
Original-Recipient: rfc822;nobody@example.org
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.org
Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.org>: Recipient address
    rejected: User unknown in virtual mailbox table

--4Z1abc2DefG.1742554805/mx.example.net
Content-Description: Undelivered Message
Content-Type: message/rfc822
Content-Transfer-Encoding: 8bit

Return-Path: <support@example.net>
Received: from app.example.net (app.example.net [192.0.2.30])
	by mx.example.net (Postfix) with ESMTP id 4Z1abc2DefG
	for <nobody@example.org>; Fri, 21 Mar 2025 12:00:03 +0100 (CET)
From: Support <support@example.net>
To: nobody@example.org
Subject: Re: Your ticket 2025-0321
Date: Fri, 21 Mar 2025 12:00:02 +0100
Message-ID: <reply-2025-0321@example.net>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hello, your ticket has been resolved.

--4Z1abc2DefG.1742554805/mx.example.net--
`)

	// 48 -------------------------------------------------------------------
	// Modelled on the structure of an Exchange out-of-office reply.
	addCRLF("48-auto-reply.eml", `From: Iris Ivanova <iris@example.com>
To: Support <support@example.net>
Subject: Automatic reply: Your ticket 2025-0322
Thread-Topic: Your ticket 2025-0322
Date: Sat, 22 Mar 2025 08:00:01 +0000
Message-ID: <AS8PR09MB1122334455667788AABB@AS8PR09MB1122.eurprd09.prod.example.com>
In-Reply-To: <ticket-2025-0322@example.net>
References: <ticket-2025-0322@example.net>
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
X-MS-Exchange-Inbox-Rules-Loop: iris@example.com
Content-Language: en-US
Content-Type: multipart/alternative;
	boundary="_000_AS8PR09MB1122334455667788AABB_"
MIME-Version: 1.0

--_000_AS8PR09MB1122334455667788AABB_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

I am out of the office until 31 March with limited access to e-mail.
For urgent matters please contact office@example.com.

--_000_AS8PR09MB1122334455667788AABB_
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

`+qp(`<html><head><meta http-equiv="Content-Type" content="text/html; charset=us-ascii"></head><body><p>I am out of the office until 31 March with limited access to e-mail.<br>For urgent matters please contact <a href="mailto:office@example.com">office@example.com</a>.</p></body></html>`)+`
--_000_AS8PR09MB1122334455667788AABB_--
`)

	for _, more := range registered {
		more(add)
	}
	return fs
}

// registered are the corpus parts of the other files, added by register.
var registered []func(add func(name string, data []byte))

// register adds a part of the corpus; call it from an init function.
func register(part func(add func(name string, data []byte))) {
	registered = append(registered, part)
}
