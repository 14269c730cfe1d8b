package mapper_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/mapper"
	"github.com/smallstep/pkcs7"
)

// An opaque-signed message with a fresh key, a self-signed certificate and
// signed attributes (signing time), as Outlook writes it.
func TestSMIMEOpaqueSigned(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Test Signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		EmailAddresses: []string{"signer@example.com"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	inner := "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Grüße, the signed text.\r\n--b\r\nContent-Type: text/csv; name=data.csv\r\nContent-Disposition: attachment; filename=data.csv\r\n\r\n" +
		"a,b\r\n1,2\r\n--b--\r\n"
	sd, err := pkcs7.NewSignedData([]byte(inner))
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.AddSigner(cert, key, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	p7, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range []string{
		`application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"`,
		`application/x-pkcs7-mime; name="smime.p7m"`,
	} {
		raw := "From: signer@example.com\r\nTo: support@example.net\r\nSubject: signed\r\nDate: Mon, 3 Mar 2025 09:00:00 +0000\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: " + ct + "\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			base64.StdEncoding.EncodeToString(p7) + "\r\n"
		res, err := mapper.Map(context.Background(), []byte(raw), goldenOptions("smime"))
		if err != nil {
			t.Fatal(err)
		}
		c := res.Conversation
		if c.BodyPlain != "Grüße, the signed text." || c.Subject != "signed" {
			t.Errorf("%s: body %q subject %q", ct, c.BodyPlain, c.Subject)
		}
		if len(c.Attachments) != 1 || c.Attachments[0].Name != "data.csv" {
			t.Errorf("%s: attachments %+v", ct, c.Attachments)
		}
		if c.RawData["smime"] != "signed (not verified)" {
			t.Errorf("%s: rawData.smime = %v", ct, c.RawData["smime"])
		}
	}
}

func TestBrokenWinmailIsKept(t *testing.T) {
	raw := "From: a@example.com\r\nSubject: x\r\nDate: Mon, 3 Mar 2025 09:00:00 +0000\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\n" +
		"Content-Type: application/ms-tnef; name=winmail.dat\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte("\x78\x9f\x3e\x22\x01\x00\x01\x06\x90\x08\x00\xff\xff\xff\x00")) + "\r\n--b--\r\n"
	res, err := mapper.Map(context.Background(), []byte(raw), goldenOptions("tnef"))
	if err != nil {
		t.Fatal(err)
	}
	c := res.Conversation
	if len(c.Attachments) != 1 || c.Attachments[0].Name != "winmail.dat" {
		t.Errorf("attachments %+v", c.Attachments)
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "winmail.dat could not be unpacked") {
		t.Errorf("warnings %q", res.Warnings)
	}
}
