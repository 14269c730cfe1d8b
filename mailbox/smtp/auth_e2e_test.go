package smtp_test

// Sender authentication end to end: mail signed with real keys, DKIM,
// SPF and DMARC records served by a DNS server on loopback, sent by swaks
// (from 127.0.0.1 or 127.0.0.2) and by Postfix to a listener that
// verifies, and delivered through the pipeline to the fake API.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/mailauth"
	"github.com/enneo/mailbridge/mailbox/smtp"
	"github.com/enneo/mailbridge/pipeline"
)

// authWorld is a DNS server publishing example.org (signs, SPF for
// 127.0.0.2 only, DMARC p=reject) and partner.example (SPF softfail for
// everyone but 127.0.0.3, no DMARC), and the key example.org signs with.
type authWorld struct {
	dns *testenv.DNS
	key testenv.DKIMKey
}

func newAuthWorld(t *testing.T) *authWorld {
	d := testenv.StartDNS(t)
	w := &authWorld{dns: d, key: testenv.NewDKIMKey(t, "rsa")}
	d.TXT("sel._domainkey.example.org", w.key.Record)
	d.TXT("example.org", "v=spf1 ip4:127.0.0.2 -all")
	d.TXT("_dmarc.example.org", "v=DMARC1; p=reject")
	d.TXT("partner.example", "v=spf1 ip4:127.0.0.3 ~all")
	return w
}

func (w *authWorld) stamper() *mailauth.Stamper {
	res := mailauth.NewCache(mailauth.NewNetResolver(w.dns.Addr), 2*time.Second, time.Minute, 0)
	return &mailauth.Stamper{Verifier: &mailauth.Verifier{Resolver: res}, AuthservID: "mailbridge.test", Timeout: 5 * time.Second}
}

func authMail(from, to, subject, id, extra string) []byte {
	return []byte(extra + "From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject + "\r\n" +
		"Message-ID: <" + id + ">\r\nDate: Wed, 25 Nov 2026 03:00:00 +0000\r\n\r\nPlease refund order 42.\r\n")
}

func (w *authWorld) sign(t *testing.T, raw []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := dkim.Sign(&out, bytes.NewReader(raw), &dkim.SignOptions{Domain: "example.org", Selector: "sel", Signer: w.key.Signer}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// swaksData sends raw with envelope from/to through swaks from the
// address local.
func swaksData(t *testing.T, server, local, from, to string, raw []byte) {
	t.Helper()
	swaks := testenv.LookTool(t, "swaks")
	file := filepath.Join(t.TempDir(), "mail.eml")
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, swaks, "--server", server, "--local-interface", local, "--timeout", "10",
		"--from", from, "--to", to, "--data", file).CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
}

func authOf(t *testing.T, c testapi.StoredConversation) map[string]any {
	t.Helper()
	a, ok := c.Payload.RawData["auth"].(map[string]any)
	if !ok {
		t.Fatalf("%s: no rawData.auth in %v", c.Payload.Subject, c.Payload.RawData)
	}
	return a
}

func tagsOf(c testapi.StoredConversation) []string {
	var tags []string
	if l, ok := c.Payload.RawData["tags"].([]any); ok {
		for _, v := range l {
			tags = append(tags, fmt.Sprint(v))
		}
	}
	return tags
}

func TestSenderAuthentication(t *testing.T) {
	w := newAuthWorld(t)
	s := newStackWith(t, func(c *pipeline.Config) {
		c.Auth = pipeline.Auth{OwnID: "mailbridge.test"}
		c.Subchannels[2] = pipeline.Subchannel{Process: "batch", Direction: "in", Unauthenticated: pipeline.UnauthProcessFalse}
	})
	addr := s.listen(t, smtp.Options{Verifier: w.stamper()})

	// A correctly signed mail, sent from an address example.org's SPF
	// does not list: DKIM alone carries DMARC.
	swaksData(t, addr, "127.0.0.1", "alice@example.org", "support@example.com",
		w.sign(t, authMail("alice@example.org", "support@example.com", "signed", "a1@example.org", "")))
	// The same domain, unsigned, from the address its SPF allows.
	swaksData(t, addr, "127.0.0.2", "alice@example.org", "support@example.com",
		authMail("alice@example.org", "support@example.com", "spf pass", "a2@example.org", ""))
	// A forged From of the p=reject domain, with the verdicts a forger
	// would like: under an unknown authserv-id, and under mailbridge's
	// own but below the top.
	forgedAR := "Authentication-Results: mx.evil.example; dkim=pass header.d=example.org; dmarc=pass header.from=example.org\r\n" +
		"Authentication-Results: mailbridge.test; dkim=pass header.d=example.org; spf=pass smtp.mailfrom=example.org; dmarc=pass header.from=example.org\r\n"
	swaksData(t, addr, "127.0.0.1", "ceo@example.org", "support@example.com",
		authMail("ceo@example.org", "support@example.com", "forged", "f1@forger.test", forgedAR))
	// SPF softfail, no DMARC: unauthenticated, and subchannel 2's policy
	// is process-false.
	swaksData(t, addr, "127.0.0.1", "bob@partner.example", "orders@help.example.com",
		authMail("bob@partner.example", "orders@help.example.com", "softfail", "b1@partner.example", ""))

	convs := s.api.WaitConversations(t, 4, 20*time.Second)
	by := map[string]testapi.StoredConversation{}
	for _, c := range convs {
		by[c.Payload.Subject] = c
	}
	want := map[string]struct {
		dkim, spf, dmarc string
		authenticated    bool
		process          string
		tagged           bool
	}{
		"signed":   {"pass", "fail", "pass", true, "batch", false},
		"spf pass": {"none", "pass", "pass", true, "batch", false},
		"forged":   {"none", "fail", "fail", false, "false", true},
		"softfail": {"none", "softfail", "none", false, "false", true},
	}
	for subject, wv := range want {
		c, ok := by[subject]
		if !ok {
			t.Errorf("no conversation %q", subject)
			continue
		}
		a := authOf(t, c)
		if a["dkim"] != wv.dkim || a["spf"] != wv.spf || a["dmarc"] != wv.dmarc || a["authenticated"] != wv.authenticated ||
			a["source"] != "verified" {
			t.Errorf("%s: rawData.auth = %v, want dkim=%s spf=%s dmarc=%s authenticated=%v", subject, a, wv.dkim, wv.spf, wv.dmarc, wv.authenticated)
		}
		if c.Payload.Process != wv.process {
			t.Errorf("%s: process %q, want %q", subject, c.Payload.Process, wv.process)
		}
		if tagged := slices.Contains(tagsOf(c), pipeline.TagUnauthenticated); tagged != wv.tagged {
			t.Errorf("%s: tags %v, tagged want %v", subject, tagsOf(c), wv.tagged)
		}
	}
	if a := authOf(t, by["signed"]); a["alignedDomain"] != "example.org" {
		t.Errorf("signed: alignedDomain %v", a["alignedDomain"])
	}
	if a := authOf(t, by["forged"]); a["dmarcPolicy"] != "reject" || a["processFalse"] == nil {
		t.Errorf("forged: rawData.auth = %v, want the reject policy and why process is false", a)
	}

	// The stored raw mail starts with mailbridge's verdict.
	s.mu.Lock()
	raws := slices.Clone(s.raws)
	s.mu.Unlock()
	for _, raw := range raws {
		if !bytes.HasPrefix(raw, []byte("Authentication-Results: mailbridge.test;\r\n\tdkim=")) {
			t.Errorf("stored mail does not start with the verdict:\n%.300s", raw)
		}
	}
}

// TestSenderAuthenticationDNSDown: without answers from DNS the verdict
// is temperror, never pass, and the mail is tagged, not lost.
func TestSenderAuthenticationDNSDown(t *testing.T) {
	w := newAuthWorld(t)
	s := newStackWith(t, func(c *pipeline.Config) { c.Auth = pipeline.Auth{OwnID: "mailbridge.test"} })
	addr := s.listen(t, smtp.Options{Verifier: w.stamper()})
	w.dns.Down(true)
	swaksData(t, addr, "127.0.0.2", "alice@example.org", "support@example.com",
		w.sign(t, authMail("alice@example.org", "support@example.com", "dns down", "d1@example.org", "")))
	c := s.api.WaitConversations(t, 1, 20*time.Second)[0]
	a := authOf(t, c)
	if a["dkim"] != "temperror" || a["spf"] != "temperror" || a["dmarc"] != "temperror" || a["authenticated"] != false {
		t.Errorf("rawData.auth = %v, want temperror everywhere", a)
	}
	if !slices.Contains(tagsOf(c), pipeline.TagUnauthenticated) || c.Payload.Process != "batch" {
		t.Errorf("tags %v, process %q: want tagged and processed as usual", tagsOf(c), c.Payload.Process)
	}
}

// TestSenderAuthenticationPostfix: behind a relay (Postfix) SPF sees the
// relay's address and fails, but the DKIM signature survives the hop.
func TestSenderAuthenticationPostfix(t *testing.T) {
	w := newAuthWorld(t)
	s := newStackWith(t, func(c *pipeline.Config) { c.Auth = pipeline.Auth{OwnID: "mailbridge.test"} })
	addr := s.listen(t, smtp.Options{Verifier: w.stamper()})
	pf := testenv.StartPostfix(t, "example.com", addr)
	signed := w.sign(t, authMail("alice@example.org", "support@example.com", "via postfix", "p1@example.org", ""))
	pf.Sendmail("alice@example.org", []string{"support@example.com"}, strings.ReplaceAll(string(signed), "\r\n", "\n"))
	forged := authMail("ceo@example.org", "support@example.com", "forged via postfix", "p2@forger.test", "")
	pf.Sendmail("ceo@example.org", []string{"support@example.com"}, strings.ReplaceAll(string(forged), "\r\n", "\n"))
	convs := s.api.WaitConversations(t, 2, 30*time.Second)
	for _, c := range convs {
		a := authOf(t, c)
		switch c.Payload.Subject {
		case "via postfix":
			if a["dkim"] != "pass" || a["dmarc"] != "pass" || a["authenticated"] != true {
				t.Errorf("signed via postfix: rawData.auth = %v", a)
			}
		default:
			if a["dmarc"] != "fail" || c.Payload.Process != "false" {
				t.Errorf("forged via postfix: rawData.auth = %v, process %q", a, c.Payload.Process)
			}
		}
	}
}
