package mailauth_test

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/mailauth"
)

// world is a local DNS server publishing the records of a few sender
// domains, and the keys they sign with.
type world struct {
	dns *testenv.DNS
	rsa testenv.DKIMKey
	ed  testenv.DKIMKey
	v   *mailauth.Verifier
}

func newWorld(t testing.TB) *world {
	t.Helper()
	d := testenv.StartDNS(t)
	w := &world{dns: d, rsa: testenv.NewDKIMKey(t, "rsa"), ed: testenv.NewDKIMKey(t, "ed25519")}
	// example.org signs and has p=reject; its mail leaves from 127.0.0.2.
	d.TXT("rsa._domainkey.example.org", w.rsa.Record)
	d.TXT("ed._domainkey.example.org", w.ed.Record)
	d.TXT("example.org", "v=spf1 ip4:127.0.0.2 -all")
	d.TXT("_dmarc.example.org", "v=DMARC1; p=reject")
	// soft.example.net: SPF softfail for everyone but 127.0.0.3, no DMARC.
	d.TXT("soft.example.net", "v=spf1 ip4:127.0.0.3 ~all")
	// strict.example.com: strict alignment; mail comes from its subdomain.
	d.TXT("strict.example.com", "v=spf1 -all")
	d.TXT("mail.strict.example.com", "v=spf1 ip4:127.0.0.2 -all")
	d.TXT("_dmarc.strict.example.com", "v=DMARC1; p=quarantine; aspf=s; adkim=s")
	w.v = &mailauth.Verifier{Resolver: mailauth.NewCache(mailauth.NewNetResolver(d.Addr), 2*time.Second, time.Minute, 0)}
	return w
}

func message(from string) []byte {
	return []byte("From: Customer <" + from + ">\r\nTo: support@example.com\r\nSubject: Hello\r\n" +
		"Message-ID: <1@example.org>\r\nDate: Wed, 25 Nov 2026 03:00:00 +0000\r\n\r\nHello, please help.\r\n")
}

func sign(t *testing.T, raw []byte, domain, selector string, key testenv.DKIMKey) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := dkim.Sign(&out, bytes.NewReader(raw), &dkim.SignOptions{Domain: domain, Selector: selector, Signer: key.Signer}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func env(ip, from string) mailauth.Envelope {
	return mailauth.Envelope{IP: netip.MustParseAddr(ip), Helo: "mx.example.org", MailFrom: from}
}

func TestVerifySignedPasses(t *testing.T) {
	w := newWorld(t)
	for _, sel := range []string{"rsa", "ed"} {
		key := w.rsa
		if sel == "ed" {
			key = w.ed
		}
		raw := sign(t, message("alice@example.org"), "example.org", sel, key)
		// From an address SPF does not allow: DKIM alone carries DMARC.
		r := w.v.Verify(context.Background(), env("127.0.0.9", "alice@example.org"), raw)
		if r.DKIM != mailauth.Pass || r.DMARC != mailauth.Pass || r.AlignedDomain != "example.org" || r.SPF != mailauth.Fail {
			t.Errorf("%s: got %+v, want dkim pass, spf fail, dmarc pass aligned on example.org", sel, r)
		}
	}
}

func TestVerifyForgedFromRejectDomain(t *testing.T) {
	w := newWorld(t)
	// Signed by a domain of the forger's own, from an address example.org's SPF refuses.
	w.dns.TXT("k._domainkey.forger.test", w.rsa.Record)
	raw := sign(t, message("ceo@example.org"), "forger.test", "k", w.rsa)
	r := w.v.Verify(context.Background(), env("127.0.0.9", "x@forger.test"), raw)
	if r.DKIM != mailauth.Pass || r.DMARC != mailauth.Fail || r.Policy != "reject" || !r.Rejecting() {
		t.Fatalf("got %+v, want dkim pass (unaligned), dmarc fail, p=reject", r)
	}
	// A signature broken in transit does not pass.
	good := sign(t, message("alice@example.org"), "example.org", "rsa", w.rsa)
	tampered := bytes.Replace(good, []byte("please help"), []byte("wire me money"), 1)
	r = w.v.Verify(context.Background(), env("127.0.0.9", "alice@example.org"), tampered)
	if r.DKIM != mailauth.Fail || r.DMARC != mailauth.Fail {
		t.Fatalf("tampered: got %+v, want dkim fail, dmarc fail", r)
	}
}

func TestVerifySPF(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		ip, from, want, dmarc string
	}{
		{"127.0.0.2", "alice@example.org", mailauth.Pass, mailauth.Pass},
		{"127.0.0.9", "alice@example.org", mailauth.Fail, mailauth.Fail},
		{"127.0.0.9", "bob@soft.example.net", mailauth.SoftFail, mailauth.None},
		{"127.0.0.3", "bob@soft.example.net", mailauth.Pass, mailauth.None},
		{"127.0.0.9", "x@nothing.example", mailauth.None, mailauth.None},
	}
	for _, c := range cases {
		r := w.v.Verify(context.Background(), env(c.ip, c.from), message(c.from))
		if r.SPF != c.want || r.DMARC != c.dmarc {
			t.Errorf("%s from %s: spf=%s dmarc=%s, want spf=%s dmarc=%s", c.from, c.ip, r.SPF, r.DMARC, c.want, c.dmarc)
		}
	}
}

func TestVerifyStrictAlignment(t *testing.T) {
	w := newWorld(t)
	// SPF passes for mail.strict.example.com, which relaxed alignment
	// would accept for strict.example.com; strict does not.
	r := w.v.Verify(context.Background(), env("127.0.0.2", "a@mail.strict.example.com"), message("a@strict.example.com"))
	if r.SPF != mailauth.Pass || r.DMARC != mailauth.Fail || r.Policy != "quarantine" {
		t.Fatalf("got %+v, want spf pass, dmarc fail (strict)", r)
	}
	if !strings.EqualFold(mailauth.OrgDomain("mail.strict.example.com"), "example.com") ||
		mailauth.OrgDomain("a.b.example.co.uk") != "example.co.uk" {
		t.Errorf("organizational domains wrong")
	}
}

func TestVerifyDNSDownIsTempError(t *testing.T) {
	w := newWorld(t)
	raw := sign(t, message("alice@example.org"), "example.org", "rsa", w.rsa)
	w.dns.Down(true)
	r := w.v.Verify(context.Background(), env("127.0.0.2", "alice@example.org"), raw)
	if r.DKIM != mailauth.TempError || r.SPF != mailauth.TempError || r.DMARC != mailauth.TempError {
		t.Fatalf("SERVFAIL: got %+v, want temperror everywhere", r)
	}
	// No server at all: refused, and not cached, so the next check works.
	dead := &mailauth.Verifier{Resolver: mailauth.NewCache(mailauth.NewNetResolver(testenv.FreeAddr(t)), time.Second, time.Minute, 0)}
	r = dead.Verify(context.Background(), env("127.0.0.2", "alice@example.org"), raw)
	if r.DKIM != mailauth.TempError || r.SPF != mailauth.TempError || r.DMARC != mailauth.TempError {
		t.Fatalf("no server: got %+v, want temperror everywhere", r)
	}
	w.dns.Down(false)
	r = w.v.Verify(context.Background(), env("127.0.0.2", "alice@example.org"), raw)
	if r.DMARC != mailauth.Pass {
		t.Fatalf("after recovery: got %+v, want pass", r)
	}
}

func TestVerifyCachesAnswers(t *testing.T) {
	w := newWorld(t)
	raw := sign(t, message("alice@example.org"), "example.org", "rsa", w.rsa)
	w.v.Verify(context.Background(), env("127.0.0.2", "alice@example.org"), raw)
	before := w.dns.Queries.Load()
	r := w.v.Verify(context.Background(), env("127.0.0.2", "alice@example.org"), raw)
	if r.DMARC != mailauth.Pass {
		t.Fatalf("got %+v", r)
	}
	if after := w.dns.Queries.Load(); after != before {
		t.Errorf("a warm cache asked the server %d more times", after-before)
	}
}

func TestVerifyBoundsSignatures(t *testing.T) {
	w := newWorld(t)
	// Twenty signatures: only MaxSignatures are verified.
	raw := message("alice@example.org")
	for i := 0; i < 20; i++ {
		raw = sign(t, raw, "example.org", "rsa", w.rsa)
	}
	v := &mailauth.Verifier{Resolver: w.v.Resolver, MaxSignatures: 3}
	r := v.Verify(context.Background(), env("127.0.0.2", "alice@example.org"), raw)
	if len(r.Signatures) != 3 {
		t.Fatalf("checked %d signatures, want 3", len(r.Signatures))
	}
	// An SPF record that recurses through includes stops at the lookup limit.
	for i := 0; i < 15; i++ {
		w.dns.TXT(name(i), "v=spf1 include:"+name(i+1)+" -all")
	}
	r = w.v.Verify(context.Background(), env("127.0.0.2", "a@"+name(0)), message("a@"+name(0)))
	if r.SPF != mailauth.PermError {
		t.Fatalf("include chain: spf=%s, want permerror", r.SPF)
	}
	// A context already ended makes no query and gives no pass.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fresh := &mailauth.Verifier{Resolver: mailauth.NewCache(mailauth.NewNetResolver(w.dns.Addr), time.Second, time.Minute, 0)}
	r = fresh.Verify(ctx, env("127.0.0.2", "alice@example.org"), raw)
	if r.DMARC == mailauth.Pass || r.DKIM == mailauth.Pass || r.SPF == mailauth.Pass {
		t.Fatalf("ended context: got %+v, want no pass", r)
	}
}

func name(i int) string { return "l" + string(rune('a'+i)) + ".chain.example" }

func TestCacheKeepsParsedKeys(t *testing.T) {
	c := mailauth.NewCache(mailauth.NewNetResolver(testenv.FreeAddr(t)), time.Second, time.Minute, 0)
	fills := 0
	fail := func() (any, error) { fills++; return nil, errors.New("no key") }
	for range 2 {
		if _, err := c.Key("sel._domainkey.example.org", fail); err == nil {
			t.Fatal("a failed fill gave no error")
		}
	}
	if fills != 2 {
		t.Fatalf("a failure was kept: %d fills for 2 lookups", fills)
	}
	fills = 0
	ok := func() (any, error) { fills++; return "key", nil }
	for range 2 {
		if v, err := c.Key("SEL._domainkey.example.org", ok); err != nil || v != "key" {
			t.Fatalf("got %v, %v", v, err)
		}
	}
	if fills != 1 {
		t.Fatalf("%d fills for 2 lookups of one key, want 1", fills)
	}
}
