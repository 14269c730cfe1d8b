package pipeline

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/store"
)

func imapTestOrigin(h *harness) mailbox.Origin {
	return mailbox.Origin{Source: "imap", ReceivedAt: h.clock.Now(),
		IMAP: &mailbox.IMAPOrigin{Mailbox: "support", Folder: "INBOX", UIDValidity: 1, UID: 9}}
}

// Mail fetched by IMAP carries the verdict of the server that received
// it; only a trusted authserv-id's topmost header is read.
func TestTrustedAuthenticationResults(t *testing.T) {
	const google = "Authentication-Results: mx.google.com;\r\n" +
		"       dkim=pass header.i=@example.org header.s=s1;\r\n" +
		"       spf=pass (google.com: domain of alice@example.org designates 192.0.2.1 as permitted sender) smtp.mailfrom=alice@example.org;\r\n" +
		"       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.org"
	const failing = "Authentication-Results: mx.google.com; dkim=none; spf=softfail smtp.mailfrom=example.org;" +
		" dmarc=fail (p=REJECT dis=NONE) header.from=example.org"
	const forged = "Authentication-Results: mx.evil.example; dkim=pass header.d=example.org; dmarc=pass header.from=example.org"
	tests := []struct {
		name          string
		raw           []byte
		policy        Unauthenticated
		auth          bool // rawData.auth present
		authenticated bool
		process       string
		tagged        bool
	}{
		{"trusted pass", mailFrom("t1@example.org", "alice@example.org", google), "", true, true, "batch", false},
		{"untrusted ignored", mailFrom("t2@example.org", "alice@example.org", forged), "", false, false, "batch", false},
		{"trusted fail, p=reject: no AI", mailFrom("t3@example.org", "ceo@example.org", failing), UnauthStore, true, false, "false", false},
		{"trusted fail, tag", mailFrom("t4@example.org", "ceo@example.org", failing), UnauthTag, true, false, "false", true},
		// The verdict is on the From domain: a passing header for another
		// domain vouches for nothing.
		{"domain differs", mailFrom("t5@example.org", "mallory@example.net", google), "", true, false, "batch", true},
		// Which of two Subject (From, Sender) fields the verifier read is
		// unknown: a pass vouches for neither.
		{"two subjects", mailFrom("t7@example.org", "alice@example.org", google, "Subject: wire the money"), "", true, false, "batch", true},
		// mailbridge's own id on top of mail that did not come through its
		// SMTP listener is anyone's.
		{"own id by IMAP", []byte("Authentication-Results: mailbridge.test; dkim=pass header.d=example.org; dmarc=pass header.from=example.org\r\n" +
			string(mailFrom("t6@example.org", "ceo@example.org"))), "", false, false, "batch", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Auth = Auth{OwnID: "mailbridge.test", Mailboxes: map[string][]string{"support": {"mx.google.com"}}}
			cfg.Subchannels[4] = Subchannel{Process: "batch", Direction: "in", Unauthenticated: tt.policy}
			h := newHarnessConfig(t, cfg)
			h.ingestOrigin(tt.raw, imapTestOrigin(h))
			h.drain()
			convs := h.api.Conversations()
			if len(convs) != 1 {
				t.Fatalf("posted %d conversations", len(convs))
			}
			p := convs[0].Payload
			a, ok := p.RawData["auth"].(map[string]any)
			if ok != tt.auth {
				t.Fatalf("rawData.auth = %v, want present %v", p.RawData["auth"], tt.auth)
			}
			if ok && (a["authenticated"] != tt.authenticated || a["source"] != "trusted-header" || a["authservId"] != "mx.google.com") {
				t.Errorf("rawData.auth = %v, want authenticated %v from mx.google.com", a, tt.authenticated)
			}
			if p.Process != tt.process {
				t.Errorf("process = %q, want %q", p.Process, tt.process)
			}
			tags, _ := p.RawData["tags"].([]any)
			if tagged := slices.Contains(tags, any(TagUnauthenticated)); tagged != tt.tagged {
				t.Errorf("tags = %v, want tagged %v", tags, tt.tagged)
			}
		})
	}
}

// failingQuarantine is a trusted verdict of DMARC failing for a
// p=quarantine domain.
const failingQuarantine = "Authentication-Results: mx.google.com; dkim=none; spf=fail smtp.mailfrom=example.org;" +
	" dmarc=fail (p=quarantine) header.from=example.org"

// newHoldHarness is a harness that trusts mx.google.com's verdict and
// holds unauthenticated mail on subchannel 4.
func newHoldHarness(t *testing.T) *harness {
	cfg := testConfig()
	cfg.Auth = Auth{Mailboxes: map[string][]string{"support": {"mx.google.com"}}}
	cfg.Subchannels[4] = Subchannel{Process: "batch", Direction: "in", Unauthenticated: UnauthHold}
	return newHarnessConfig(t, cfg)
}

// A sender not authenticated under the hold policy waits in the queue,
// held, until an operator releases it; then it is posted, tagged.
func TestUnauthenticatedHold(t *testing.T) {
	h := newHoldHarness(t)
	r := h.ingestOrigin(mailFrom("h1@example.org", "ceo@example.org", failingQuarantine), imapTestOrigin(h))
	h.drain()
	if n := len(h.api.Conversations()); n != 0 {
		t.Fatalf("posted %d conversations of a held message", n)
	}
	m := h.get(r.QueueID)
	if m.State != store.Held || !strings.Contains(m.LastError, "sender not authenticated (dkim=none spf=fail dmarc=fail") {
		t.Fatalf("state %s, last error %q; want held with the verdict", m.State, m.LastError)
	}
	if !strings.Contains(h.logs.String(), "held: sender not authenticated") {
		t.Errorf("log lacks the hold:\n%s", h.logs)
	}
	if err := h.store.Release(context.Background(), r.QueueID); err != nil {
		t.Fatal(err)
	}
	h.drain()
	convs := h.api.Conversations()
	if len(convs) != 1 {
		t.Fatalf("after release: posted %d conversations, want 1", len(convs))
	}
	if m := h.get(r.QueueID); m.State != store.Delivered {
		t.Errorf("after release: state %s", m.State)
	}
	tags, _ := convs[0].Payload.RawData["tags"].([]any)
	if !slices.Contains(tags, any(TagUnauthenticated)) {
		t.Errorf("tags = %v, want the released mail tagged", tags)
	}
}

// Each source believes the authserv-ids trusted for it: an IMAP mailbox
// only its own, an SMTP listener its own list, else the global one
// unless it verifies itself, the command line the global one.
func TestAuthTrustedPerSource(t *testing.T) {
	a := Auth{OwnID: "mailbridge.test", Trusted: []string{"mx.example.net"},
		Listeners: map[string][]string{"relay": {"relay.example.com"}},
		Mailboxes: map[string][]string{"gmail": {"mx.google.com"}}}
	noVerify := a
	noVerify.OwnID = ""
	tests := []struct {
		name    string
		a       Auth
		o       mailbox.Origin
		own     string
		trusted []string
	}{
		{"mailbox with a list", a, mailbox.Origin{Source: "imap", IMAP: &mailbox.IMAPOrigin{Mailbox: "gmail"}}, "", []string{"mx.google.com"}},
		{"mailbox without", a, mailbox.Origin{Source: "imap", IMAP: &mailbox.IMAPOrigin{Mailbox: "dovecot"}}, "", nil},
		{"listener with a list", a, mailbox.Origin{Source: "smtp", SMTP: &mailbox.SMTPOrigin{Listener: "relay"}}, "mailbridge.test", []string{"relay.example.com"}},
		{"verifying listener", a, mailbox.Origin{Source: "smtp", SMTP: &mailbox.SMTPOrigin{Listener: "mx"}}, "mailbridge.test", nil},
		{"listener behind a verifying MX", noVerify, mailbox.Origin{Source: "smtp", SMTP: &mailbox.SMTPOrigin{Listener: "mx"}}, "", []string{"mx.example.net"}},
		{"command line", a, mailbox.Origin{Source: "cli"}, "", []string{"mx.example.net"}},
	}
	for _, tt := range tests {
		got := tt.a.For(tt.o)
		if got.OwnID != tt.own || !slices.Equal(got.Trusted, tt.trusted) {
			t.Errorf("%s: own %q trusted %v, want %q %v", tt.name, got.OwnID, got.Trusted, tt.own, tt.trusted)
		}
	}
}
