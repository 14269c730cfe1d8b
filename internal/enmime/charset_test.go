package enmime

import (
	"strings"
	"testing"
	u8 "unicode/utf8"

	"github.com/enneo/mailbridge/internal/enmime/internal/coding"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
)

func encode(t testing.TB, e encoding.Encoding, s string) string {
	out, err := e.NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRawHeaderDecodeAlone(t *testing.T) {
	cases := []struct {
		enc  encoding.Encoding
		text string
		cs   string
	}{
		{simplifiedchinese.GBK, "回复：关于订单发货的问题", "GB"},
		{simplifiedchinese.GBK, "发票扫描件.pdf", "GBK"},
		{japanese.ShiftJIS, "お問い合わせの件について", "SHIFT_JIS"},
		{japanese.ShiftJIS, "見積書.xlsx", "SHIFT_JIS"},
		{charmap.Windows1252, "Réclamation : facture impayée", "WINDOWS-1252"},
		{charmap.Windows1252, "Rückfrage zu Ihrer Bestellung – dringend", "WINDOWS-1252"},
		{charmap.Windows1252, "Übersicht_März.pdf", "WINDOWS-1252"},
		{charmap.Windows1252, "Größe", "WINDOWS-1252"},
	}
	for _, c := range cases {
		raw := encode(t, c.enc, c.text)
		got, note := (*RawHeaderDecoder)(nil).Decode(raw)
		if got != c.text {
			t.Errorf("%q: got %q (%s)", c.text, got, note)
		}
		if !strings.Contains(note, c.cs) {
			t.Errorf("%q: note %q lacks %s", c.text, note, c.cs)
		}
	}
}

func TestRawHeaderDecodeValidAndJIS(t *testing.T) {
	if got, note := (*RawHeaderDecoder)(nil).Decode("Grüße"); got != "Grüße" || note != "" {
		t.Errorf("UTF-8 changed: %q %q", got, note)
	}
	jis := encode(t, japanese.ISO2022JP, "ご注文の件")
	if got, note := (*RawHeaderDecoder)(nil).Decode("Re: " + jis); got != "Re: ご注文の件" || note == "" {
		t.Errorf("ISO-2022-JP: %q %q", got, note)
	}
}

// The message's other headers and its body's declared charset decide a
// header too short to tell on its own.
func TestRawHeaderDecodeMessageWide(t *testing.T) {
	raw := "From: \"" + encode(t, simplifiedchinese.GBK, "张伟") + "\" <z@example.com>\r\n" +
		"Subject: " + encode(t, simplifiedchinese.GBK, "问题") + "\r\n" +
		"Content-Type: text/plain; charset=gb2312\r\n\r\nbody\r\n"
	root, err := ReadParts(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	d := NewRawHeaderDecoder(root)
	got, note := d.Decode(root.Header.Get("Subject"))
	if got != "问题" || !strings.Contains(note, "declared") {
		t.Errorf("got %q (%s)", got, note)
	}
}

func TestRepairEncodedWords(t *testing.T) {
	jis := encode(t, japanese.ISO2022JP, "山田花子")
	split := bword("ISO-2022-JP", jis[:2]) + " " + bword("ISO-2022-JP", jis[2:9]) + "\r\n " + bword("ISO-2022-JP", jis[9:])
	cases := []struct{ in, want, note string }{
		{"=?utf-8?B?w6l0w6k==?=", "été", "padding"},
		{"=?UTF-8?B?Q2Fmw6k=====?= x", "Café x", "padding"},
		{"=?unicode-1-1-utf-7?Q?Fr+APw-hling?=", "Frühling", "UTF-7"},
		{"=?utf-7?B?" + b64("Fr+APw-hling") + "?=", "Frühling", ""},
		{split, "山田花子", "split"},
		{"=?utf-8?Q?Gr=C3=BC=C3=9Fe?=", "Grüße", ""},
		{"plain text", "plain text", ""},
	}
	for _, c := range cases {
		got, notes := coding.DecodeExtHeaderNotes(c.in)
		if got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
		if joined := strings.Join(notes, "; "); c.note == "" && joined != "" || !strings.Contains(joined, c.note) {
			t.Errorf("%q: notes %q, want one about %q", c.in, joined, c.note)
		}
	}
}

func TestUndeclaredBodies(t *testing.T) {
	gbk := encode(t, simplifiedchinese.GBK, "你好：\n我的账户从昨天开始就无法登录了，系统提示密码错误。请尽快帮我处理一下。\n")
	latin := encode(t, charmap.Windows1252, "Bonjour, je conteste la facture de février : le relevé indique une consommation erronée.\n")
	cases := []struct{ name, msg, want, warn string }{
		{"no content-type utf-8", "Subject: x\r\n\r\nPrénom: Zoë\r\n", "Prénom: Zoë", "valid UTF-8"},
		{"us-ascii utf-8", "Content-Type: text/plain; charset=us-ascii\r\n\r\nPrénom: Zoë\r\n", "Prénom: Zoë", "valid UTF-8"},
		{"latin1 utf-8", "Content-Type: text/plain; charset=iso-8859-1\r\n\r\nPrénom: Zoë\r\n", "Prénom: Zoë", "valid UTF-8"},
		{"latin1 latin1", "Content-Type: text/plain; charset=iso-8859-1\r\n\r\n" + latin, "février", ""},
		{"no charset gbk", "Content-Type: text/plain\r\n\r\n" + gbk, "无法登录", "read as gb"},
		{"no content-type latin", "Subject: x\r\n\r\n" + latin, "relevé", "read as windows-1252"},
		{"declared gbk", "Content-Type: text/plain; charset=gbk\r\n\r\n" + gbk, "无法登录", ""},
	}
	for _, c := range cases {
		for _, p := range []Parser{*NewParser(DisableCharacterDetection(true)), *NewParser()} {
			env, err := p.ReadEnvelope(strings.NewReader(c.msg))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(env.Text, c.want) {
				t.Errorf("%s: text %q lacks %q", c.name, env.Text, c.want)
			}
			var warns []string
			for _, e := range env.Errors {
				warns = append(warns, e.Error())
			}
			if w := strings.Join(warns, "; "); c.warn != "" && !strings.Contains(w, c.warn) {
				t.Errorf("%s: warnings %q lack %q", c.name, w, c.warn)
			}
		}
	}
}

func TestUUDecode(t *testing.T) {
	data := []byte("Meter 4711-0815\r\nReading: 12345 kWh\r\n\x00\x01\xfe\xff")
	block := uuencodeForTest("reading.txt", data)
	msg := "Content-Type: text/plain\r\n\r\nHello,\r\n\r\n" + block + "\r\nBye\r\n"
	root, err := ReadParts(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(root.Content), "begin") || !strings.Contains(string(root.Content), "Bye") {
		t.Errorf("text: %q", root.Content)
	}
	c := root.FirstChild
	if c == nil || c.FileName != "reading.txt" || string(c.Content) != string(data) || c.Disposition != "attachment" {
		t.Fatalf("attachment: %+v", c)
	}
	part := "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-uue\r\n\r\n" + block
	root, err = ReadParts(strings.NewReader(part))
	if err != nil {
		t.Fatal(err)
	}
	if root.FileName != "reading.txt" || string(root.Content) != string(data) {
		t.Errorf("x-uue part: %q %q", root.FileName, root.Content)
	}
	// Prose that starts a line with "begin" stays text.
	root, _ = ReadParts(strings.NewReader("Subject: x\r\n\r\nbegin 644 is a mode\r\nnot data\r\n"))
	if root.FirstChild != nil || !strings.Contains(string(root.Content), "begin 644") {
		t.Errorf("prose taken for uuencode: %q", root.Content)
	}
}

func TestDecodeTextBody(t *testing.T) {
	got, notes := DecodeTextBody([]byte("Gr=C3=BC=C3=9Fe, a=3Db and a soft=\r\nbreak"), "Quoted-Printable")
	if got != "Grüße, a=b and a softbreak" || len(notes) == 0 {
		t.Errorf("got %q %q", got, notes)
	}
}

func b64(s string) string {
	return strings.TrimSuffix(strings.TrimPrefix(bword("x", s), "=?x?B?"), "?=")
}

func bword(cs, raw string) string {
	const tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var b strings.Builder
	for i := 0; i < len(raw); i += 3 {
		var g [3]byte
		n := copy(g[:], raw[i:])
		v := uint(g[0])<<16 | uint(g[1])<<8 | uint(g[2])
		for k := 0; k < 4; k++ {
			if k > n {
				b.WriteByte('=')
			} else {
				b.WriteByte(tbl[v>>(18-6*k)&63])
			}
		}
	}
	return "=?" + cs + "?B?" + b.String() + "?="
}

func uuencodeForTest(name string, data []byte) string {
	enc := func(c byte) byte {
		if c == 0 {
			return '`'
		}
		return c + ' '
	}
	var b strings.Builder
	b.WriteString("begin 644 " + name + "\r\n")
	for len(data) > 0 {
		n := min(45, len(data))
		line := data[:n]
		data = data[n:]
		b.WriteByte(enc(byte(n)))
		for i := 0; i < n; i += 3 {
			var g [3]byte
			copy(g[:], line[i:min(i+3, n)])
			b.WriteByte(enc(g[0] >> 2))
			b.WriteByte(enc((g[0]<<4 | g[1]>>4) & 0x3f))
			b.WriteByte(enc((g[1]<<2 | g[2]>>6) & 0x3f))
			b.WriteByte(enc(g[2] & 0x3f))
		}
		b.WriteString("\r\n")
	}
	b.WriteString("`\r\nend\r\n")
	return b.String()
}

func FuzzRawHeaderDecode(f *testing.F) {
	for _, s := range []string{"\xbb\xd8\xb8\xb4\xa3\xba\xb9\xd8\xd3\xda", "\x82\xa8\x96\xe2\x82\xa2", "R\xe9clamation", "\x1b$B;3ED\x1b(B", "plain", "\xff\xfe\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, _ := (*RawHeaderDecoder)(nil).Decode(s)
		if !u8.ValidString(got) {
			t.Fatalf("invalid UTF-8 from %q: %q", s, got)
		}
		got, _ = coding.DecodeExtHeaderNotes(s)
		_ = got
	})
}

func FuzzUUDecode(f *testing.F) {
	f.Add([]byte(uuencodeForTest("a.txt", []byte("hello world"))))
	f.Add([]byte("text\nbegin 644 x\nM\nend\n"))
	f.Add([]byte("begin 0644 \xff.bin\n#86)C\n`\nend\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, bl := range coding.FindUUBlocks(b) {
			if bl.Start < 0 || bl.End > len(b) || bl.Start >= bl.End || len(bl.Data) > len(b) {
				t.Fatalf("bad block %+v of %d bytes", bl, len(b))
			}
		}
		_, data, err := coding.UUDecode(b)
		if err == nil && len(data) > 2*len(b) { // stripped trailing blanks are zero bits
			t.Fatalf("%d bytes decoded from %d", len(data), len(b))
		}
		text, _ := DecodeTextBody(b, "quoted-printable")
		if !u8.ValidString(text) {
			t.Fatalf("invalid UTF-8 text")
		}
	})
}
