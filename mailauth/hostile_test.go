package mailauth_test

import (
	"context"
	"testing"

	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/mailauth"
	"math/big"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// A mail example.org signed (From news@) replayed with a From of the
// attacker's choosing on top, separated from the signed header by a line
// that is not a field: parsers that stop at that line see only the
// attacker's From, the DKIM verifier reads past it and finds the
// signature valid. DMARC reads the whole header too, and fails it.
func TestDMARCMalformedLineHidesSecondFrom(t *testing.T) {
	w := newWorld(t)
	signed := sign(t, message("news@example.org"), "example.org", "rsa", w.rsa)
	for name, sep := range map[string]string{"no colon": "X-Junk\r\n", "space in name": "X Junk: 1\r\n", "@ in name": "X@Junk: 1\r\n", "8bit in name": "X-Jünk: 1\r\n"} {
		raw := append([]byte("From: CEO <ceo@example.org>\r\n"+sep), signed...)
		r := w.v.Verify(context.Background(), env("127.0.0.9", "mallory@evil.example"), raw)
		t.Logf("%s: %+v", name, r)
		if r.DMARC == mailauth.Pass {
			t.Errorf("%s: a replayed signature of news@ passes DMARC for a second, unsigned From ceo@example.org: %+v", name, r)
		}
	}
}

// A correctly signed mail whose From display name is an encoded word in
// a charset Go's net/mail does not know (windows-1252 from Outlook,
// ISO-2022-JP) still has its From domain, and passes DMARC.
func TestDMARCFromWithUnknownCharsetDisplayName(t *testing.T) {
	w := newWorld(t)
	for _, name := range []string{"=?windows-1252?Q?M=FCller?=", "=?ISO-2022-JP?B?GyRCOzNFRBsoQg==?="} {
		raw := []byte("From: " + name + " <alice@example.org>\r\nTo: support@example.com\r\nSubject: Hello\r\n" +
			"Message-ID: <2@example.org>\r\nDate: Wed, 25 Nov 2026 03:00:00 +0000\r\n\r\nHello, please help.\r\n")
		raw = sign(t, raw, "example.org", "rsa", w.rsa)
		r := w.v.Verify(context.Background(), env("127.0.0.2", "alice@example.org"), raw)
		if r.DMARC != mailauth.Pass || !r.Authenticated() {
			t.Errorf("%s: signed, SPF-passing mail: dkim %s spf %s dmarc %s from domain %q; want dmarc pass", name, r.DKIM, r.SPF, r.DMARC, r.FromDomain)
		}
	}
}

// A From domain written in Unicode (RFC 6532 mail) is looked up in its
// A-label form, so a forged mail of a p=reject domain fails under that
// policy rather than looking like one of a domain without a policy.
func TestDMARCUnicodeFromDomainLookedUpAsALabel(t *testing.T) {
	w := newWorld(t)
	w.dns.TXT("_dmarc.xn--bcher-kva.example", "v=DMARC1; p=reject")
	r := w.v.Verify(context.Background(), env("127.0.0.9", "mallory@evil.example"), message("ceo@bücher.example"))
	t.Logf("%+v", r)
	if r.DMARC != mailauth.Fail || !r.Rejecting() {
		t.Errorf("forged From ceo@bücher.example (p=reject): dmarc %s policy %q, want fail under reject", r.DMARC, r.Policy)
	}
}

// rspamd writes the DMARC policy as "(policy=reject)": its p=reject
// failures are Rejecting.
func TestRspamdPolicyComment(t *testing.T) {
	raw := []byte("Authentication-Results: mx.example.com; dkim=none;\r\n" +
		"\tdmarc=fail reason=\"No valid SPF, No valid DKIM\" header.from=example.org (policy=reject);\r\n" +
		"\tspf=fail (mx.example.com: domain of ceo@example.org does not designate 192.0.2.9 as permitted sender) smtp.mailfrom=ceo@example.org\r\n" +
		string(message("ceo@example.org")))
	r := mailauth.FromHeaders(raw, []string{"mx.example.com"}, "")
	if r == nil || !r.Rejecting() {
		t.Errorf("rspamd dmarc=fail (policy=reject): %+v, want Rejecting", r)
	}
}

// A signature whose key (from the sender's own DNS) is huge would cost
// seconds of CPU per signature, which no deadline interrupts: a key
// record over 2 KB is no key.
func TestHugeDKIMKeyIsRefused(t *testing.T) {
	const bits = 131072
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), bits))
	n.SetBit(n, bits-1, 1)
	n.SetBit(n, 0, 1)
	der, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n, E: 1<<31 - 1})
	if err != nil {
		t.Fatal(err)
	}
	key := testenv.NewDKIMKey(t, "rsa")
	signed := string(sign(t, message("mallory@evil.example"), "evil.example", "big", key))
	// Keep bh= (the body hash is checked first); replace b= by a signature
	// of the modulus' size.
	signed = regexp.MustCompile(`([; \t]b=)(?:[^;\r]|\r\n[ \t])+`).ReplaceAllString(signed, "${1}"+base64.StdEncoding.EncodeToString(make([]byte, bits/8)))
	raw := []byte(signed)
	st := &mailauth.Stamper{Verifier: &mailauth.Verifier{Resolver: bigKeyResolver{"v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)}},
		AuthservID: "mailbridge.test", Timeout: 100 * time.Millisecond}
	start := time.Now()
	h := st.AuthenticationResults(context.Background(), netip.MustParseAddr("127.0.0.9"), "evil.example", "mallory@evil.example", raw)
	took := time.Since(start)
	t.Logf("took %v: %s", took, h)
	if !strings.Contains(string(h), "dkim=permerror") {
		t.Errorf("a %d-byte key record was used (took %v): %s", len(der)*4/3, took, h)
	}
}

// bigKeyResolver serves a DKIM key of a hostile size (a real server would
// send it over TCP: a 131072-bit key is 22 KB of base64, within a DNS
// message's 64 KB) and nothing else.
type bigKeyResolver struct{ record string }

func (b bigKeyResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	if name == "big._domainkey.evil.example" {
		return []string{b.record}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}
func (bigKeyResolver) LookupMX(context.Context, string) ([]*net.MX, error) {
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}
func (bigKeyResolver) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}
func (bigKeyResolver) LookupAddr(context.Context, string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}
