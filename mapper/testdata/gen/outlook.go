package main

// Outlook's winmail.dat, S/MIME and PGP, calendar invitations: 80–89.

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log"
	"math/big"
	"time"

	"golang.org/x/text/encoding/charmap"

	tt "github.com/enneo/mailbridge/internal/tnef/tneftest"
	"github.com/smallstep/pkcs7"
)

// testKeyPEM is a key made for this corpus only; it signs nothing else.
// A fixed key, a fixed certificate and RSA PKCS #1 v1.5 signatures without
// signed attributes (no signing time) keep the signed messages byte-identical.
const testKeyPEM = `-----BEGIN RSA PRIVATE KEY-----
MIIEpQIBAAKCAQEA2RlOhhGs4Vzhy+0SnYx2iLaC+qvX1W7CVSfgVYfCqVidmp7T
iQtqEbQh6wuMl4Ob1WxD5MmRCQKXfMevttP64X/pGXB6O7qJaByox4MMos7k6XdL
j5fVJFJ2Aznxb+L1NieAujEmcEiH8xr7OS18tTsqbC0boomO/z/1lAa6pZxn7Kop
W/3HBJytFML5kyMu7oEfqWCcD5COIABtHu4zJyPbS4aAbFVpCtCZMV3FN6XOyQU3
rlGkvpKEaORVtQaucpmLWl67/Y8VAIsUX4CzkEh/W5ai7aStIxDlj4J8t1OI00Q8
SftVD0zycvme/vznx5hGLjgVIPE6MgjtfINgpwIDAQABAoIBABEhucbt/s+AmIzo
ILpFYFaPgyyBgl8PBiTZfbl3eiQKSyhCylHxOvs5/3Hgj8VRFxYIx3Qhd+GBzoSD
7tjQR5GjRLjDiHx4JD8Oq+mlQh+tkKDfz3BTEfhzeBPvGZ9eW0Kya//FaybHLSXr
sNF6m8cNa96XfKvJ4SVBXdbC5S22Ubmv1tS4Kt+OWu7AEEnNJ3RWNrIMZw5KxG6B
gUn0tky5sQ2m1sMAlKFaedhlq+nxe2v6zQDgWXQxjWBa0hkE/tgnbizf8DHawqL6
eBBT2vp9RdZjGl9ZgDV2MB5wJNlhp8rUKPYzBcw6JTNpIDNfQ+suGmiveGX/2fqP
XfSm6mkCgYEA9wE4bu6hRIWOifudRLRInZaTo9HG8Wm7wubFFLQC4Vt+5rx6tiIX
tb6swqjoM7rFJG+P6f2bRBPAbzV62rWmTSVhzAlZHO6vlUtGudHIFhteEt05ZgZA
wgQEC9Tcc5yqy/KTsRsiYVJEN4L2e8Gg9NuxGGVap7+GwQa9/BkhPuUCgYEA4QFH
bd8t92nkBWBQC0Wk9mpoZFEFJLsofw/RzdOUZofx0vKMH94hqxVnWMqmGK0avpKB
N6l8AAxm/Cy4Pw91o5eFWQiMMXUxWS03y4YV6IgoshuuAGiLGF3Yv0w/3mzavb6m
83I8InzNQks5uRHKzJHPow/OHGhRLf2R95MoXJsCgYEA1CF8MelHHu4EyIQLQOIE
KzMSgPK8hMBlvLEsOOeQQbKufcMJMDp/WlrzTAp7wVF51hzp3+8p1YGRFvE7HXI7
7K1aHD07BxoGOZV4nEWKLVI7rL/Jd9GO9BE22GJrIe8+0AD4znWbRTG93F7hCM/2
R9QVd/ozrTVTqZr8tvFuF/ECgYEAp14ZMNw7R/enWmxq/gd/DqDWKBCwP8NL+z/c
Mzt3/tCOi/hJTQchii4woraS2HYjF7DIl4vlpe+Tx27IWnf4bIiv8ytNhRiEba4Z
+7UwpLhrdRjr1HfvR1+/c4SXWa8lAtFHRH0ryAeHcxGbzVMzw/mONt/x0+WwxQIC
SuNWuZMCgYEAsBowgH9VWmgAAQKDZ1SEwbnOs786CC7DObrBpSvuhvzjCPT2DmaM
2ZqJlJe86bmaK6Jt5evBLdJJI7MQfrg5iesGlzxsbwKyeUuGaDkgdnwS961QRbfL
Z6i6SbZs8hiyyecgYjCmx6uhN30tYCI+2OOvFJ9enjOK5ChVF+EFNFc=
-----END RSA PRIVATE KEY-----`

func testSigner() (*x509.Certificate, *rsa.PrivateKey) {
	block, _ := pem.Decode([]byte(testKeyPEM))
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(0x5EED),
		Subject:        pkix.Name{CommonName: "Nora North", Organization: []string{"Example Corp"}},
		EmailAddresses: []string{"nora.north@example.com"},
		NotBefore:      time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:       time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:       x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		log.Fatal(err)
	}
	return cert, key
}

// sign returns a PKCS #7 signed-data of content, the content included or
// (detached) not.
func sign(content []byte, detached bool) []byte {
	cert, key := testSigner()
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		log.Fatal(err)
	}
	if err := sd.SignWithoutAttr(cert, key, pkcs7.SignerInfoConfig{}); err != nil {
		log.Fatal(err)
	}
	if detached {
		sd.Detach()
	}
	out, err := sd.Finish()
	if err != nil {
		log.Fatal(err)
	}
	return out
}

// opaque returns n bytes that look random (a SHA-256 chain of seed): the
// ciphertext of the encrypted samples, which nobody decrypts.
func opaque(seed string, n int) []byte {
	var out []byte
	h := sha256.Sum256([]byte(seed))
	for len(out) < n {
		out = append(out, h[:]...)
		h = sha256.Sum256(h[:])
	}
	return out[:n]
}

func init() {
	register(func(add func(name string, data []byte)) {
		addCRLF := func(name, s string) { add(name, crlf(s)) }

		// 80 ---------------------------------------------------------------
		// Outlook "Rich Text" mail through Exchange: the text outside, the
		// HTML body (in compressed RTF), two documents and an image inside.
		html80 := `<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><style>p.MsoNormal {margin:0cm; font-family:"Calibri",sans-serif}</style></head>
<body lang="DE" link="#0563C1"><div class="WordSection1"><p class="MsoNormal">Sehr geehrte Damen und Herren,</p><p class="MsoNormal">anbei die Rechnung für März und der Vertragsentwurf – bitte prüfen Sie Position 3 {Wartung}.</p>
<p class="MsoNormal"><img width="4" height="2" src="cid:image001.png@01DB9A2B.5C3D7E10" alt="Logo"></p><p class="MsoNormal">Mit freundlichen Grüßen<br>Otto Olsen</p></div></body></html>`
		tnef80 := tt.Message{
			Props: []tt.Prop{
				tt.Binary(tt.PrRTFCompressed, tt.CompressRTF([]byte(tt.EncapsulateHTML(html80)))),
				tt.Long(tt.PrInternetCPID, 65001),
			},
			Attachments: []tt.Attachment{
				{Title: "RECHNU~1.PDF", Data: pdf("Rechnung 2025-03"), Props: []tt.Prop{
					tt.Unicode(tt.PrAttachLongName, "Rechnung März 2025.pdf"),
					tt.String8(tt.PrAttachMimeTag, "application/pdf"),
					tt.Long(tt.PrAttachMethod, 1),
				}},
				{Title: "VERTRA~1.DOC", Data: xlsx(), Props: []tt.Prop{
					tt.Unicode(tt.PrAttachLongName, "Vertragsentwurf v2 (final).docx"),
					tt.Long(tt.PrAttachMethod, 1),
				}},
				{Title: "image001.png", Props: []tt.Prop{
					tt.Binary(tt.PrAttachDataBin, png(4, 2, 0x00, 0x66, 0xCC)),
					tt.String8(tt.PrAttachMimeTag, "image/png"),
					tt.String8(tt.PrAttachContentID, "image001.png@01DB9A2B.5C3D7E10"),
					tt.Bool(tt.PrAttachmentHidden, true),
					tt.Long(tt.PrAttachMethod, 1),
				}},
			},
		}.Bytes()
		addCRLF("80-outlook-tnef-rtf-html.eml", `Received: from AM0PR04MB1234.eurprd04.prod.example.com (2603:10a6:208:12::34)
 by AM0PR04MB5678.eurprd04.prod.example.com with HTTPS; Tue, 25 Mar 2025 10:12:40 +0000
From: Otto Olsen <otto.olsen@example.com>
To: Support <support@example.net>
Subject: Rechnung und Vertragsentwurf
Thread-Topic: Rechnung und Vertragsentwurf
Thread-Index: AdudRk1Zc3RlbUZvbGRlcgAAAAAAAAAAAAAAAA==
Date: Tue, 25 Mar 2025 10:12:38 +0000
Message-ID: <AM0PR04MB1234ABCDEF0123456789ABCDEF012345@AM0PR04MB1234.eurprd04.prod.example.com>
Accept-Language: de-DE, en-US
Content-Language: de-DE
X-MS-Has-Attach: yes
X-MS-TNEF-Correlator: <AM0PR04MB1234ABCDEF0123456789ABCDEF012345@AM0PR04MB1234.eurprd04.prod.example.com>
x-ms-exchange-organization-authas: Internal
x-ms-publictraffictype: Email
Content-Type: multipart/mixed;
	boundary="_000_AM0PR04MB1234ABCDEF0123456789ABCDEF012345_"
MIME-Version: 1.0

--_000_AM0PR04MB1234ABCDEF0123456789ABCDEF012345_
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

`+qp(enc(charmap.Windows1252, "Sehr geehrte Damen und Herren,\n\nanbei die Rechnung für März und der Vertragsentwurf – bitte prüfen Sie Position 3 {Wartung}.\n\nMit freundlichen Grüßen\nOtto Olsen\n"))+`
--_000_AM0PR04MB1234ABCDEF0123456789ABCDEF012345_
Content-Type: application/ms-tnef; name="winmail.dat"
Content-Disposition: attachment; filename="winmail.dat"
Content-Transfer-Encoding: base64

`+b64(tnef80)+`
--_000_AM0PR04MB1234ABCDEF0123456789ABCDEF012345_--
`)

		// 81 ---------------------------------------------------------------
		// Outlook's opaque-signed S/MIME: the whole message is smime.p7m.
		inner81 := crlf(`Content-Type: multipart/mixed;
	boundary="----=_NextPart_000_0012_01DB9E6A.1A2B3C40"

This is a multipart message in MIME format.

------=_NextPart_000_0012_01DB9E6A.1A2B3C40
Content-Type: text/plain;
	charset="utf-8"
Content-Transfer-Encoding: quoted-printable

` + qp("Hello,\n\nplease find the signed order confirmation attached. Delivery to Hamburg, 3 pallets.\n\nRegards,\nNora North\n") + `
------=_NextPart_000_0012_01DB9E6A.1A2B3C40
Content-Type: application/pdf;
	name="order-1234.pdf"
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
	filename="order-1234.pdf"

` + b64(pdf("Order 1234")) + `
------=_NextPart_000_0012_01DB9E6A.1A2B3C40--
`)
		addCRLF("81-smime-opaque-signed.eml", `From: "Nora North" <nora.north@example.com>
To: <support@example.net>
Subject: Order confirmation 1234 (signed)
Date: Wed, 26 Mar 2025 14:03:11 +0100
Message-ID: <000f01db9e6a$1a2b3c40$4e5f6a70$@example.com>
MIME-Version: 1.0
Content-Type: application/pkcs7-mime;
	smime-type=signed-data;
	name="smime.p7m"
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
	filename="smime.p7m"
X-Mailer: Microsoft Outlook 16.0
Thread-Index: AdueakqQm9C8sF3fT0mOlyqG1fWZ1A==
Content-Language: en-us

`+b64(sign(inner81, false)))

		// 82 ---------------------------------------------------------------
		// Thunderbird's multipart/signed S/MIME with smime.p7s.
		signed82 := crlf(`Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 7bit

Hello support,

my meter reading for contract 55-1020 is 04711 kWh.

Thanks,
Nora
`)
		addCRLF("82-smime-multipart-signed.eml", `Message-ID: <8c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f@example.com>
Date: Thu, 27 Mar 2025 08:30:00 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Content-Language: en-US
To: support@example.net
From: Nora North <nora.north@example.com>
Subject: Meter reading 55-1020
Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256;
 boundary="------------ms010203040506070809000102"

This is a cryptographically signed message in MIME format.

--------------ms010203040506070809000102
`+string(signed82)+`
--------------ms010203040506070809000102
Content-Type: application/pkcs7-signature; name="smime.p7s"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="smime.p7s"
Content-Description: S/MIME Cryptographic Signature

`+b64(sign(signed82, true))+`
--------------ms010203040506070809000102--
`)

		// 83 ---------------------------------------------------------------
		// PGP/MIME signed (RFC 3156); the signature part has no file name.
		addCRLF("83-pgp-mime-signed.eml", `From: Paul Pine <paul.pine@example.org>
To: support@example.net
Subject: Key rollover next week
Date: Thu, 27 Mar 2025 11:00:00 +0000
Message-ID: <pgp-signed-83@example.org>
MIME-Version: 1.0
Content-Type: multipart/signed; micalg=pgp-sha256;
 protocol="application/pgp-signature"; boundary="=-=-=pgp83=-=-="

--=-=-=pgp83=-=-=
Content-Type: text/plain; charset=utf-8

Hi, we rotate our API key on 2 April. Please update the webhook secret.

Paul

--=-=-=pgp83=-=-=
Content-Type: application/pgp-signature

-----BEGIN PGP SIGNATURE-----

iHUEARYIAB0WIQTexampleexampleexampleexampleFAmflTQAACgkQexample
AAAAAAEAexampleexampleexampleexampleexampleexampleexampleAAAA=
=ABCD
-----END PGP SIGNATURE-----

--=-=-=pgp83=-=-=--
`)

		// 84 ---------------------------------------------------------------
		// S/MIME encrypted (enveloped-data), as Outlook sends it.
		addCRLF("84-smime-encrypted.eml", `From: "Nora North" <nora.north@example.com>
To: <support@example.net>
Subject: Contract details (encrypted)
Date: Fri, 28 Mar 2025 09:45:00 +0100
Message-ID: <001201db9fa0$5b6c7d80$128e3a80$@example.com>
MIME-Version: 1.0
Content-Type: application/pkcs7-mime;
	smime-type=enveloped-data;
	name="smime.p7m"
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
	filename="smime.p7m"
X-Mailer: Microsoft Outlook 16.0
Content-Language: en-us

`+b64(append([]byte("\x30\x82\x03\x10\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03\xa0\x82\x03\x01"), opaque("84", 780)...)))

		// 85 ---------------------------------------------------------------
		// PGP/MIME encrypted (RFC 3156), as Thunderbird sends it.
		addCRLF("85-pgp-mime-encrypted.eml", `Message-ID: <0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a@example.org>
Date: Fri, 28 Mar 2025 12:00:00 +0000
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
From: Paul Pine <paul.pine@example.org>
To: support@example.net
Subject: ...
Content-Type: multipart/encrypted;
 protocol="application/pgp-encrypted";
 boundary="------------enc0A1B2C3D4E5F60718293A4"

This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)
--------------enc0A1B2C3D4E5F60718293A4
Content-Type: application/pgp-encrypted
Content-Description: PGP/MIME version identification

Version: 1

--------------enc0A1B2C3D4E5F60718293A4
Content-Type: application/octet-stream; name="encrypted.asc"
Content-Description: OpenPGP encrypted message
Content-Disposition: inline; filename="encrypted.asc"

-----BEGIN PGP MESSAGE-----

`+b64(opaque("85", 400))+`=Qx3E
-----END PGP MESSAGE-----

--------------enc0A1B2C3D4E5F60718293A4--
`)

		// 86 ---------------------------------------------------------------
		// Inline PGP in a plain text mail, with text around it.
		addCRLF("86-pgp-inline-encrypted.eml", `From: Paul Pine <paul.pine@example.org>
To: support@example.net
Subject: Access data
Date: Fri, 28 Mar 2025 12:30:00 +0000
Message-ID: <pgp-inline-86@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

Hi, as agreed, encrypted to your support key:

-----BEGIN PGP MESSAGE-----

`+b64(opaque("86", 300))+`=k2Lm
-----END PGP MESSAGE-----

Paul
`)

		// 87 ---------------------------------------------------------------
		// Outlook meeting request: TZID with a Windows zone name, VTIMEZONE,
		// escaped text, folded lines; the .ics only among the alternatives.
		ics87 := `BEGIN:VCALENDAR
METHOD:REQUEST
PRODID:Microsoft Exchange Server 2010
VERSION:2.0
BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
ORGANIZER;CN="Olsen, Otto":mailto:otto.olsen@example.com
ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Support:mailto:support@example.net
DESCRIPTION;LANGUAGE=de-DE:Agenda:\n1. Migration\; Zeitplan\n2. Fragen\, Sonstiges\n
RRULE:FREQ=WEEKLY;COUNT=4;BYDAY=TU
SUMMARY;LANGUAGE=de-DE:Wöchentliche Abstimmung: Migration\, Phase 2
DTSTART;TZID=W. Europe Standard Time:20250401T100000
DTEND;TZID=W. Europe Standard Time:20250401T103000
UID:040000008200E00074C5B7101A82E00800000000D0A1B2C3D4E5DB0100000000000000001
 0000000A1B2C3D4E5F60718293A4B5C6D7E8F90
CLASS:PUBLIC
PRIORITY:5
DTSTAMP:20250328T150000Z
TRANSP:OPAQUE
STATUS:CONFIRMED
SEQUENCE:0
LOCATION;LANGUAGE=de-DE:Raum 4.12 \; Gebäude B
END:VEVENT
END:VCALENDAR
`
		addCRLF("87-outlook-meeting-request.eml", `From: "Olsen, Otto" <otto.olsen@example.com>
To: Support <support@example.net>
Subject: =?utf-8?Q?W=C3=B6chentliche_Abstimmung:_Migration,_Phase_2?=
Thread-Topic: =?utf-8?Q?W=C3=B6chentliche_Abstimmung:_Migration,_Phase_2?=
Thread-Index: AdufoQ1Zc3RlbUZvbGRlcgAAAAAAAAAAAAAAAB==
Date: Fri, 28 Mar 2025 15:00:00 +0000
Message-ID: <AM0PR04MB1234FEDCBA9876543210FEDCBA987654@AM0PR04MB1234.eurprd04.prod.example.com>
Accept-Language: de-DE, en-US
Content-Language: de-DE
X-MS-Has-Attach:
X-MS-TNEF-Correlator:
Content-Type: multipart/alternative;
	boundary="_000_AM0PR04MB1234FEDCBA9876543210FEDCBA987654_"
MIME-Version: 1.0

--_000_AM0PR04MB1234FEDCBA9876543210FEDCBA987654_
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: base64

`+b64([]byte("Agenda:\r\n1. Migration; Zeitplan\r\n2. Fragen, Sonstiges\r\n"))+`
--_000_AM0PR04MB1234FEDCBA9876543210FEDCBA987654_
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: base64

`+b64([]byte("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head><body><div>Agenda:<br>1. Migration; Zeitplan<br>2. Fragen, Sonstiges</div></body></html>\r\n"))+`
--_000_AM0PR04MB1234FEDCBA9876543210FEDCBA987654_
Content-Type: text/calendar; charset="utf-8"; method=REQUEST
Content-Transfer-Encoding: base64

`+b64(crlf(ics87))+`
--_000_AM0PR04MB1234FEDCBA9876543210FEDCBA987654_--
`)

		// 88 ---------------------------------------------------------------
		// Google Calendar cancellation of an all-day event (VALUE=DATE).
		ics88 := `BEGIN:VCALENDAR
PRODID:-//Example Corp//Example Calendar 1.0//EN
VERSION:2.0
CALSCALE:GREGORIAN
METHOD:CANCEL
BEGIN:VEVENT
DTSTART;VALUE=DATE:20250407
DTEND;VALUE=DATE:20250410
DTSTAMP:20250329T080000Z
ORGANIZER;CN=Grace Green:mailto:grace.green@example.com
UID:3b2c1d0e-9f8a-4b7c-6d5e-4f3a2b1c0d9e@example.com
ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;CN=support
 @example.net;X-NUM-GUESTS=0:mailto:support@example.net
SEQUENCE:1
STATUS:CANCELLED
SUMMARY:Trade fair <Expo> & workshop
TRANSP:TRANSPARENT
END:VEVENT
END:VCALENDAR
`
		addCRLF("88-calendar-cancel-all-day.eml", `MIME-Version: 1.0
Date: Sat, 29 Mar 2025 08:00:00 +0000
Message-ID: <calendar-3b2c1d0e-9f8a-4b7c-6d5e-4f3a2b1c0d9e@example.com>
Subject: Canceled event: Trade fair <Expo> & workshop @ Mon 7 Apr 2025 - Thu 10 Apr 2025
From: Grace Green <grace.green@example.com>
To: support@example.net
Content-Type: multipart/mixed; boundary="000000000000cal88mixed00001"

--000000000000cal88mixed00001
Content-Type: multipart/alternative; boundary="000000000000cal88alt000001"

--000000000000cal88alt000001
Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes

This event has been canceled.

--000000000000cal88alt000001
Content-Type: text/calendar; charset="UTF-8"; method=CANCEL
Content-Transfer-Encoding: 7bit

`+ics88+`
--000000000000cal88alt000001--

--000000000000cal88mixed00001
Content-Type: application/ics; name="invite.ics"
Content-Disposition: attachment; filename="invite.ics"
Content-Transfer-Encoding: base64

`+b64(crlf(ics88))+`
--000000000000cal88mixed00001--
`)

		// 89 ---------------------------------------------------------------
		// Outlook's answer to an invitation: METHOD:REPLY, UTC times, the
		// calendar part is the only part of the message.
		addCRLF("89-calendar-reply-accepted.eml", `From: Support <support@example.net>
To: "Olsen, Otto" <otto.olsen@example.com>
Subject: Accepted: Onboarding call
Date: Mon, 31 Mar 2025 07:30:00 +0000
Message-ID: <reply-89@example.net>
MIME-Version: 1.0
Content-Type: text/calendar; charset="utf-8"; method=REPLY
Content-Transfer-Encoding: 7bit

BEGIN:VCALENDAR
METHOD:REPLY
PRODID:Microsoft Exchange Server 2010
VERSION:2.0
BEGIN:VEVENT
ATTENDEE;PARTSTAT=ACCEPTED;CN=Support:mailto:support@example.net
SUMMARY;LANGUAGE=en-US:Accepted: Onboarding call
DTSTART:20250402T130000Z
DTEND:20250402T140000Z
UID:7f3c2a10-9b4e-4d21-8c6f-1e2d3c4b5a69@example.com
DTSTAMP:20250331T073000Z
SEQUENCE:0
END:VEVENT
END:VCALENDAR
`)
	})
}
