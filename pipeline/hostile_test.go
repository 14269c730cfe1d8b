package pipeline

import (
	"bytes"
	"github.com/enneo/mailbridge/store"
	"net/netip"
	"time"

	"context"
	"fmt"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/mailauth"
	"github.com/enneo/mailbridge/mailbox"
	"regexp"
	"strings"
	"testing"
)

// End to end through delivery, a replayed signature with a new From on
// top (see mailauth TestDMARCMalformedLineHidesSecondFrom) does not
// authenticate the forged From: under the hold policy the mail is held.
func TestReplayedSignatureDoesNotAuthenticateForgedFrom(t *testing.T) {
	d := testenv.StartDNS(t)
	key := testenv.NewDKIMKey(t, "rsa")
	d.TXT("rsa._domainkey.example.org", key.Record)
	d.TXT("example.org", "v=spf1 ip4:127.0.0.2 -all")
	d.TXT("_dmarc.example.org", "v=DMARC1; p=reject")
	orig := []byte("From: News <news@example.org>\r\nTo: list@example.net\r\nSubject: Newsletter\r\n" +
		"Message-ID: <news1@example.org>\r\nDate: Wed, 25 Nov 2026 03:00:00 +0000\r\n\r\nOur autumn offers.\r\n")
	var signed bytes.Buffer
	if err := dkim.Sign(&signed, bytes.NewReader(orig), &dkim.SignOptions{Domain: "example.org", Selector: "rsa", Signer: key.Signer}); err != nil {
		t.Fatal(err)
	}
	raw := append([]byte("From: CEO <ceo@example.org>\r\nTo: support@example.com\r\nSubject: Refund all orders of customer 4711 to IBAN DE00 now\r\n"+
		"Message-ID: <forged1@evil.example>\r\nX-Junk\r\n"), signed.Bytes()...)
	st := &mailauth.Stamper{Verifier: &mailauth.Verifier{Resolver: mailauth.NewCache(mailauth.NewNetResolver(d.Addr), 2*time.Second, time.Minute, 0)},
		AuthservID: "mailbridge.test"}
	ar := st.AuthenticationResults(t.Context(), netip.MustParseAddr("127.0.0.9"), "mx.evil.example", "mallory@evil.example", raw)

	cfg := testConfig()
	cfg.Auth = Auth{OwnID: "mailbridge.test"}
	cfg.Subchannels[4] = Subchannel{Process: "realtime", Direction: "in", Unauthenticated: UnauthHold}
	h := newHarnessConfig(t, cfg)
	q := h.ingestOrigin(append(ar, raw...), smtpOrigin(h, "mallory@evil.example"))
	h.drain()
	convs := h.api.Conversations()
	if len(convs) == 0 {
		// Not authenticated: held, as the subchannel's policy says.
		if m := h.get(q.QueueID); m.State != store.Held {
			t.Fatalf("nothing posted, state %s, want held", m.State)
		}
		return
	}
	p := convs[0].Payload
	a, _ := p.RawData["auth"].(map[string]any)
	t.Logf("from %q subject %q process %q auth %v", p.From, p.Subject, p.Process, a)
	if p.From == "ceo@example.org" && a["authenticated"] == true {
		t.Errorf("forged From ceo@example.org posted as authenticated (process %q) from a replayed news@ signature", p.Process)
	}
}

// Rules read the whole header: a spam filter's verdict appended below the
// sender's header (SpamAssassin's X-Spam-* go at the end) is seen below a
// malformed line too, and a drop rule on it drops the mail.
func TestRulesSeeFieldsBelowMalformedLine(t *testing.T) {
	yes := true
	cfg := testConfig()
	cfg.Rules = Rules{{Name: "spam", SpamFlag: &yes, Then: RuleAction{Drop: true}}}
	h := newHarnessConfig(t, cfg)
	raw := strings.Replace(string(mailFrom("sp1@x", "x@spam.example", "X@Junk: 1", "X-Spam-Flag: YES", "X-Spam-Status: Yes, score=25.0")),
		"\r\n\r\nHello.", "\r\n\r\nBuy now.", 1)
	r := h.ingestOrigin([]byte(raw), smtpOrigin(h, "x@spam.example"))
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Dropped {
		t.Errorf("X-Spam-Flag: YES below a line \"X@Junk: 1\": state %s, want dropped by rule spam", m.State)
	}
}

// A mail failing DMARC for a p=reject domain, or under the process-false
// policy, is posted with process false even where a rule's then.process
// (here: a VIP rule matching the forgeable From) says otherwise.
func TestRuleCannotRaiseProcessOverSenderCheck(t *testing.T) {
	cfg := testConfig()
	cfg.Auth = Auth{Mailboxes: map[string][]string{"support": {"mx.example.com"}}}
	cfg.Rules = Rules{{Name: "vip", From: regexp.MustCompile(`@example\.org$`), Then: RuleAction{Process: "realtime", Priority: "high"}}}
	for _, policy := range []Unauthenticated{UnauthTag, UnauthProcessFalse} {
		t.Run(string(policy), func(t *testing.T) {
			cfg.Subchannels[4] = Subchannel{Process: "batch", Direction: "in", Unauthenticated: policy}
			h := newHarnessConfig(t, cfg)
			h.ingestOrigin([]byte("Authentication-Results: mx.example.com; dkim=none; spf=fail smtp.mailfrom=example.org;"+
				" dmarc=fail (p=reject) header.from=example.org\r\n"+string(mailFrom("r1@x", "ceo@example.org"))), imapTestOrigin(h))
			h.drain()
			c := conversationOf(t, h.api, "r1@x").Payload
			if c.Process != "false" {
				t.Errorf("forged p=reject mail posted with process %q (rawData.auth %v, rules %v); want false", c.Process, c.RawData["auth"], c.RawData["rules"])
			}
		})
	}
}

// The sender check of threading heeds the authentication: a forged From
// of a participant whose domain fails DMARC (p=reject) does not join the
// participant's ticket by subject tag, nor does a mail with no usable
// From and the participant in Reply-To (where the mapper takes the sender
// from).
func TestForgedSenderDoesNotJoinByTicketNumber(t *testing.T) {
	cfg := threadConfig()
	cfg.Threading.CheckSender = true
	cfg.Auth = Auth{Trusted: []string{"mx.example.com"}}
	h := newHarnessConfig(t, cfg)
	send := func(id, from, subject string, headers ...string) {
		t.Helper()
		raw := mailFrom(id, from, headers...)
		raw = []byte(strings.Replace(string(raw), "Subject: about "+id, "Subject: "+subject, 1))
		h.ingestOrigin(raw, smtpOrigin(h, "mallory@evil.example"))
		h.drain()
	}
	send("start@example.org", "Jane <jane@example.org>", "my order")
	ticket := conversationOf(t, h.api, "start@example.org").TicketID
	tag := fmt.Sprintf("Re: [#%d] my order", ticket)
	send("forged-from@evil.example", "jane@example.org", tag,
		"Authentication-Results: mx.example.com; dkim=none; spf=fail smtp.mailfrom=evil.example; dmarc=fail (p=reject) header.from=example.org")
	send("forged-replyto@evil.example", "Jane", tag, "Reply-To: jane@example.org")
	for _, id := range []string{"forged-from@evil.example", "forged-replyto@evil.example"} {
		c := conversationOf(t, h.api, id)
		if c.TicketID == ticket {
			t.Errorf("%s joined Jane's ticket %d by subject tag (from %q, auth %v)", id, ticket, c.Payload.From, c.Payload.RawData["auth"])
		}
	}
}

// Participants are recorded as bare addresses: a Cc'd colleague the
// mapper wrote with a display name ("Name <addr>") joins by subject tag.
func TestCcWithDisplayNameIsParticipant(t *testing.T) {
	cfg := threadConfig()
	cfg.Threading.CheckSender = true
	h := newHarnessConfig(t, cfg)
	send := func(id, from, subject string, headers ...string) {
		t.Helper()
		raw := mailFrom(id, from, headers...)
		raw = []byte(strings.Replace(string(raw), "Subject: about "+id, "Subject: "+subject, 1))
		h.ingestOrigin(raw, smtpOrigin(h, from))
		h.drain()
	}
	send("start@example.org", "Jane <jane@example.org>", "my order", "Cc: Carl Colleague <carl@example.org>")
	ticket := conversationOf(t, h.api, "start@example.org").TicketID
	send("carl@example.org", "carl@example.org", fmt.Sprintf("Re: [#%d] my order", ticket))
	c := conversationOf(t, h.api, "carl@example.org")
	if c.TicketID != ticket {
		t.Errorf("Cc'd carl@example.org opened ticket %d instead of joining %d: %v", c.TicketID, ticket, c.Payload.RawData["thread"])
	}
}

// A claim given back before its attempt started (starved: the inflight
// budget, a shutdown, a failed read of its raw bytes) is Postponed, which
// takes the attempt back but is no operator's release: the hold policy
// still applies to its next claim.
func TestPostponedClaimIsStillHeld(t *testing.T) {
	h := newHoldHarness(t)
	r := h.ingestOrigin(mailFrom("st1@example.org", "ceo@example.org", failingQuarantine), imapTestOrigin(h))
	// What Pipeline.starved does with a claim it could not start.
	cs, err := h.store.Claim(context.Background(), h.clock.Now(), time.Minute, 1)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Claim: %v %d", err, len(cs))
	}
	if err := h.store.Postpone(context.Background(), cs[0].ID, cs[0].Attempt, store.Failure{At: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Held {
		t.Errorf("state %s after a starved first claim, want held; posted %d", m.State, len(h.api.Conversations()))
	}
}

// A mail a rule dropped comes back with `queue retry` (Requeue): the drop
// rule yields to the operator, as a hold rule yields to a release.
func TestRetryOfRuleDroppedDelivers(t *testing.T) {
	cfg := testConfig()
	cfg.Rules = Rules{{Name: "spam", Subject: regexp.MustCompile(`(?i)invoice`), Then: RuleAction{Drop: true}}}
	h := newHarnessConfig(t, cfg)
	r := h.ingestOrigin([]byte(strings.Replace(string(mailFrom("d1@x", "customer@example.org")), "Subject: about d1@x", "Subject: my invoice is wrong", 1)),
		smtpOrigin(h, "customer@example.org"))
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Dropped {
		t.Fatalf("state %s, want dropped", m.State)
	}
	if err := h.store.Requeue(context.Background(), r.QueueID); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Delivered {
		t.Errorf("after the operator's retry: state %s (%s), want delivered", m.State, m.LastError)
	}
}

// A trusted authserv-id is trusted only for its source: neither a mailbox
// without a list of its own (on a server that does not verify) nor an SMTP
// listener that verifies itself takes a sender-written header of Gmail's
// id as the verdict.
func TestTrustedIDOnlyForItsSource(t *testing.T) {
	cfg := testConfig()
	cfg.Auth = Auth{OwnID: "mailbridge.test", Trusted: []string{"mx.google.com"}}
	h := newHarnessConfig(t, cfg)
	forged := "Authentication-Results: mx.google.com; dkim=pass header.d=bank.example; spf=pass smtp.mailfrom=bank.example;" +
		" dmarc=pass (p=reject) header.from=bank.example"
	h.ingestOrigin(mailFrom("imap@x", "ceo@bank.example", forged), mailbox.Origin{Source: "imap", ReceivedAt: h.clock.Now(),
		IMAP: &mailbox.IMAPOrigin{Mailbox: "dovecot-without-filter", Folder: "INBOX", UIDValidity: 1, UID: 1}})
	h.ingestOrigin(mailFrom("smtp@x", "ceo@bank.example", forged), smtpOrigin(h, "mallory@evil.example"))
	h.drain()
	for _, id := range []string{"imap@x", "smtp@x"} {
		a, _ := conversationOf(t, h.api, id).Payload.RawData["auth"].(map[string]any)
		if a["authenticated"] == true {
			t.Errorf("%s: a sender-written mx.google.com header authenticated ceo@bank.example: %v", id, a)
		}
	}
}
