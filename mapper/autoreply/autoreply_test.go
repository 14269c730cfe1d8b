package autoreply

import (
	"bufio"
	"mime"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// The header types callers are expected to have at hand.
var (
	_ Header = textproto.MIMEHeader(nil)
	_ Header = mail.Header(nil)
)

// parseHeader reads a header block the way the pipeline does (net/textproto
// canonicalises the field names, so the raw case does not matter).
func parseHeader(t testing.TB, raw string) textproto.MIMEHeader {
	raw = strings.TrimLeft(raw, "\n")
	raw = strings.ReplaceAll(raw, "\n", "\r\n") + "\r\n"
	h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(raw))).ReadMIMEHeader()
	if err != nil {
		t.Fatalf("bad test header: %v", err)
	}
	return h
}

// envelope is the SMTP MAIL FROM of a case; nil means unknown (IMAP).
func envelope(s string) *string { return &s }

func input(t testing.TB, raw string, env *string) Input {
	h := parseHeader(t, raw)
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil {
		t.Fatalf("bad test subject: %v", err)
	}
	in := Input{Header: h, ContentType: h.Get("Content-Type"), Subject: subject, From: h.Get("From")}
	if env != nil {
		in.ReturnPath, in.HasReturnPath = *env, true
	}
	return in
}

type caseT struct {
	name   string
	header string
	env    *string
	want   Class
	reason string
}

var corpus = []caseT{
	// Out-of-office and other automatic replies.
	{
		name: "Exchange OOF English",
		header: `
From: Iris Ivanova <iris@example.com>
To: Support <support@example.net>
Subject: Automatic reply: Your ticket 2025-0322
Thread-Topic: Your ticket 2025-0322
Date: Sat, 22 Mar 2025 08:00:01 +0000
Message-ID: <AS8PR09MB1122334455667788AABB@AS8PR09MB1122.eurprd09.prod.example.com>
In-Reply-To: <ticket-2025-0322@example.net>
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
X-MS-Exchange-Inbox-Rules-Loop: iris@example.com
Content-Type: multipart/alternative; boundary="_000_AS8PR09MB1122_"
MIME-Version: 1.0
`,
		env:    envelope(""),
		want:   AutoReply,
		reason: "Auto-Submitted: auto-replied",
	},
	{
		name: "Exchange OOF German",
		header: `
From: =?iso-8859-1?Q?J=FCrgen_M=FCller?= <j.mueller@beispiel.de>
To: kundenservice@example.net
Subject: Automatische Antwort: Ihre Rechnung 4711
Thread-Topic: Ihre Rechnung 4711
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
X-MS-Exchange-Inbox-Rules-Loop: j.mueller@beispiel.de
Content-Language: de-DE
Content-Type: text/plain; charset="iso-8859-1"
`,
		want:   AutoReply,
		reason: "Auto-Submitted: auto-replied",
	},
	{
		name: "Exchange 2003 OOF without Auto-Submitted",
		header: `
From: Bob Baker <bob@example.org>
To: support@example.net
Subject: Out of Office: Order 123 delayed
X-Auto-Response-Suppress: All
X-MimeOLE: Produced By Microsoft Exchange V6.5
Content-Type: text/plain
`,
		want:   AutoReply,
		reason: `Subject: "out of office"`,
	},
	{
		name: "old Outlook German Abwesenheitsnotiz",
		header: `
From: "Schmidt, Anna" <anna.schmidt@firma.de>
To: service@example.net
Subject: Abwesenheitsnotiz: Vertragsnummer 998877
Content-Type: text/plain; charset=iso-8859-1
`,
		want:   AutoReply,
		reason: `Subject: "abwesenheitsnotiz"`,
	},
	{
		name: "Gmail vacation responder",
		header: `
MIME-Version: 1.0
From: Carla Cruz <carla.cruz@gmail.com>
Date: Mon, 24 Mar 2025 09:12:44 +0100
Message-ID: <CAB2x+vacation-0001@mail.gmail.com>
Subject: Re: Your order 5521
To: support@example.net
Auto-Submitted: auto-replied
In-Reply-To: <order-5521@example.net>
Content-Type: multipart/alternative; boundary="000000000000a1b2c3"
`,
		env:    envelope("carla.cruz@gmail.com"),
		want:   AutoReply,
		reason: "Auto-Submitted: auto-replied",
	},
	{
		name: "Zendesk auto-acknowledgement",
		header: `
From: Acme Support <support@acme.zendesk.com>
Reply-To: Acme Support <support+id12345@acme.zendesk.com>
To: support@example.net
Subject: [Acme] Re: Invoice question
Auto-Submitted: auto-generated
X-Mailer: Zendesk Mailer
X-Zendesk-From-Account-Id: 4f2a1b
X-Auto-Response-Suppress: All
Precedence: bulk
Content-Type: multipart/alternative; boundary="--==_mimepart_67e1"
`,
		want:   AutoReply,
		reason: "Auto-Submitted: auto-generated",
	},
	{
		name: "Freshdesk auto-acknowledgement",
		header: `
From: Globex Helpdesk <help@globex.freshdesk.com>
To: support@example.net
Subject: Ticket Received - Invoice question
AUTO-SUBMITTED: Auto-Generated; freshdesk
X-Freshdesk-Ticket: 88214
Content-Type: text/html; charset=UTF-8
`,
		want:   AutoReply,
		reason: "Auto-Submitted: auto-generated",
	},
	{
		name: "cPanel autoresponder",
		header: `
From: info@smallshop.example
To: support@example.net
Subject: Thanks for your mail
X-Autorespond: Thanks for your mail
Precedence: auto_reply
X-Precedence: auto_reply
Content-Type: text/plain
`,
		want:   AutoReply,
		reason: "X-Autorespond: Thanks for your mail",
	},
	{
		name: "Exim vacation X-Autoreply",
		header: `
From: dave@uni.example.edu
To: support@example.net
Subject: Re: Your request
x-autoreply: yes
Content-Type: text/plain
`,
		want:   AutoReply,
		reason: "X-Autoreply: yes",
	},
	{
		name: "X-Autogenerated Reply",
		header: `
From: eve@corp.example
To: support@example.net
Subject: Re: Lieferung
X-AutoGenerated: Reply
Content-Type: text/plain
`,
		want:   AutoReply,
		reason: "X-Autogenerated: reply",
	},
	{
		name: "Precedence auto_reply alone",
		header: `
From: frank@host.example
To: support@example.net
Subject: Re: Kündigung
Precedence: auto_reply
Content-Type: text/plain
`,
		want:   AutoReply,
		reason: "Precedence: auto_reply",
	},
	{
		name: "sentence subject German, RFC 2047",
		header: `
From: Gerd <gerd@web.example>
To: support@example.net
Subject: =?UTF-8?Q?Ich_bin_ab_7=2E_April_wieder_im_B=C3=BCro?=
Content-Type: text/plain; charset=UTF-8
`,
		want:   AutoReply,
		reason: `Subject: "ich bin … im büro"`,
	},
	{
		name: "sentence subject English",
		header: `
From: Hana <hana@mail.example>
To: support@example.net
Subject: I am out of the office until Monday 7 April
Content-Type: text/plain
`,
		want:   AutoReply,
		reason: `Subject: "i am … out of the office"`,
	},
	{
		name: "gateway tag before Automatic reply",
		header: `
From: ivan@bank.example
To: support@example.net
Subject: [EXTERNAL] Automatic Reply - Ivan Petrov
Content-Type: text/plain
`,
		want:   AutoReply,
		reason: `Subject: "automatic reply"`,
	},
	{
		name: "Jira notification: Auto-Submitted beats list headers",
		header: `
From: "Jane (Jira)" <jira@acme.atlassian.net>
To: support@example.net
Subject: [JIRA] (SUP-12) Printer on fire
Auto-Submitted: auto-generated
Precedence: bulk
List-Id: <jira.acme.atlassian.net>
List-Unsubscribe: <https://acme.atlassian.net/unsubscribe?token=abc>
Content-Type: multipart/alternative; boundary="----=_Part_1"
`,
		want:   AutoReply,
		reason: "Auto-Submitted: auto-generated",
	},
	{
		name: "Thunderbird read receipt (MDN)",
		header: `
From: Karl Klein <karl@example.de>
To: support@example.net
Subject: Return Receipt (displayed) - Your ticket 77
Content-Type: multipart/report; report-type=disposition-notification;
 boundary="------------abc123"
`,
		env:    envelope(""),
		want:   AutoReply,
		reason: "Content-Type: multipart/report; report-type=disposition-notification",
	},
	{
		name: "Outlook read receipt, quoted report-type",
		header: `
From: Lena Lang <lena@contoso.example>
To: support@example.net
Subject: Gelesen: Ihre Anfrage 2025-0401
Content-Type: multipart/report; report-type="Disposition-Notification"; boundary="_004_"
`,
		want:   AutoReply,
		reason: "Content-Type: multipart/report; report-type=disposition-notification",
	},
	{
		name: "Sieve vacation with null sender",
		header: `
From: mia@uni.example
To: support@example.net
Subject: Auto: Re: your request
Auto-Submitted: auto-replied (vacation)
Content-Type: text/plain
`,
		env:    envelope(""),
		want:   AutoReply,
		reason: "Auto-Submitted: auto-replied",
	},

	// Bounces.
	{
		name: "Postfix bounce",
		header: `
Return-Path: <>
Date: Fri, 21 Mar 2025 12:00:05 +0100 (CET)
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: support@example.net
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="4Z1abc2DefG.1742554805/mx.example.net"
`,
		env:    envelope(""),
		want:   Bounce,
		reason: "Content-Type: multipart/report; report-type=delivery-status",
	},
	{
		name: "Exchange Online NDR",
		header: `
From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.onmicrosoft.com>
To: support@example.net
Subject: Undeliverable: Your ticket 2025-0330
Content-Type: multipart/report; report-type=delivery-status;
	boundary="a1b2c3d4-e5f6-7890"
X-MS-Exchange-Message-Is-Ndr:
Auto-Submitted: auto-replied
`,
		want:   Bounce,
		reason: "Content-Type: multipart/report; report-type=delivery-status",
	},
	{
		name: "Exchange on-premises NDR German",
		header: `
From: postmaster@firma.de
To: kundenservice@example.net
Subject: Unzustellbar: Ihre Anfrage
Content-Type: multipart/report; report-type=delivery-status; boundary="_000_"
`,
		want:   Bounce,
		reason: "Content-Type: multipart/report; report-type=delivery-status",
	},
	{
		name: "Gmail bounce",
		header: `
Return-Path: <>
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: support@example.net
Auto-Submitted: auto-replied
Subject: Delivery Status Notification (Failure)
Content-Type: multipart/report; boundary="000000000000f00d"; report-type=delivery-status
`,
		want:   Bounce,
		reason: "Content-Type: multipart/report; report-type=delivery-status",
	},
	{
		name: "delay notification is a bounce too",
		header: `
From: Mail Delivery System <MAILER-DAEMON@relay.example.com>
To: support@example.net
Subject: Delayed Mail (still being retried)
Content-Type: multipart/report; report-type=delivery-status; boundary="x"
`,
		env:    envelope(""),
		want:   Bounce,
		reason: "Content-Type: multipart/report; report-type=delivery-status",
	},
	{
		name: "qmail bounce: plain text from MAILER-DAEMON",
		header: `
From: MAILER-DAEMON@mail.example.org
To: support@example.net
Subject: failure notice
Content-Type: text/plain
`,
		want:   Bounce,
		reason: "From: MAILER-DAEMON@mail.example.org",
	},
	{
		name: "Exim bounce: daemon sender beats Auto-Submitted",
		header: `
From: Mail Delivery System <Mailer-Daemon@mx.example.com>
To: support@example.net
Subject: Mail delivery failed: returning message to sender
Auto-Submitted: auto-replied
Content-Type: text/plain
`,
		want:   Bounce,
		reason: "From: Mailer-Daemon@mx.example.com",
	},
	{
		name: "null envelope sender, nothing else",
		header: `
From: alerts@monitor.example
To: support@example.net
Subject: Message could not be delivered
Content-Type: text/plain
`,
		env:    envelope(""),
		want:   Bounce,
		reason: "Return-Path: <>",
	},
	{
		name: "IMAP: null sender from the Return-Path header",
		header: `
Return-Path: <>
From: system@legacy.example
To: support@example.net
Subject: Returned mail: see transcript for details
Content-Type: text/plain
`,
		want:   Bounce,
		reason: "Return-Path: <>",
	},

	// Lists and bulk.
	{
		name: "Mailchimp newsletter",
		header: `
From: Shop News <news@shop.example>
To: support@example.net
Subject: Spring sale: 20% off
List-Unsubscribe: <https://shop.us1.list-manage.com/unsubscribe?u=abc&id=def>, <mailto:unsubscribe-mc.us1_abc@unsubscribe.mailchimpapp.net>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
List-ID: 1a2b3c4d5e mcsv.net <1a2b3c4d5e.123.list-id.mcsv.net>
X-Mailer: Mailchimp Mailer - **CID1a2b3c4d5e**
Feedback-ID: 123:123.456:us1:mc
Precedence: bulk
Content-Type: multipart/alternative; boundary="_----------=_MCPart_123"
`,
		env:    envelope("bounce-mc.us1_123.456-support=example.net@mail1.mcsv.net"),
		want:   List,
		reason: "List-Id: 1a2b3c4d5e mcsv.net <1a2b3c4d5e.123.list-id.mcsv.net>",
	},
	{
		name: "Google Groups",
		header: `
From: Nora N <nora@example.com>
To: customers@googlegroups.com
Subject: [customers] Meter reading question
Mailing-list: list customers@googlegroups.com; contact customers+owners@googlegroups.com
Precedence: list
List-Post: <https://groups.google.com/group/customers/post>, <mailto:customers@googlegroups.com>
List-Help: <https://support.google.com/a/users/answer/9308783>, <mailto:customers+help@googlegroups.com>
List-Archive: <https://groups.google.com/group/customers/>
List-ID: <customers.googlegroups.com>
List-Unsubscribe: <mailto:googlegroups-manage+1234+unsubscribe@googlegroups.com>
Content-Type: text/plain; charset="UTF-8"
`,
		want:   List,
		reason: "List-Id: <customers.googlegroups.com>",
	},
	{
		name: "Mailman 3",
		header: `
From: Otto <otto@example.org>
To: users@lists.example.org
Subject: [users] Release 2.0
Precedence: list
X-BeenThere: users@lists.example.org
X-Mailman-Version: 3.3.9
List-Id: Users of Example <users.lists.example.org>
List-Post: <mailto:users@lists.example.org>
List-Unsubscribe: <mailto:users-leave@lists.example.org>
Content-Type: text/plain
`,
		env:    envelope("users-bounces+support=example.net@lists.example.org"),
		want:   List,
		reason: "List-Id: Users of Example <users.lists.example.org>",
	},
	{
		name: "GitHub notification",
		header: `
From: Pat <notifications@github.com>
Reply-To: example/mailbridge <reply+AAAA@reply.github.com>
To: example/mailbridge <mailbridge@noreply.github.com>
Subject: Re: [example/mailbridge] Classify auto-replies (Issue #42)
List-ID: example/mailbridge <mailbridge.example.github.com>
List-Archive: https://github.com/example/mailbridge
List-Unsubscribe: <mailto:unsub+AAAA@reply.github.com>, <https://github.com/notifications/unsubscribe/AAAA>
X-GitHub-Reason: subscribed
X-GitHub-Sender: pat
Precedence: list
Content-Type: multipart/alternative; boundary="--==_mimepart_1"
`,
		want:   List,
		reason: "List-Id: example/mailbridge <mailbridge.example.github.com>",
	},
	{
		name: "ezmlm Mailing-List",
		header: `
From: quinn@example.org
To: dev@project.example
Subject: patch for the parser
mailing-list: contact dev-help@project.example; run by ezmlm
Content-Type: text/plain
`,
		want:   List,
		reason: "Mailing-List: contact dev-help@project.example; run by ezmlm",
	},
	{
		name: "bulk without list headers",
		header: `
From: Deals <deals@marketing.example>
To: support@example.net
Subject: Your weekly deals
Precedence: Bulk
List-Unsubscribe: <https://marketing.example/u/xyz>
Content-Type: text/html
`,
		want:   List,
		reason: "Precedence: bulk",
	},
	{
		name: "X-Precedence list",
		header: `
From: rosa@example.org
To: support@example.net
Subject: Digest
X-Precedence: list
Content-Type: text/plain
`,
		want:   List,
		reason: "X-Precedence: list",
	},

	// People.
	{
		name: "plain human mail",
		header: `
From: Sam Sommer <sam.sommer@gmail.com>
To: support@example.net
Subject: Abschlag zu hoch
Date: Tue, 25 Mar 2025 10:00:00 +0100
Message-ID: <CAKx1@mail.gmail.com>
Content-Type: multipart/alternative; boundary="0000abc"
`,
		env:  envelope("sam.sommer@gmail.com"),
		want: Human,
	},
	{
		name: "human: out of office in the middle of the subject",
		header: `
From: Tom <tom@example.com>
To: support@example.net
Subject: Re: Out of office question
Content-Type: text/plain
`,
		want: Human,
	},
	{
		name: "human: phrase not followed by a separator",
		header: `
From: Uta <uta@example.com>
To: support@example.net
Subject: Out of office replies keep coming from your system
Content-Type: text/plain
`,
		want: Human,
	},
	{
		name: "human answering an OOF",
		header: `
From: Vera <vera@example.com>
To: support@example.net
Subject: AW: Automatische Antwort: Ihre Anfrage
Content-Type: text/plain
`,
		want: Human,
	},
	{
		name: "human: sentence subject that is a question",
		header: `
From: Willi <willi@example.com>
To: support@example.net
Subject: Ich bin ab Montag wieder im Büro - passt Ihnen Dienstag?
Content-Type: text/plain
`,
		want: Human,
	},
	{
		name: "human with Auto-Submitted: no",
		header: `
From: Xaver <xaver@example.com>
To: support@example.net
Subject: Zählerstand
Auto-Submitted: no
X-Autoreply: no
Content-Type: text/plain
`,
		want: Human,
	},
	{
		name: "human via transactional ESP (contact form)",
		header: `
From: Website Contact Form <noreply@shop.example>
Reply-To: Yara Yilmaz <yara@example.com>
To: support@example.net
Subject: Kontaktformular: Rückfrage zur Lieferung
List-Unsubscribe: <https://u123.ct.sendgrid.net/asm/unsubscribe/?user_id=1&data=abc>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
Feedback-ID: 123:sendgrid
X-SG-EID: abcdef
Content-Type: text/html; charset=utf-8
`,
		env:  envelope("bounces+123-abc-support=example.net@em123.shop.example"),
		want: Human,
	},
	{
		name: "human via Exchange distribution group",
		header: `
From: Zoe Zimmer <zoe@contoso.example>
To: Einkauf <einkauf@contoso.example>
Cc: support@example.net
Subject: Bestellung 9981
X-Auto-Response-Suppress: All
X-MS-Exchange-Organization-AuthAs: Internal
Content-Type: text/plain
`,
		want: Human,
	},
	{
		name: "human through procmail forward with X-Loop",
		header: `
From: Adam <adam@example.com>
To: support@example.net
Subject: Frage zum Tarif
X-Loop: adam@home.example
Content-Type: text/plain
`,
		want: Human,
	},
	{
		name: "human: local part only looks like postmaster",
		header: `
From: postmaster-team@hoster.example
To: support@example.net
Subject: Domain transfer
Content-Type: text/plain
`,
		env:  envelope("postmaster-team@hoster.example"),
		want: Human,
	},
	{
		name: "human: bounce-like subject from a customer",
		header: `
From: Berta <berta@example.com>
To: support@example.net
Subject: Unzustellbar: Paket kam zurück
Content-Type: text/plain
`,
		env:  envelope("berta@example.com"),
		want: Human,
	},
	{
		name: "human forwarding a bounce",
		header: `
From: Carl <carl@example.com>
To: support@example.net
Subject: Fwd: Undelivered Mail Returned to Sender
Content-Type: multipart/mixed; boundary="fwd"
`,
		want: Human,
	},
}

func TestClassifyCorpus(t *testing.T) {
	for _, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			got := Classify(input(t, c.header, c.env))
			want := Verdict{Class: c.want, Reason: c.reason}
			if got != want {
				t.Errorf("Classify = %+v, want %+v", got, want)
			}
		})
	}
}

// TestFieldsFallBackToHeader covers callers that pass only the parsed
// header, and callers with no header at all.
func TestFieldsFallBackToHeader(t *testing.T) {
	h := parseHeader(t, `
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
Subject: Delivery Status Notification (Failure)
Content-Type: text/plain
`)
	if got := Classify(Input{Header: h}); got.Class != Bounce || got.Reason != "From: mailer-daemon@googlemail.com" {
		t.Errorf("header only: %+v", got)
	}
	if got := Classify(Input{Subject: "Automatic reply: hello"}); got.Class != AutoReply {
		t.Errorf("no header: %+v", got)
	}
	if got := Classify(Input{}); got != (Verdict{Class: Human}) {
		t.Errorf("empty input: %+v", got)
	}
	// The envelope, when known, overrides a Return-Path header.
	h = parseHeader(t, "Return-Path: <>\nFrom: a@example.com\n")
	if got := Classify(Input{Header: h, ReturnPath: "a@example.com", HasReturnPath: true}); got.Class != Human {
		t.Errorf("envelope vs header: %+v", got)
	}
	// net/mail's header works just as well.
	msg, err := mail.ReadMessage(strings.NewReader("Auto-Submitted: auto-notified\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := Classify(Input{Header: msg.Header}); got.Reason != "Auto-Submitted: auto-notified" {
		t.Errorf("net/mail header: %+v", got)
	}
}

func TestReasonIsOneBoundedLine(t *testing.T) {
	long := strings.Repeat("x", 500)
	h := textproto.MIMEHeader{"List-Id": {"a\r\nb\x00c\xffd " + long}}
	got := Classify(Input{Header: h})
	if got.Class != List || strings.ContainsAny(got.Reason, "\r\n\x00") || !utf8.ValidString(got.Reason) {
		t.Fatalf("unsafe reason %q", got.Reason)
	}
	if len(got.Reason) > len("List-Id: ")+maxValue+8 {
		t.Errorf("reason not bounded: %d bytes", len(got.Reason))
	}
}

func FuzzClassify(f *testing.F) {
	for _, c := range corpus {
		rp := "-"
		if c.env != nil {
			rp = *c.env
		}
		f.Add(c.header, rp, "", "")
	}
	f.Add("Auto-Submitted: ;\n", "<<>>", "multipart/report;report-type", "[[[]")
	f.Add("", "", "multipart/report; report-type=\"\xff", "Ich bin \xc3")
	f.Fuzz(func(t *testing.T, header, returnPath, contentType, subject string) {
		h, _ := textproto.NewReader(bufio.NewReader(strings.NewReader(header + "\r\n\r\n"))).ReadMIMEHeader()
		in := Input{Header: h, ContentType: contentType, Subject: subject, From: subject}
		if returnPath != "-" {
			in.ReturnPath, in.HasReturnPath = returnPath, true
		}
		v := Classify(in)
		switch v.Class {
		case Human, AutoReply, Bounce, List:
		default:
			t.Fatalf("unknown class %q", v.Class)
		}
		if (v.Class == Human) != (v.Reason == "") {
			t.Fatalf("class %q with reason %q", v.Class, v.Reason)
		}
		if !utf8.ValidString(v.Reason) || strings.ContainsAny(v.Reason, "\r\n") {
			t.Fatalf("unsafe reason %q", v.Reason)
		}
	})
}

func BenchmarkClassify(b *testing.B) {
	for _, name := range []string{
		"plain human mail", // every rule runs
		"Exchange OOF English",
		"Mailchimp newsletter",
	} {
		i := slices.IndexFunc(corpus, func(c caseT) bool { return c.name == name })
		in := input(b, corpus[i].header, envelope("someone@example.com"))
		b.Run(strings.Fields(name)[1], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Classify(in)
			}
		})
	}
}
