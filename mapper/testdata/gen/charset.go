package main

// Messages 60–69: charsets and transfer encodings as real senders get them
// wrong: raw 8-bit header bytes in GBK, Shift_JIS and Latin-1, bodies
// without (or with a false) charset, UTF-7 and over-padded encoded-words,
// ISO-2022-JP split mid-escape-sequence, uuencode, and a quoted-printable
// body behind a boundary that never appears.

import (
	"encoding/base64"
	"strings"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// uuencode writes data as a "begin 644 name" ... "end" block.
func uuencode(name string, data []byte) string {
	enc := func(c byte) byte {
		if c == 0 {
			return '`'
		}
		return c + ' '
	}
	var b strings.Builder
	b.WriteString("begin 644 " + name + "\n")
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
		b.WriteByte('\n')
	}
	b.WriteString("`\nend\n")
	return b.String()
}

func init() {
	register(func(add func(name string, data []byte)) {
		gbk := func(s string) string { return enc(simplifiedchinese.GBK, s) }
		sjis := func(s string) string { return enc(japanese.ShiftJIS, s) }
		jis := func(s string) string { return enc(japanese.ISO2022JP, s) }
		latin1 := func(s string) string { return enc(charmap.Windows1252, s) }

		// 60 ---------------------------------------------------------------
		// Modelled on Foxmail: GBK Subject, display name and attachment
		// name written raw, without RFC 2047; the body declares GB2312.
		add("60-gbk-foxmail-raw-headers.eml", crlf(`Received: from WIN-PC01 (unknown [198.51.100.23])
	by mx.example.net (Postfix) with ESMTPA id 4Z6cN1
	for <support@example.net>; Tue, 25 Mar 2025 10:12:40 +0800 (CST)
Date: Tue, 25 Mar 2025 10:12:33 +0800
From: "`+gbk("张伟")+`" <zhang.wei@example.com>
To: "support" <support@example.net>
Subject: `+gbk("回复：关于订单发货的问题")+`
X-Priority: 3
X-Has-Attach: yes
X-Mailer: Foxmail 7.2.25.375[cn]
Mime-Version: 1.0
Message-ID: <202503251012332418763@example.com>
Content-Type: multipart/mixed;
	boundary="----=_001_NextPart583262130845_=----"

This is a multi-part message in MIME format.

------=_001_NextPart583262130845_=----
Content-Type: text/plain;
	charset="GB2312"
Content-Transfer-Encoding: base64

`+b64([]byte(gbk(`您好，

我的订单 2025-0325 已经付款三天了，但是还没有发货。
附件是发票的扫描件，请帮忙查一下。

谢谢！
张伟
`)))+`
------=_001_NextPart583262130845_=----
Content-Type: application/pdf;
	name="`+gbk("发票扫描件.pdf")+`"
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
	filename="`+gbk("发票扫描件.pdf")+`"

`+b64(pdf("Invoice scan"))+`
------=_001_NextPart583262130845_=------

`))

		// 61 ---------------------------------------------------------------
		// Modelled on a Japanese mobile-carrier mail: ISO-2022-JP body,
		// Subject and display name in B-words that the carrier cut every
		// few bytes, inside an escape sequence and inside a character.
		subject := jis("ご注文の商品が届いていません")
		name := jis("山田花子")
		cut := func(raw string, at ...int) string {
			var words []string
			last := 0
			for _, i := range at {
				words = append(words, bword("ISO-2022-JP", raw[last:i]))
				last = i
			}
			return strings.Join(append(words, bword("ISO-2022-JP", raw[last:])), "\n ")
		}
		add("61-iso-2022-jp-split-words.eml", crlf(`Return-Path: <hanako.yamada@example.jp>
Received: from mobile.example.jp (mobile.example.jp [203.0.113.40])
	by mx.example.net (Postfix) with ESMTP id 4Z7dQ2
	for <support@example.net>; Wed, 26 Mar 2025 08:41:07 +0900 (JST)
Date: Wed, 26 Mar 2025 08:41:02 +0900 (JST)
From: `+cut(name, 2, 9)+` <hanako.yamada@example.jp>
To: support@example.net
Subject: `+cut(subject, 1, 12, 21)+`
Message-ID: <20250326084102.A1B2C3@mobile.example.jp>
MIME-Version: 1.0
Content-Type: text/plain; charset="ISO-2022-JP"
Content-Transfer-Encoding: 7bit
X-Mailer: Example Mobile Mail 2.0

`+jis(`お世話になっております。

先週注文した商品がまだ届いていません。
注文番号は 2025-0319-77 です。
確認をお願いします。

山田花子
`)))

		// 62 ---------------------------------------------------------------
		// Modelled on an old Japanese desktop mailer: Shift_JIS Subject and
		// file name raw, and a body whose Content-Type names no charset.
		add("62-shift-jis-raw-no-charset.eml", crlf(`Return-Path: <suzuki@example.co.jp>
Received: from pc12.example.co.jp (pc12.example.co.jp [192.0.2.77])
	by mx.example.net (Postfix) with ESMTP id 4Z8eR3
	for <support@example.net>; Thu, 27 Mar 2025 14:20:11 +0900 (JST)
From: suzuki@example.co.jp
To: support@example.net
Subject: `+sjis("お見積りの件について")+`
Date: Thu, 27 Mar 2025 14:20:05 +0900
Message-Id: <200503271420.AA00123@pc12.example.co.jp>
MIME-Version: 1.0
X-Mailer: Example Mail 1.3 for Windows
Content-Type: multipart/mixed; boundary="--_Part_20250327142005_77"

----_Part_20250327142005_77
Content-Type: text/plain
Content-Transfer-Encoding: 8bit

`+sjis(`いつもお世話になっております。
鈴木です。

先日ご依頼しましたお見積りを添付いたします。
ご確認のほど、よろしくお願いいたします。

鈴木一郎
`)+`
----_Part_20250327142005_77
Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet; name="`+sjis("見積書.xlsx")+`"
Content-Disposition: attachment; filename="`+sjis("見積書.xlsx")+`"
Content-Transfer-Encoding: base64

`+b64(xlsx())+`
----_Part_20250327142005_77--
`))

		// 63 ---------------------------------------------------------------
		// A French mail whose mailer writes Subject and file name raw in
		// Latin-1; the body declares ISO-8859-1.
		add("63-latin1-raw-subject-french.eml", crlf(`Return-Path: <m.lefevre@example.fr>
Received: from smtp.example.fr (smtp.example.fr [198.51.100.8])
	by mx.example.net (Postfix) with ESMTP id 4Z9fS4
	for <support@example.net>; Fri, 28 Mar 2025 16:02:44 +0100 (CET)
From: Martine Lefevre <m.lefevre@example.fr>
To: Service client <support@example.net>
Subject: `+latin1("Réclamation : facture impayée et relevé erroné")+`
Date: Fri, 28 Mar 2025 16:02:39 +0100
Message-ID: <4b2e9c1a.7f3d@example.fr>
MIME-Version: 1.0
X-Mailer: Example Webmail 4.2
Content-Type: multipart/mixed; boundary="=_b7c2e1f0a9d84c33"

--=_b7c2e1f0a9d84c33
Content-Type: text/plain; charset=ISO-8859-1
Content-Transfer-Encoding: quoted-printable

`+qp(latin1(`Bonjour,

je conteste la facture de février : le relevé indique une consommation
erronée. Vous trouverez ci-joint le relevé d'activité.

Cordialement,
Martine Lefèvre
`))+`
--=_b7c2e1f0a9d84c33
Content-Type: application/pdf; name="`+latin1("Relevé d'activité.pdf")+`"
Content-Disposition: attachment; filename="`+latin1("Relevé d'activité.pdf")+`"
Content-Transfer-Encoding: base64

`+b64(pdf("Releve d activite"))+`
--=_b7c2e1f0a9d84c33--
`))

		// 64 ---------------------------------------------------------------
		// A PHP contact form: no MIME headers at all, UTF-8 body, and a
		// German Subject written raw in Windows-1252 by the form script.
		add("64-php-form-no-content-type.eml", crlf(`Return-Path: <www-data@web1.example.com>
Received: from web1.example.com (web1.example.com [192.0.2.90])
	by mx.example.net (Postfix) with ESMTP id 4ZAgT5
	for <support@example.net>; Sat, 29 Mar 2025 11:30:02 +0100 (CET)
To: support@example.net
Subject: `+latin1("Kontaktformular: Rückfrage zur Kündigung")+`
From: Kontaktformular <noreply@example.com>
Reply-To: juergen.koenig@example.org
X-Mailer: PHP/8.1.2
Message-Id: <20250329103002.5E1F2A3B4C@web1.example.com>
Date: Sat, 29 Mar 2025 11:30:02 +0100 (CET)

Name: Jürgen König
Prénom / Vorname: Jürgen
E-Mail: juergen.koenig@example.org
Kundennummer: 100-4711

Nachricht:
Guten Tag, ich möchte meinen Vertrag zum nächstmöglichen Termin kündigen.
Bitte bestätigen Sie mir die Kündigung schriftlich. Grüße, J. König
`))

		// 65 ---------------------------------------------------------------
		// A mailer that labels UTF-8 text us-ascii and ISO-8859-1.
		add("65-lying-charset-utf8.eml", crlf(`From: Lena Lindqvist <lena@example.org>
To: support@example.net
Subject: Problem with my account
Date: Sun, 30 Mar 2025 19:45:00 +0200
Message-ID: <lying-charset.lena@example.org>
MIME-Version: 1.0
User-Agent: Example Mailer 0.9 (Linux)
Content-Type: multipart/alternative; boundary="alt-3f9a1c"

--alt-3f9a1c
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 8bit

Hej,

I can't log in since Friday. My name is Lena Lindqvist, address
Västra Hamngatan 5, Göteborg. The error says "Ogiltigt lösenord" – but
I reset it twice. Price shown was 49,00 € per month.

Lena
--alt-3f9a1c
Content-Type: text/html; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

`+qp(`<html><body><p>Hej,</p><p>I can't log in since Friday. My name is Lena Lindqvist, address
Västra Hamngatan 5, Göteborg. The error says "Ogiltigt lösenord" – but
I reset it twice. Price shown was 49,00 € per month.</p><p>Lena</p></body></html>
`)+`
--alt-3f9a1c--
`))

		// 66 ---------------------------------------------------------------
		// Modelled on an Outlook Express mail from a Chinese PC: raw GBK
		// Subject and a GBK body whose Content-Type names no charset.
		add("66-gbk-body-no-charset.eml", crlf(`Received: from USER-PC (unknown [198.51.100.61])
	by mx.example.net (Postfix) with SMTP id 4ZBhU6
	for <support@example.net>; Mon, 31 Mar 2025 09:05:17 +0800 (CST)
Message-ID: <000801db a1b2c3d4$e5f60718$0201a8c0@USERPC>
From: "li.na" <li.na@example.com>
To: <support@example.net>
Subject: `+gbk("账户无法登录，请帮忙处理")+`
Date: Mon, 31 Mar 2025 09:05:12 +0800
MIME-Version: 1.0
Content-Type: text/plain
Content-Transfer-Encoding: 8bit
X-Priority: 3
X-MSMail-Priority: Normal
X-Mailer: Microsoft Outlook Express 6.00.2900.5931

`+gbk(`你好：

我的账户从昨天开始就无法登录了，系统提示密码错误。
我已经重置过两次密码，还是不行。请尽快帮我处理一下。

李娜
`)))

		// 67 ---------------------------------------------------------------
		// A newsletter whose mailer writes UTF-7 encoded-words (the label
		// unicode-1-1-utf-7 is old Outlook's) and base64 words with extra
		// padding.
		utf7 := func(s string) string {
			// RFC 2152 by hand: each run of non-ASCII as "+" base64 of its
			// UTF-16BE, unpadded, then "-".
			var b strings.Builder
			rs := []rune(s)
			for i := 0; i < len(rs); {
				if rs[i] < 0x80 && rs[i] != '+' {
					b.WriteRune(rs[i])
					i++
					continue
				}
				var u16 []byte
				for i < len(rs) && (rs[i] >= 0x80 || rs[i] == '+') {
					u16 = append(u16, byte(rs[i]>>8), byte(rs[i]))
					i++
				}
				b.WriteString("+" + base64.RawStdEncoding.EncodeToString(u16) + "-")
			}
			return b.String()
		}
		overPadded := func(charset, s string) string {
			w := bword(charset, s)
			return strings.TrimSuffix(w, "?=") + "==?="
		}
		add("67-utf7-newsletter-overpadded.eml", crlf(`Return-Path: <bounce-7731@news.example.com>
Received: from news.example.com (news.example.com [203.0.113.15])
	by mx.example.net (Postfix) with ESMTP id 4ZCiV7
	for <support@example.net>; Tue, 1 Apr 2025 07:00:03 +0200 (CEST)
From: `+overPadded("UTF-8", "Café Müller")+` <news@example.com>
To: support@example.net
Subject: =?unicode-1-1-utf-7?Q?`+strings.ReplaceAll(utf7("Frühlingsangebote – nur diese Woche"), " ", "_")+`?=
Date: Tue, 1 Apr 2025 07:00:00 +0200
Message-ID: <nl-2025-04-01.7731@news.example.com>
List-Unsubscribe: <https://news.example.com/u/7731>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="nl7731"

--nl7731
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Liebe Kundin, lieber Kunde,

diese Woche gibt es alle Kuchen zum halben Preis.

Ihr Café Müller
--nl7731
Content-Type: application/pdf; name="`+overPadded("UTF-8", "Speisekarte_Frühling.pdf")+`"
Content-Disposition: attachment; filename="`+overPadded("UTF-8", "Speisekarte_Frühling.pdf")+`"
Content-Transfer-Encoding: base64

`+b64(pdf("Speisekarte"))+`
--nl7731--
`))

		// 68 ---------------------------------------------------------------
		// Modelled on Eudora/Pegasus: a file uuencoded into the text part
		// itself, and one sent as a part with Content-Transfer-Encoding
		// x-uuencode.
		add("68-uuencode-eudora.eml", crlf(`Return-Path: <old.timer@example.org>
Received: from pc.example.org (pc.example.org [192.0.2.150])
	by mx.example.net (Postfix) with SMTP id 4ZDjW8
	for <support@example.net>; Wed, 2 Apr 2025 13:14:15 +0200 (CEST)
Message-Id: <3.0.32.20250402131415.00a1b2c3@example.org>
X-Sender: old.timer@example.org
X-Mailer: Windows Eudora Pro Version 3.0 (32)
Date: Wed, 02 Apr 2025 13:14:15 +0200
To: support@example.net
From: Otto Timer <old.timer@example.org>
Subject: Meter reading and photo
Mime-Version: 1.0
Content-Type: multipart/mixed; boundary="=====================_889873415==_"

--=====================_889873415==_
Content-Type: text/plain; charset="us-ascii"

Hello,

here is my meter reading as a file, and the photo of the meter.

`+uuencode("reading.txt", crlf("Meter 4711-0815\nReading: 12345 kWh\nDate: 2025-04-01\n"))+`
Best regards,
Otto
--=====================_889873415==_
Content-Type: application/octet-stream; name="meter.png"
Content-Transfer-Encoding: x-uuencode
Content-Disposition: attachment; filename="meter.png"

`+uuencode("meter.png", png(3, 2, 0x20, 0xa0, 0x40))+`
--=====================_889873415==_--
`))

		// 69 ---------------------------------------------------------------
		// A bulk mailer that declares multipart with a boundary it never
		// writes, and quoted-printable-encodes the whole body.
		add("69-qp-body-unused-boundary.eml", crlf(`Return-Path: <info@shop.example.com>
Received: from mailer.shop.example.com (mailer.shop.example.com [203.0.113.99])
	by mx.example.net (Postfix) with ESMTP id 4ZEkX9
	for <support@example.net>; Thu, 3 Apr 2025 18:00:01 +0200 (CEST)
From: Shop Team <info@shop.example.com>
To: support@example.net
Subject: Ihre Bestellung 2025-0403 wurde versandt
Date: Thu, 3 Apr 2025 18:00:00 +0200
Message-ID: <order-shipped-2025-0403@shop.example.com>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1_5f3e2d1c0b9a8f7e6d5c4b3a"
Content-Transfer-Encoding: quoted-printable

`+qp(`Guten Tag Frau Schröder,

Ihre Bestellung 2025-0403 wurde heute versandt. Die Sendungsverfolgung finden Sie unter https://shop.example.com/track?order=2025-0403&key=ab12cd34ef56 – die Zustellung erfolgt voraussichtlich in 2–3 Werktagen.

Mit freundlichen Grüßen
Ihr Shop-Team
`)))
	})
}
