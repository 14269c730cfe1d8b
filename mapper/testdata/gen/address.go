package main

import "golang.org/x/text/encoding/charmap"

// Address headers and senders as mailers really write them: Exchange's
// "Lastname, Firstname" in encoded-words, Outlook's semicolons and single
// quotes, PHP forms with raw Latin-1 names or an empty From, mailing-list
// comments, address lists mixing good and unreadable entries, and devices
// whose From has no domain.
func init() {
	register(func(add func(name string, data []byte)) {
		latin1 := func(s string) string { return enc(charmap.ISO8859_1, s) }
		cp1252 := func(s string) string { return enc(charmap.Windows1252, s) }

		// 50 -------------------------------------------------------------------
		// Modelled on Exchange Online: the display name "Müller, Bernd" is
		// one B-encoded word holding the comma, and Return-Path carries
		// Microsoft's BATV tag.
		add("50-exchange-encoded-name-comma.eml", crlf(`Return-Path: <prvs=0712a3b4c5=Bernd.Mueller@example.com>
Received: from EUR03-DBA-obe.outbound.protection.example.com (mail-dbaeur03on2101.outbound.protection.example.com [192.0.2.101])
	by mx.example.net (Postfix) with ESMTPS id 4Z7qR20xyz
	for <service@example.net>; Tue, 25 Mar 2025 08:41:12 +0100 (CET)
ARC-Seal: i=1; a=rsa-sha256; s=arcselector10001; d=example.com; cv=none;
 b=Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFy
From: `+bword("utf-8", "Müller, Bernd")+` <Bernd.Mueller@example.com>
To: "service@example.net" <service@example.net>
CC: `+qword("iso-8859-1", latin1("Schön, Anna"))+` <Anna.Schoen@example.com>,
	`+bword("utf-8", "Weiß, Clara (Einkauf)")+` <Clara.Weiss@example.com>,
	"Dorn, Daniel" <Daniel.Dorn@example.org>
Subject: `+bword("utf-8", "AW: Rückfrage zu Rechnung 2025-0388")+`
Thread-Topic: `+bword("utf-8", "Rückfrage zu Rechnung 2025-0388")+`
Thread-Index: AdudTXl2Y3J0cGVzYmV0ZXN0d2VydA==
Date: Tue, 25 Mar 2025 07:41:08 +0000
Message-ID: <DB9PR03MB7321A1B2C3D4E5F6A7B8@DB9PR03MB7321.eurprd03.prod.example.com>
References: <ticket-2025-0388@example.net>
In-Reply-To: <ticket-2025-0388@example.net>
Accept-Language: de-DE, en-US
Content-Language: de-DE
X-MS-Has-Attach:
X-MS-TNEF-Correlator:
X-MS-Exchange-Organization-SCL: -1
X-MS-Exchange-CrossTenant-originalarrivaltime: 25 Mar 2025 07:41:08.1234 (UTC)
X-MS-Exchange-CrossTenant-fromentityheader: Hosted
X-MS-Exchange-Transport-CrossTenantHeadersStamped: DB9PR03MB7321
Content-Type: multipart/alternative;
	boundary="_000_DB9PR03MB7321A1B2C3D4E5F6A7B8DB9PR03MB7321eurp_"
MIME-Version: 1.0

--_000_DB9PR03MB7321A1B2C3D4E5F6A7B8DB9PR03MB7321eurp_
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: base64

`+b64([]byte("Guten Tag,\r\n\r\nauf der Rechnung 2025-0388 fehlt die Bestellnummer. Bitte senden Sie uns eine korrigierte Fassung.\r\n\r\nMit freundlichen Grüßen\r\nBernd Müller\r\nEinkauf\r\n"))+`
--_000_DB9PR03MB7321A1B2C3D4E5F6A7B8DB9PR03MB7321eurp_
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: base64

`+b64([]byte(`<html xmlns:o="urn:schemas-microsoft-com:office:office"><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><style><!-- p.MsoNormal {margin:0cm; font-size:11.0pt; font-family:"Calibri",sans-serif;} --></style></head><body lang="DE" link="#0563C1"><div class="WordSection1"><p class="MsoNormal">Guten Tag,</p><p class="MsoNormal">auf der Rechnung 2025-0388 fehlt die Bestellnummer. Bitte senden Sie uns eine korrigierte Fassung.</p><p class="MsoNormal">Mit freundlichen Grüßen<br>Bernd Müller<br>Einkauf</p></div></body></html>`))+`
--_000_DB9PR03MB7321A1B2C3D4E5F6A7B8DB9PR03MB7321eurp_--
`))

		// 51 -------------------------------------------------------------------
		// Modelled on Outlook 2016 sending through a hosting provider's
		// SMTP: a Windows-1252 Q-encoded "Schön, Anna" and no Return-Path,
		// recipients separated by semicolons, in single quotes (one holding
		// a comma), an Exchange "'Dorn, Daniel'" and a trailing semicolon.
		add("51-outlook-semicolons-single-quotes.eml", crlf(`Received: from DESKTOP-7K2Q9 (p5b0c1d2e.dip0.example.net [192.0.2.77])
	by smtp.example.org (Postfix) with ESMTPSA id 4Z7rS31abc
	for <service@example.net>; Tue, 25 Mar 2025 10:02:44 +0100 (CET)
From: `+qword("Windows-1252", cp1252("Schön, Anna"))+` <anna.schoen@example.org>
To: 'Service' <service@example.net>; 'Kohl, Max' <max.kohl@example.com>;
	"'Dorn, Daniel'" <daniel.dorn@example.org>;
Subject: WG: Lieferung KW 13
Date: Tue, 25 Mar 2025 10:02:40 +0100
Message-ID: <000001db9d6a$1f2e3d40$5d8cb7c0$@example.org>
MIME-Version: 1.0
Content-Type: multipart/alternative;
	boundary="----=_NextPart_000_0001_01DB9D72.80F2A540"
X-Mailer: Microsoft Outlook 16.0
Thread-Index: AdudaB8uPUBdjLfAQ0KGl2rXyZ1Abw==
Content-Language: de

This is a multipart message in MIME format.

------=_NextPart_000_0001_01DB9D72.80F2A540
Content-Type: text/plain;
	charset="windows-1252"
Content-Transfer-Encoding: quoted-printable

`+qp(cp1252("Hallo zusammen,\n\ndie Lieferung für KW 13 verschiebt sich auf Donnerstag.\n\nViele Grüße\nAnna Schön\n"))+`
------=_NextPart_000_0001_01DB9D72.80F2A540
Content-Type: text/html;
	charset="windows-1252"
Content-Transfer-Encoding: quoted-printable

`+qp(cp1252(`<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252"></head><body lang=DE><div class=WordSection1><p class=MsoNormal>Hallo zusammen,</p><p class=MsoNormal>die Lieferung für KW 13 verschiebt sich auf Donnerstag.</p><p class=MsoNormal>Viele Grüße<br>Anna Schön</p></div></body></html>`))+`
------=_NextPart_000_0001_01DB9D72.80F2A540--
`))

		// 52 -------------------------------------------------------------------
		// Modelled on a PHP contact form (mail() from a script saved in
		// ISO-8859-1): the visitor's name goes into From as raw Latin-1
		// bytes, unquoted, and To ends in a comma.
		add("52-php-form-latin1-name.eml", crlf(`Return-Path: <www-data@web01.example.net>
Received: from web01.example.net (web01.example.net [192.0.2.40])
	by mx.example.net (Postfix) with ESMTP id 4Z7sT42def
	for <kontakt@example.net>; Tue, 25 Mar 2025 11:15:03 +0100 (CET)
Received: by web01.example.net (Postfix, from userid 33)
	id 4Z7sT41abc; Tue, 25 Mar 2025 11:15:03 +0100 (CET)
To: kontakt@example.net,
Subject: Kontaktformular: Frage zum Tarif
X-PHP-Originating-Script: 1000:kontakt.php
From: `+latin1("Jürgen Müller")+` <juergen.mueller@example.org>
Reply-To: `+latin1("Jürgen Müller")+` <juergen.mueller@example.org>
X-Mailer: PHP/7.4.33
MIME-Version: 1.0
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: 8bit
Message-Id: <20250325101503.4Z7sT41abc@web01.example.net>
Date: Tue, 25 Mar 2025 11:15:03 +0100 (CET)

`+latin1("Name: Jürgen Müller\nE-Mail: juergen.mueller@example.org\nTelefon: 0000 000000\n\nNachricht:\nIch möchte von Tarif Basis zu Tarif Plus wechseln. Geht das zum nächsten Monat?\n")))

		// 53 -------------------------------------------------------------------
		// Modelled on a CMS form plugin whose sender address was never
		// configured: From is an empty angle address, the visitor is in
		// Reply-To ("Kohl, Max" encoded), the web server in Return-Path.
		add("53-webform-empty-from-reply-to.eml", crlf(`Return-Path: <www-data@web02.example.net>
Received: from web02.example.net (web02.example.net [192.0.2.41])
	by mx.example.net (Postfix) with ESMTP id 4Z7tU53ghi
	for <service@example.net>; Tue, 25 Mar 2025 12:30:10 +0100 (CET)
Date: Tue, 25 Mar 2025 11:30:10 +0000
To: service@example.net
From: "Kontaktformular" <>
Reply-To: `+qword("utf-8", "Kohl, Max")+` <max.kohl@example.com>
Subject: `+qword("utf-8", "Neue Anfrage über das Kontaktformular")+`
Message-ID: <a1b2c3d4e5f60718293a4b5c6d7e8f90@www.example.net>
X-Mailer: PHPMailer 6.9.1 (https://github.com/PHPMailer/PHPMailer)
MIME-Version: 1.0
Content-Type: multipart/alternative;
	boundary="b1=_a1b2c3d4e5f60718293a4b5c6d7e8f90"
Content-Transfer-Encoding: 8bit

This is a multi-part message in MIME format.
--b1=_a1b2c3d4e5f60718293a4b5c6d7e8f90
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

`+qp("Von: Max Kohl <max.kohl@example.com>\nBetreff: Zählerstand\n\nNachricht:\nMein Zählerstand am 24.03. war 12345 kWh.\n\n-- \nDiese E-Mail wurde über das Kontaktformular auf www.example.net gesendet.\n")+`
--b1=_a1b2c3d4e5f60718293a4b5c6d7e8f90
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

`+qp(`<p>Von: Max Kohl &lt;max.kohl@example.com&gt;<br>Betreff: Zählerstand</p><p>Nachricht:<br>Mein Zählerstand am 24.03. war 12345 kWh.</p><p>-- <br>Diese E-Mail wurde über das Kontaktformular auf www.example.net gesendet.</p>`)+`
--b1=_a1b2c3d4e5f60718293a4b5c6d7e8f90--
`))

		// 54 -------------------------------------------------------------------
		// Modelled on a Mailman list: the author's name in an RFC 5322
		// comment, Sender set to the list's bounce address, and a To that a
		// member wrote by hand, one entry without angle brackets.
		add("54-mailing-list-comments.eml", crlf(`Return-Path: <kundenforum-bounces@lists.example.org>
Received: from lists.example.org (lists.example.org [192.0.2.60])
	by mx.example.net (Postfix) with ESMTP id 4Z7vW64jkl
	for <service@example.net>; Tue, 25 Mar 2025 14:05:33 +0100 (CET)
From: max.kohl@example.com (Max Kohl)
To: kundenforum@lists.example.org, Service Team service@example.net,
	"Anna Schön" <anna.schoen@example.org>
Cc: daniel.dorn@example.org (Daniel Dorn), "Weiss, Clara"
	<clara.weiss@example.com>
Subject: [Kundenforum] Abschlag zu hoch?
Date: Tue, 25 Mar 2025 14:05:30 +0100
Message-ID: <87h6abc123.fsf@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 8bit
X-BeenThere: kundenforum@lists.example.org
X-Mailman-Version: 2.1.39
Precedence: list
List-Id: Kundenforum <kundenforum.lists.example.org>
List-Unsubscribe: <https://lists.example.org/mailman/options/kundenforum>,
	<mailto:kundenforum-request@lists.example.org?subject=unsubscribe>
List-Post: <mailto:kundenforum@lists.example.org>
List-Help: <mailto:kundenforum-request@lists.example.org?subject=help>
Errors-To: kundenforum-bounces@lists.example.org
Sender: "Kundenforum" <kundenforum-bounces@lists.example.org>

Hallo zusammen,

mein Abschlag wurde von 80 auf 140 Euro erhöht. Ist das bei euch auch so?

Max
_______________________________________________
Kundenforum mailing list
kundenforum@lists.example.org
https://lists.example.org/mailman/listinfo/kundenforum
`))

		// 55 -------------------------------------------------------------------
		// Modelled on Thunderbird answering to all of a list pasted from a
		// spreadsheet: every kind of broken entry next to good ones.
		add("55-thunderbird-mixed-bad-entries.eml", crlf(`Return-Path: <eva.engel@example.com>
Received: from [192.0.2.88] (p4fd1e2f3.dip0.example.net [192.0.2.88])
	by smtp.example.com (Postfix) with ESMTPSA id 4Z7wX75mno
	for <service@example.net>; Tue, 25 Mar 2025 15:20:01 +0100 (CET)
Message-ID: <5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9@example.com>
Date: Tue, 25 Mar 2025 15:20:00 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Content-Language: de-DE
From: Eva Engel <eva.engel@example.com>
To: undisclosed-recipients:;, "Service" <service@example.net>,
	"Support Team" <>, `+"m\xfcller@example.org"+`,
	Max Kohl | [example.com] <kohl@example.com>
Cc: "Fischer, Frank <frank.fischer@example.org>, "Jürgen Groß"
	<juergen.gross@example.org>, "`+cp1252("Hélène “Lena” Roux")+`" <lena.roux@example.net>,
	Ida Imhof <ida.imhof@example..org>, mailto:jan.jung@example.org;
Subject: Re: Termin Zählerwechsel
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 8bit

Hallo,

der Termin für den Zählerwechsel am 2. April passt uns.

Viele Grüße
Eva Engel
`))

		// 56 -------------------------------------------------------------------
		// Modelled on an ERP system's invoice run: From names a local user
		// with no domain; the relay account is in Sender.
		add("56-erp-from-without-domain-sender.eml", crlf(`Return-Path: <bounces+erp@mailer.example.com>
Received: from erp01.example.com (erp01.example.com [192.0.2.90])
	by mx.example.net (Postfix) with ESMTP id 4Z7xY86pqr
	for <rechnung@example.net>; Wed, 26 Mar 2025 06:00:04 +0100 (CET)
From: Buchhaltung Beispiel GmbH <buchhaltung>
Sender: ERP Mailer <erp-mailer@example.com>
To: rechnung@example.net
Subject: Zahlungsavis 2025-03-26
Date: Wed, 26 Mar 2025 06:00:02 +0100
Message-ID: <erp.20250326060002.0815@erp01.example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-8859-1
Content-Transfer-Encoding: quoted-printable
X-Mailer: ERP Mailer 4.2

`+qp(latin1("Sehr geehrte Damen und Herren,\n\nwir überweisen heute 1.234,56 EUR für die Rechnungen 2025-0311 und 2025-0312.\n\nBuchhaltung\n"))))

		// 57 -------------------------------------------------------------------
		// Modelled on a scan-to-mail copier relaying through Exchange
		// Online: From has no domain and nothing else names the sender but
		// Return-Path, with Microsoft's BATV tag.
		add("57-scanner-batv-return-path.eml", crlf(`Return-Path: <prvs=0a1b2c3d4e=scanner-3og@example.com>
Received: from AM0PR02MB5555.eurprd02.prod.example.com (mail-am0eur02on2120.outbound.protection.example.com [192.0.2.120])
	by mx.example.net (Postfix) with ESMTPS id 4Z7yZ97stu
	for <service@example.net>; Wed, 26 Mar 2025 09:12:00 +0100 (CET)
From: Scanner 3.OG <scanner>
To: service@example.net
Subject: Scan from MFP-3OG 2025-03-26 09:11
Date: Wed, 26 Mar 2025 09:11:58 +0100
Message-ID: <MFP3OG.20250326091158.0042@scanner.example.com>
MIME-Version: 1.0
X-MS-Exchange-Organization-AuthAs: Anonymous
X-MS-Exchange-Organization-SCL: -1
Content-Type: multipart/mixed; boundary="MFP-3OG-boundary-0042"

--MFP-3OG-boundary-0042
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

Scanned document attached.
Device: MFP-3OG
Pages: 1

--MFP-3OG-boundary-0042
Content-Type: application/pdf; name="scan_20250326_091158.pdf"
Content-Disposition: attachment; filename="scan_20250326_091158.pdf"
Content-Transfer-Encoding: base64

`+b64(pdf("Scan 2025-03-26"))+`
--MFP-3OG-boundary-0042--
`))
	})
}
