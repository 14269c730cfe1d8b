package mapper_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/enneo/mailbridge/internal/hostile"
	"github.com/enneo/mailbridge/mapper"
)

// crlf turns a readable test message into wire form.
func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(strings.TrimLeft(s, "\n"), "\n", "\r\n"))
}

func mapMsg(t *testing.T, raw []byte) *mapper.Result {
	t.Helper()
	res, err := mapper.Map(context.Background(), raw, goldenOptions(t.Name()))
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	return res
}

func TestTextOnlyBecomesEscapedHTML(t *testing.T) {
	res := mapMsg(t, crlf(`
From: "Doe, Jane" <jane@example.com>
To: support@example.com
Subject: a < b & c
Date: Mon, 02 Mar 2026 10:00:00 +0100
Message-ID: <t1@example.com>

Line one <b>not bold</b>
Line two & more
`))
	c := res.Conversation
	if want := "Line one &lt;b&gt;not bold&lt;/b&gt;<br>\nLine two &amp; more"; c.Body != want {
		t.Errorf("body = %q, want %q", c.Body, want)
	}
	if c.BodyPlain != "Line one <b>not bold</b>\nLine two & more" {
		t.Errorf("bodyPlain = %q", c.BodyPlain)
	}
	if c.From != "jane@example.com" || c.FromName != "Doe, Jane" {
		t.Errorf("from = %q %q", c.From, c.FromName)
	}
	if c.Subject != "a < b & c" {
		t.Errorf("subject = %q", c.Subject)
	}
	if c.CreatedAt != "2026-03-02 09:00:00" {
		t.Errorf("createdAt = %q, want the Date in UTC", c.CreatedAt)
	}
	if c.ExternalConversationID != "t1@example.com" {
		t.Errorf("externalConversationId = %q", c.ExternalConversationID)
	}
}

func TestCreatedAtTimezoneIsConfigurable(t *testing.T) {
	raw := crlf(`
From: a@example.com
Date: Mon, 02 Mar 2026 10:00:00 +0000
Message-ID: <tz@example.com>

x
`)
	o := goldenOptions("tz")
	o.Location, _ = time.LoadLocation("Europe/Berlin")
	res, err := mapper.Map(context.Background(), raw, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Conversation.CreatedAt; got != "2026-03-02 11:00:00" {
		t.Errorf("createdAt = %q, want Berlin time", got)
	}
}

func TestMissingOrBadDateFallsBackToReceipt(t *testing.T) {
	for _, date := range []string{"", "Date: yesterday at noon\n"} {
		res := mapMsg(t, crlf("From: a@example.com\nMessage-ID: <d@example.com>\n"+date+"\nbody\n"))
		if got := res.Conversation.CreatedAt; got != "2026-01-02 03:04:05" {
			t.Errorf("Date %q: createdAt = %q, want time of receipt", date, got)
		}
		if len(res.Warnings) == 0 {
			t.Errorf("Date %q: no warning about the fallback", date)
		}
	}
}

func TestCCKeepsNamesAndBCC(t *testing.T) {
	res := mapMsg(t, crlf(`
From: a@example.com
To: "Support" <support@example.com>, second@example.com
Cc: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.org>, plain@example.org, "Smith, John" <js@example.org>
Bcc: hidden@example.net
Message-ID: <cc@example.com>

x
`))
	c := res.Conversation
	if strings.Join(c.To, ",") != "support@example.com,second@example.com" {
		t.Errorf("to = %q", c.To)
	}
	want := []string{"Jürgen Müller <jm@example.org>", "plain@example.org", `"Smith, John" <js@example.org>`}
	if strings.Join(c.CCEmails, "|") != strings.Join(want, "|") {
		t.Errorf("ccEmails = %q, want %q", c.CCEmails, want)
	}
	if len(c.BCCEmails) != 1 || c.BCCEmails[0] != "hidden@example.net" {
		t.Errorf("bccEmails = %q", c.BCCEmails)
	}
}

func TestEmptySubjectStaysEmpty(t *testing.T) {
	res := mapMsg(t, crlf("From: a@example.com\nSubject:\nMessage-ID: <s@example.com>\n\nbody\n"))
	var buf bytes.Buffer
	if err := res.Conversation.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"subject":""`) {
		t.Errorf("payload does not carry an empty subject: %s", buf.String())
	}
}

func TestMissingMessageIDGetsStableHash(t *testing.T) {
	msg := "From: a@example.com\nTo: b@example.com\nSubject: no id\nDate: Mon, 02 Mar 2026 10:00:00 +0000\n\nhello\n"
	a := mapMsg(t, crlf(msg)).Conversation.ExternalConversationID
	// The same mail after another hop (a trace header more) and with bare
	// LF line endings is the same mail.
	b := mapMsg(t, []byte("Received: from mx by mx2; Mon, 02 Mar 2026 10:00:01 +0000\n"+msg)).Conversation.ExternalConversationID
	c := mapMsg(t, crlf(strings.Replace(msg, "hello", "other", 1))).Conversation.ExternalConversationID
	if !strings.HasPrefix(a, "mailbridge-sha256-") {
		t.Fatalf("hash id = %q", a)
	}
	if a != b {
		t.Errorf("same mail got two ids: %q and %q", a, b)
	}
	if a == c {
		t.Errorf("different mails got the same id %q", a)
	}
}

// A Message-ID longer than a mail's line may be is no key: the mail is
// known by its hash, and such ids in In-Reply-To and References are passed over.
func TestOverlongMessageIDGetsStableHash(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 250) + "@bulk.example.net" // 4 KB
	msg := "From: a@example.com\nTo: b@example.com\nSubject: long id\nDate: Mon, 02 Mar 2026 10:00:00 +0000\n" +
		"Message-ID: <" + long + ">\nIn-Reply-To: <" + long + ">\nReferences: <" + long + "> <ok@example.com>\n\nhello\n"
	res := mapMsg(t, crlf(msg))
	id := res.Conversation.ExternalConversationID
	if !strings.HasPrefix(id, "mailbridge-sha256-") {
		t.Fatalf("externalConversationId under a %d-byte Message-ID = %.60q…, want the hash id", len(long), id)
	}
	if other := mapMsg(t, crlf(strings.Replace(msg, "hello", "other", 1))).Conversation.ExternalConversationID; other == id {
		t.Errorf("two mails under the same overlong Message-ID got one id %q", id)
	}
	h := mapper.ParseHeader(crlf(msg))
	if h.MessageID != "" || len(h.InReplyTo) != 0 || !slices.Equal(h.References, []string{"ok@example.com"}) {
		t.Errorf("header = Message-ID %.20q, In-Reply-To %d ids, References %.40q; want only <ok@example.com>", h.MessageID, len(h.InReplyTo), h.References)
	}
	// An id of a line's length is still one.
	edge := strings.Repeat("x", 998-len("@example.org")) + "@example.org"
	raw := crlf(strings.Replace(msg, long, edge, -1))
	if got := mapper.ExternalID(raw, mapper.ParseHeader(raw)); got != edge {
		t.Errorf("a %d-byte Message-ID = %.20q…, want it kept", len(edge), got)
	}
}

// An overlong Message-ID folded over lines, as a mailer that keeps to
// the line limit may write it, reads as one id with spaces: it is no key,
// and no word of it is either, or two mails whose ids differ past their
// first line would share one.
func TestFoldedOverlongMessageIDGetsHash(t *testing.T) {
	head := strings.Repeat("0123456789abcdef", 40) // a line's worth
	msg := func(tail string) []byte {
		return crlf("From: a@example.com\nTo: b@example.com\nSubject: bulk\nDate: Mon, 02 Mar 2026 10:00:00 +0000\n" +
			"Message-ID: <" + head + "\n " + strings.Repeat(tail, 600) + "@bulk.example.net>\n\n" + tail + "\n")
	}
	a, b := msg("a"), msg("b")
	ida, idb := mapper.ExternalID(a, mapper.ParseHeader(a)), mapper.ExternalID(b, mapper.ParseHeader(b))
	if ida == idb {
		t.Fatalf("two mails under different folded overlong Message-IDs share the key %.40q…", ida)
	}
	if !strings.HasPrefix(ida, "mailbridge-sha256-") {
		t.Errorf("key under a folded overlong Message-ID = %.40q…, want the hash id", ida)
	}
}

func TestAttachmentsNamesAndCID(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\nfake")
	pngB64 := base64.StdEncoding.EncodeToString(png)
	res := mapMsg(t, crlf(`
From: a@example.com
Message-ID: <att@example.com>
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<p>logo: <img src="cid:logo@x"></p>
--rel
Content-Type: image/png
Content-ID: <logo@x>
Content-Transfer-Encoding: base64

`+pngB64+`
--rel--
--outer
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20report.pdf
Content-Transfer-Encoding: base64

JVBERi0=
--outer
Content-Type: application/pdf
Content-Disposition: attachment; filename="€ report.pdf"
Content-Transfer-Encoding: base64

JVBERi0=
--outer
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAEC
--outer
Content-Type: message/rfc822

From: b@example.org
Subject: Original question

forwarded body
--outer--
`))
	c := res.Conversation
	var names []string
	for _, a := range c.Attachments {
		names = append(names, a.Name)
	}
	want := []string{"attachment-1.png", "€ report.pdf", "€ report (2).pdf", "attachment-4.bin", "Original question.eml"}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("attachment names = %q, want %q", names, want)
	}
	if !bytes.Equal(c.Attachments[0].Content, png) {
		t.Errorf("inline image content changed")
	}
	if !strings.Contains(c.Body, `src="data:image/png;base64,`+pngB64+`"`) {
		t.Errorf("cid: image not embedded as data URI: %s", c.Body)
	}
	inl, ok := c.RawData["inlineImages"]
	if !ok {
		t.Fatalf("rawData has no inlineImages: %v", c.RawData)
	}
	js, _ := json.Marshal(inl)
	if string(js) != `[{"contentId":"logo@x","name":"attachment-1.png","embedded":true}]` {
		t.Errorf("inlineImages = %s", js)
	}
}

func TestLargeInlineImageStaysReference(t *testing.T) {
	raw := crlf(`
From: a@example.com
Message-ID: <big@example.com>
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html

<img src="cid:big">
--rel
Content-Type: image/jpeg; name="photo.jpg"
Content-ID: <big>
Content-Transfer-Encoding: base64

` + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 2000)) + `
--rel--
`)
	o := goldenOptions("big")
	o.InlineImageMaxBytes = 1000
	res, err := mapper.Map(context.Background(), raw, o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Conversation.Body, `src="cid:big"`) {
		t.Errorf("large image was embedded: %.200s", res.Conversation.Body)
	}
	if len(res.Conversation.Attachments) != 1 || res.Conversation.Attachments[0].Name != "photo.jpg" {
		t.Errorf("large inline image not attached: %+v", res.Conversation.Attachments)
	}
}

func TestRawDataCarriesThreadHeadersAndSource(t *testing.T) {
	res := mapMsg(t, crlf(`
From: a@example.com
Message-ID: <r2@example.com>
In-Reply-To: <r1@example.com>
References: <r0@example.com> <r1@example.com>
Reply-To: replies@example.com

x
`))
	js, _ := json.Marshal(res.Conversation.RawData)
	for _, want := range []string{`"messageId":"r2@example.com"`, `"inReplyTo":["r1@example.com"]`,
		`"references":["r0@example.com","r1@example.com"]`, `"replyTo":["replies@example.com"]`, `"source":{`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("rawData lacks %s: %s", want, js)
		}
	}
}

// TestUnusableMessages: only a message without a byte to read is unusable;
// a dead-lettered mail reaches no one.
func TestUnusableMessages(t *testing.T) {
	for name, raw := range map[string]string{"empty": "", "blank": "\r\n\r\n", "whitespace": " \t\r\n \n"} {
		if _, err := mapper.Map(context.Background(), []byte(raw), goldenOptions(name)); !errors.Is(err, mapper.ErrUnusable) {
			t.Errorf("%s: err = %v, want ErrUnusable", name, err)
		}
	}
}

// TestDamagedMailIsReadable lists the shapes of damaged mail that were
// unusable once: each must give its text, say which repair it took, and
// attach the original where some of it may be missing.
func TestDamagedMailIsReadable(t *testing.T) {
	const mail = "From: alice@example.com\nSubject: Hello\n\nthe text\n"
	for _, c := range []struct {
		name, raw, text, repair string
		original                bool
	}{
		{"mbox From line", "From alice@example.com Mon Mar  3 09:15:00 2025\n" + mail, "the text", "mbox-from-line", false},
		{"mbox From line without date", "From alice@example.com\n" + mail, "the text", "mbox-from-line", false},
		{"quoted mbox From line", ">From alice@example.com Mon Mar  3 09:15:00 2025\n" + mail, "the text", "mbox-from-line", false},
		{"junk line", "exported by some tool\n" + mail, "the text", "junk-before-header", false},
		{"line starting with a space", " stray\n" + mail, "the text", "junk-before-header", false},
		{"blank lines", "\n\n" + mail, "the text", "junk-before-header", false},
		{"multipart without boundary", "From: alice@example.com\nContent-Type: multipart/mixed\n\nthe text\n", "the text", "multipart-without-boundary", false},
		{"nested multipart without boundary", "From: alice@example.com\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/alternative\n\nthe text\n--b--\n", "the text", "multipart-without-boundary", false},
		{"body fragment", "Hello,\n\nthe text\n", "Hello,\n\nthe text", "no-header", false},
		{"fragment that looks like a header", "Re: your order\n\nthe text\n", "Re: your order\n\nthe text", "no-header", false},
		{"fragment that is one header-like line", "Hello: the text\nand more\n", "Hello: the text\nand more", "no-header", false},
		{"unreadable Content-Type", "From: alice@example.com\nContent-Type: text/plain html\n\nthe text\n", "the text", "unreadable-structure", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			wire := []byte(strings.ReplaceAll(c.raw, "\n", "\r\n"))
			res := mapMsg(t, wire)
			conv := res.Conversation
			if conv.BodyPlain != c.text {
				t.Errorf("bodyPlain = %q, want %q", conv.BodyPlain, c.text)
			}
			repairs, _ := conv.RawData["repairs"].([]string)
			if !slices.Contains(repairs, c.repair) {
				t.Errorf("repairs = %q, want %s", repairs, c.repair)
			}
			hasOriginal := len(conv.Attachments) > 0 && conv.Attachments[len(conv.Attachments)-1].Name == "original.eml"
			if hasOriginal != c.original || (conv.RawData["parseIncomplete"] == true) != c.original {
				t.Errorf("original attached = %v, parseIncomplete = %v, want %v", hasOriginal, conv.RawData["parseIncomplete"], c.original)
			}
			if hasOriginal && !bytes.Equal(conv.Attachments[len(conv.Attachments)-1].Content, wire) {
				t.Errorf("original.eml is not the message as received")
			}
			if len(res.Warnings) == 0 {
				t.Errorf("no warning for the repair")
			}
		})
	}
}

func TestOnlyHeaderFieldsIsPosted(t *testing.T) {
	res := mapMsg(t, crlf("From: alice@example.com\n\n"))
	if res.Conversation.From != "alice@example.com" {
		t.Errorf("from = %q", res.Conversation.From)
	}
}

func TestMboxFromLineIsNotInTheHeader(t *testing.T) {
	raw := crlf("From alice@example.com Mon Mar  3 09:15:00 2025\nMessage-ID: <m1@example.com>\nFrom: alice@example.com\n\nx\n")
	if h := mapper.ParseHeader(raw); h.MessageID != "m1@example.com" || h.From != "alice@example.com" {
		t.Errorf("ParseHeader = %+v", h)
	}
}

// TestNoPhantomAttachments: a last delimiter line with nothing after it is
// no attachment; a declared empty file is one.
func TestNoPhantomAttachments(t *testing.T) {
	head := "From: a@example.com\nSubject: s\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhello\n"
	for name, tail := range map[string]string{"nothing": "--b\n", "blank line": "--b\n\n", "blank lines": "--b\n\n\n"} {
		res := mapMsg(t, crlf(head+tail))
		if n := len(res.Conversation.Attachments); n != 0 {
			t.Errorf("%s: %d attachments: %+v", name, n, res.Conversation.Attachments)
		}
	}
	res := mapMsg(t, crlf(head+"--b\nContent-Type: text/plain; name=empty.txt\nContent-Disposition: attachment; filename=empty.txt\n\n--b--\n"))
	if a := res.Conversation.Attachments; len(a) != 1 || a[0].Name != "empty.txt" || len(a[0].Content) != 0 {
		t.Errorf("declared empty file: %+v", a)
	}
}

// TestTruncatedBase64KeepsWhatDecodes: a part cut off anywhere keeps every
// whole byte before the cut.
func TestTruncatedBase64KeepsWhatDecodes(t *testing.T) {
	data := bytes.Repeat([]byte("%PDF-1.4 some binary \x00\x01\x02\xff "), 40)
	enc := base64.StdEncoding.EncodeToString(data)
	for _, cut := range []int{401, 402, 403, 404} {
		raw := crlf("From: a@example.com\nSubject: s\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhello\n" +
			"--b\nContent-Type: application/pdf; name=x.pdf\nContent-Transfer-Encoding: base64\n\n" + enc[:cut])
		res := mapMsg(t, raw)
		a := res.Conversation.Attachments
		if len(a) != 1 || !bytes.Equal(a[0].Content, data[:cut*3/4]) {
			t.Errorf("cut %d: attachments %d, want the first %d bytes", cut, len(a), cut*3/4)
		}
	}
}

func TestUndecodableBytesBecomeReplacementChars(t *testing.T) {
	res := mapMsg(t, append(crlf("From: a@example.com\nMessage-ID: <u@example.com>\nContent-Type: text/plain; charset=utf-8\n\n"), 'o', 'k', 0xff, 0xfe, '!'))
	got := res.Conversation.BodyPlain
	if !utf8.ValidString(got) || !strings.HasPrefix(got, "ok") || !strings.HasSuffix(got, "!") {
		t.Errorf("bodyPlain = %q", res.Conversation.BodyPlain)
	}
}

// FuzzMap feeds arbitrary bytes to the mapper: it may refuse a message, but
// it must not panic, and what it returns must encode as valid JSON.
func FuzzMap(f *testing.F) {
	for _, s := range []string{
		"From: a@example.com\r\n\r\nbody",
		"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\n<img src=cid:a>\r\n--x--",
		"Content-Type: text/plain; charset=iso-2022-jp\r\nContent-Transfer-Encoding: base64\r\n\r\n!!garbage==",
		"Subject: =?UTF-8?B?////?=\r\nMessage-ID: <\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	// The golden corpus (every class of real-world damage) and small
	// crafted mails seed the fuzzer.
	files, _ := filepath.Glob("testdata/*.eml")
	for _, file := range files {
		if raw, err := os.ReadFile(file); err == nil {
			f.Add(raw)
		}
	}
	for _, h := range []hostile.Mail{hostile.CIDBomb(20, 1<<10), hostile.Nested(120), hostile.Wide(50),
		hostile.Repeated("lt", "<", 2000, 0), hostile.HTMLDeep(500), hostile.ManyRecipients(30)} {
		f.Add(h.Raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		res, err := mapper.Map(context.Background(), raw, goldenOptions("fuzz"))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := res.Conversation.WriteJSON(&buf); err != nil {
			t.Fatalf("WriteJSON: %v", err)
		}
		if !json.Valid(buf.Bytes()) {
			t.Fatalf("invalid JSON: %.300s", buf.String())
		}
		if limit := 3*len(raw) + 2<<20; buf.Len() > limit {
			t.Fatalf("payload of %d bytes for %d raw, over the bound of %d", buf.Len(), len(raw), limit)
		}
	})
}

// Apple Mail attaches files as "inline; filename=...": a named text or HTML
// part is a file, not message text.
func TestNamedInlineTextPartsAreAttachments(t *testing.T) {
	res := mapMsg(t, crlf(`
From: a@example.com
Message-ID: <apple@example.com>
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain; charset=utf-8

See the log.
--b
Content-Type: text/plain; name="server.log"
Content-Disposition: inline; filename="server.log"

ERROR something broke
--b
Content-Type: text/html; name="page.html"
Content-Disposition: inline; filename="page.html"

<script>alert(1)</script>
--b--
`))
	c := res.Conversation
	var names []string
	for _, a := range c.Attachments {
		names = append(names, a.Name)
	}
	if strings.Join(names, ",") != "server.log,page.html" {
		t.Errorf("attachments = %q", names)
	}
	if c.BodyPlain != "See the log." || strings.Contains(c.Body, "script") || strings.Contains(c.Body, "ERROR") {
		t.Errorf("body took in a file: body %q, bodyPlain %q", c.Body, c.BodyPlain)
	}
}

func TestZeroInlineLimitEmbedsNothing(t *testing.T) {
	raw := crlf(`
From: a@example.com
Message-ID: <zero@example.com>
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html

<img src="cid:empty">
--rel
Content-Type: image/png
Content-ID: <empty>

--rel--
`)
	o := goldenOptions("zero")
	o.InlineImageMaxBytes = 0
	res, err := mapper.Map(context.Background(), raw, o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Conversation.Body, "cid:empty") {
		t.Errorf("image embedded with inlineImageMaxBytes 0: %s", res.Conversation.Body)
	}
}

func TestBodyCleanDropsGmailQuote(t *testing.T) {
	res := mapMsg(t, crlf(`
From: Max Mustermann <max@example.de>
To: support@example.com
Subject: Re: Ihre Bestellung
Date: Wed, 13 Mar 2024 09:12:00 +0100
Message-ID: <CAgmail-reply@mail.gmail.com>
In-Reply-To: <ticket-4711@support.example.com>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="000000000000b1"

--000000000000b1
Content-Type: text/plain; charset="UTF-8"

Die Bestellnummer lautet 4711-0815.

Viele Grüße
Max

Am Di., 12. März 2024 um 10:15 Uhr schrieb Anna Schmidt <
anna.schmidt@support.example.com>:

> Bitte nennen Sie uns Ihre Bestellnummer.
>

--000000000000b1
Content-Type: text/html; charset="UTF-8"

<div dir="ltr"><div>Die Bestellnummer lautet 4711-0815.</div><div><br></div><div>Viele Grüße</div><div>Max</div></div><br><div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">Am Di., 12. März 2024 um 10:15&nbsp;Uhr schrieb Anna Schmidt &lt;<a href="mailto:anna.schmidt@support.example.com">anna.schmidt@support.example.com</a>&gt;:<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex"><div dir="ltr">Bitte nennen Sie uns Ihre Bestellnummer.</div></blockquote></div>

--000000000000b1--
`))
	c := res.Conversation
	if want := "Die Bestellnummer lautet 4711-0815.\n\nViele Grüße\nMax"; c.BodyClean != want {
		t.Errorf("bodyClean = %q, want %q", c.BodyClean, want)
	}
	if !strings.Contains(c.BodyPlain, "> Bitte nennen Sie uns Ihre Bestellnummer.") {
		t.Errorf("bodyPlain lost the quote, it must stay the full text: %q", c.BodyPlain)
	}
}
