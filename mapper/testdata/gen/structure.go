package main

import (
	"strconv"
	"strings"
)

// Messages 70–79: mail whose structure is damaged in the ways real senders,
// exporters and gateways damage it, that a person still reads without
// trouble.
func init() {
	register(func(add func(name string, data []byte)) {
		addCRLF := func(name, s string) { add(name, crlf(s)) }

		// 70 ---------------------------------------------------------------
		// One message of a Thunderbird "Save as mbox" export: the "From - "
		// separator line and Thunderbird's status headers before the
		// message's own.
		addCRLF("70-thunderbird-mbox-from-line.eml", `From - Mon Mar  3 09:15:00 2025
X-Mozilla-Status: 0001
X-Mozilla-Status2: 00000000
X-Mozilla-Keys:                                                                                 
Return-Path: <helga.hansen@example.com>
Delivered-To: support@example.net
Received: from mail.example.com (mail.example.com [192.0.2.25])
	by mx.example.net (Postfix) with ESMTPS id 4Z7bb2
	for <support@example.net>; Mon,  3 Mar 2025 09:15:02 +0100 (CET)
Message-ID: <3f1e2a7c-9b1d-4c55-8e0a-2d6b7c9e1f00@example.com>
Date: Mon, 3 Mar 2025 09:15:00 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Content-Language: de-DE
To: Kundenservice <support@example.net>
From: Helga Hansen <helga.hansen@example.com>
Subject: =?UTF-8?Q?Z=C3=A4hlerstand_M=C3=A4rz?=
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 8bit

Guten Tag,

mein Zählerstand am 1. März war 48213 kWh.

Viele Grüße
Helga Hansen
`)

		// 71 ---------------------------------------------------------------
		// An mbox separator with the sender only (no date), as some
		// archivers and formail write it.
		addCRLF("71-mbox-from-line-without-date.eml", `From ivo.ilic@example.org
Return-Path: <ivo.ilic@example.org>
From: Ivo Ilic <ivo.ilic@example.org>
To: support@example.net
Subject: Kündigung zum 30.04.
Date: Tue, 4 Mar 2025 18:02:11 +0100
Message-ID: <20250304180211.7731@mail.example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit
X-Mailer: Archiver 2.4

Hallo,

hiermit kündige ich meinen Vertrag (Kundennummer 10-4471) zum 30.04.

Ivo Ilic
`)

		// 72 ---------------------------------------------------------------
		// A stray line of text before the header, as a web-mail "save
		// message" or a broken POP3 download leaves it.
		addCRLF("72-junk-line-before-headers.eml", `Message saved by WebMail 3.2 - do not edit
Return-Path: <jana.jung@example.com>
Received: from webmail.example.com (webmail.example.com [198.51.100.4])
	by mx.example.net with ESMTP id 5K2cc3
	for <support@example.net>; Wed,  5 Mar 2025 11:40:09 +0100
From: "Jana Jung" <jana.jung@example.com>
To: <support@example.net>
Subject: Abschlag zu hoch
Date: Wed, 05 Mar 2025 11:40:07 +0100
Message-ID: <webmail.1741171207.2231@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

Sehr geehrte Damen und Herren,

mein Abschlag von 142 =80 ist zu hoch, bitte pr=FCfen Sie ihn.

Jana Jung
`)

		// 73 ---------------------------------------------------------------
		// The first line is the continuation of a Received field whose
		// first line was lost (a relay that cut the top of the header).
		addCRLF("73-continuation-line-before-headers.eml", `	by relay.example.net (8.15.2/8.15.2) with ESMTP id 525AbC01
Received: from mail.example.org (mail.example.org [203.0.113.7])
	by relay.example.net (8.15.2/8.15.2) with ESMTP id 525AbC01;
	Wed, 5 Mar 2025 14:21:30 +0100
From: Karl Kemper <karl.kemper@example.org>
To: support@example.net
Subject: Zählerwechsel Termin
Date: Wed, 5 Mar 2025 14:21:28 +0100
Message-ID: <525AbC01.relay@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Hallo,

der Termin für den Zählerwechsel am 12.03. passt mir nicht. Geht auch der 14.03.?

Karl Kemper
`)

		// 74 ---------------------------------------------------------------
		// A PHP contact form that declares multipart without a boundary and
		// then sends plain text.
		addCRLF("74-php-multipart-without-boundary.eml", `Return-Path: <www-data@web1.example.com>
Received: by web1.example.com (Postfix, from userid 33)
	id 9C1F03E01A; Thu,  6 Mar 2025 07:55:12 +0100 (CET)
To: support@example.net
Subject: Kontaktformular: Rückruf erbeten
X-PHP-Originating-Script: 1000:kontakt.php
From: Kontaktformular <noreply@example.com>
Reply-To: lena.lorenz@example.org
MIME-Version: 1.0
Content-Type: multipart/mixed
X-Mailer: PHP/7.4.33
Message-Id: <20250306065512.9C1F03E01A@web1.example.com>
Date: Thu,  6 Mar 2025 07:55:12 +0100 (CET)

Name: Lena Lorenz
E-Mail: lena.lorenz@example.org
Telefon: 0170 0000000

Nachricht:
Bitte rufen Sie mich wegen meiner Rechnung zurück, am besten vormittags.
`)

		// 75 ---------------------------------------------------------------
		// A body pasted into a file with no header at all (an agent saving a
		// customer's text from a web form into the drop folder).
		addCRLF("75-pasted-body-fragment.eml", `Sehr geehrtes Service-Team,

leider wurde mir im Februar der Abschlag doppelt abgebucht
(2 x 89,00 EUR am 03.02.2025). Bitte erstatten Sie den zweiten Betrag.

Vertragsnummer: 2211-0042
Mit freundlichen Grüßen
Marta Maier
`)

		// 76 ---------------------------------------------------------------
		// Lotus Notes and old Outlook: disposition parameters folded over
		// lines, a file name folded inside its quotes, size and dates after
		// it; an unquoted name with spaces; parameters without ';'; a
		// repeated parameter.
		pdf76 := pdf("Angebot 2025 Rev2")
		addCRLF("76-lotus-outlook-folded-disposition-params.eml", `Received: from notes.example.com ([192.0.2.80])
	by mx.example.net with ESMTP id 6L3dd4
	for <support@example.net>; Thu, 6 Mar 2025 10:02:44 +0100
Subject: Angebot und Unterlagen
To: support@example.net
From: Nina Noll <nina.noll@example.com>
Date: Thu, 6 Mar 2025 10:02:40 +0100
Message-ID: <OF1A2B3C4D.5E6F7A8B-ONC1258C00.003A1B2C-C1258C00.003A2D3E@example.com>
X-Mailer: Lotus Notes Release 9.0.1FP10 SHF68 June 06, 2019
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="=_mixed 003A2D3EC1258C00_="

This is a multipart message in MIME format.
--=_mixed 003A2D3EC1258C00_=
Content-Type: text/plain; charset="ISO-8859-1"
Content-Transfer-Encoding: quoted-printable

Guten Tag,

anbei das Angebot und die Unterlagen.

Mit freundlichen Gr=FC=DFen
Nina Noll
--=_mixed 003A2D3EC1258C00_=
Content-Type: application/pdf; name="Angebot 2025 Rev2.pdf"
Content-Disposition: attachment;
	filename="Angebot 2025
 Rev2.pdf"; size=`+strconv.Itoa(len(pdf76))+`;
	creation-date="Thu, 06 Mar 2025 09:58:10 GMT";
	modification-date="Thu, 06 Mar 2025 09:58:10 GMT"
Content-Transfer-Encoding: base64

`+b64(pdf76)+`--=_mixed 003A2D3EC1258C00_=
Content-Type: application/octet-stream
Content-Disposition: attachment; filename=Preisblatt Strom 2025.pdf size=`+strconv.Itoa(len(pdf76))+` creation-date="Thu, 06 Mar 2025 09:58:10 GMT"
Content-Transfer-Encoding: base64

`+b64(pdf76)+`--=_mixed 003A2D3EC1258C00_=
Content-Type: application/pdf; name="AGB.pdf"; name="AGB (alt).pdf"
Content-Disposition: attachment; filename="AGB.pdf" FILENAME="AGB (alt).pdf"
Content-Transfer-Encoding: base64

`+b64(pdf76)+`--=_mixed 003A2D3EC1258C00_=--
`)

		// 77 ---------------------------------------------------------------
		// The last delimiter line is followed by a blank line and nothing
		// else: no closing delimiter (a list server that cut its footer).
		addCRLF("77-unclosed-empty-last-part.eml", `From: Olaf Ortmann <olaf.ortmann@example.org>
To: support@example.net
Subject: Foto vom Zähler
Date: Fri, 7 Mar 2025 08:12:00 +0100
Message-ID: <c0ffee77-1234-4abc-9def-001122334455@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="------------Wb2xq8Yc0Zs1Av3Tn4Ke5Ju6"

This is a multi-part message in MIME format.
--------------Wb2xq8Yc0Zs1Av3Tn4Ke5Ju6
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 7bit

Hallo, anbei das Foto vom Zaehler.

Olaf

--------------Wb2xq8Yc0Zs1Av3Tn4Ke5Ju6
Content-Type: image/png; name="zaehler.png"
Content-Disposition: attachment; filename="zaehler.png"
Content-Transfer-Encoding: base64

`+b64(png(4, 2, 0x33, 0x99, 0x33))+`
--------------Wb2xq8Yc0Zs1Av3Tn4Ke5Ju6

`)

		// 78 ---------------------------------------------------------------
		// A gateway's size limit cut the message in the middle of the PDF's
		// base64 (mid-line, one character into a 4-character group).
		pdf78 := b64(pdf("Rechnung 2025-0314 Seite 1 von 1 - Gesamtbetrag 1.234,56 EUR"))
		cut := strings.Index(pdf78, "\n") * 5 // a few full lines
		cut += 37                             // and part of one more
		for len(strings.ReplaceAll(pdf78[:cut], "\n", ""))%4 != 1 {
			cut++
		}
		addCRLF("78-gateway-truncated-base64-pdf.eml", `Return-Path: <paula.pohl@example.com>
Received: from gw.example.net (gw.example.net [198.51.100.20])
	by mx.example.net with ESMTP id 7M4ee5
	for <support@example.net>; Fri, 7 Mar 2025 15:30:12 +0100
From: Paula Pohl <paula.pohl@example.com>
To: support@example.net
Subject: Rechnung 2025-0314 Einspruch
Date: Fri, 7 Mar 2025 15:30:05 +0100
Message-ID: <20250307153005.4412@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="----=_Part_4412_1741357805"

------=_Part_4412_1741357805
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 7bit

Guten Tag, ich lege Einspruch gegen die angehaengte Rechnung ein.
Paula Pohl

------=_Part_4412_1741357805
Content-Type: application/pdf; name=Rechnung-2025-0314.pdf
Content-Disposition: attachment; filename=Rechnung-2025-0314.pdf
Content-Transfer-Encoding: base64

`+pdf78[:cut])

		// 79 ---------------------------------------------------------------
		// A Content-Type no parser can read ("text/plain html", an old
		// bulk mailer): the header and the body are still there.
		addCRLF("79-unreadable-content-type.eml", `From: Rudi Rau <rudi.rau@example.net>
To: support@example.net
Subject: Adressaenderung
Date: Mon, 10 Mar 2025 09:00:00 +0100
Message-ID: <1741593600.rudi@example.net>
MIME-Version: 1.0
Content-Type: text/plain html; charset=us-ascii
Content-Transfer-Encoding: 7bit
X-Mailer: BulkMail 1.0

Hallo,

meine neue Adresse ist Beispielweg 5, 12345 Musterstadt.

Rudi Rau
`)
	})
}
