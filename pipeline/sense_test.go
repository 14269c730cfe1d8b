package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/mapper/autoreply"
	"github.com/enneo/mailbridge/store"
)

// mailFrom builds a message from sender with extra header lines.
func mailFrom(id, from string, headers ...string) []byte {
	var extra string
	for _, h := range headers {
		extra += h + "\r\n"
	}
	return []byte("From: " + from + "\r\nTo: support@example.com\r\nSubject: about " + id + "\r\n" +
		"Date: Sun, 01 Mar 2026 11:00:00 +0000\r\nMessage-ID: <" + id + ">\r\n" + extra + "\r\nHello.\r\n")
}

const outOfOffice = "From: Iris Ivanova <iris@example.org>\r\nTo: support@example.com\r\n" +
	"Subject: Automatic reply: Your ticket 2025-0322\r\nDate: Sat, 22 Mar 2025 08:00:01 +0000\r\n" +
	"Message-ID: <oof@example.org>\r\nAuto-Submitted: auto-replied\r\nX-Priority: 1\r\n" +
	"\r\nI am out of the office until 31 March.\r\n"

const bounce = "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\nTo: support@example.com\r\n" +
	"Subject: Undelivered Mail Returned to Sender\r\nDate: Fri, 21 Mar 2025 12:00:05 +0100\r\n" +
	"Message-ID: <bounce@mx.example.net>\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n" +
	"--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n" +
	"--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n" +
	"Final-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n--b1--\r\n"

func smtpOrigin(h *harness, mailFrom string) mailbox.Origin {
	return mailbox.Origin{Source: "smtp", ReceivedAt: h.clock.Now(),
		SMTP: &mailbox.SMTPOrigin{MailFrom: mailFrom, RcptTo: []string{"support@example.com"}}}
}

func (h *harness) ingestOrigin(raw []byte, o mailbox.Origin) mailbox.Receipt {
	h.t.Helper()
	r, err := h.p.Ingest(context.Background(), mailbox.Message{Raw: raw, SubchannelID: 4, Origin: o})
	if err != nil {
		h.t.Fatalf("Ingest: %v", err)
	}
	return r
}

func TestMailSensePolicies(t *testing.T) {
	type want struct {
		posted  bool
		process string // of the posted payload
		class   autoreply.Class
		policy  Policy
		state   store.State
		lastErr string // substring of the dead letter's reason
		log     string // substring of the log
	}
	tests := []struct {
		name     string
		policies map[autoreply.Class]Policy
		raw      string
		origin   func(*harness) mailbox.Origin
		want     want
	}{
		{name: "out of office is stored without AI", raw: outOfOffice,
			want: want{posted: true, process: "false", class: autoreply.AutoReply, policy: PolicyStore, state: store.Delivered,
				log: "machine-written mail"}},
		{name: "bounce with skip is acknowledged, not posted",
			policies: map[autoreply.Class]Policy{autoreply.Bounce: PolicySkip}, raw: bounce,
			want: want{state: store.Delivered, log: "skipped by mailSense policy"}},
		{name: "auto-reply with deadletter lands in dead letters",
			policies: map[autoreply.Class]Policy{autoreply.AutoReply: PolicyDeadletter}, raw: outOfOffice,
			want: want{state: store.Dead, lastErr: "mailSense policy deadletter: auto-reply (Auto-Submitted: auto-replied)",
				log: "moved to dead letters by mailSense policy"}},
		{name: "list mail is posted by default", raw: string(mailFrom("list@example.org", "dev@lists.example.org",
			"List-Id: <dev.lists.example.org>")),
			want: want{posted: true, process: "batch", class: autoreply.List, policy: PolicyPost, state: store.Delivered}},
		{name: "list mail with store", policies: map[autoreply.Class]Policy{autoreply.List: PolicyStore},
			raw:  string(mailFrom("list2@example.org", "dev@lists.example.org", "Precedence: bulk")),
			want: want{posted: true, process: "false", class: autoreply.List, policy: PolicyStore, state: store.Delivered}},
		{name: "null SMTP envelope sender is a bounce", raw: string(mailFrom("null@example.org", "jane@example.org")),
			origin: func(h *harness) mailbox.Origin { return smtpOrigin(h, "") },
			want:   want{posted: true, process: "false", class: autoreply.Bounce, policy: PolicyStore, state: store.Delivered}},
		{name: "IMAP reads the Return-Path header", raw: string(mailFrom("rp@example.org", "jane@example.org", "Return-Path: <>")),
			origin: func(h *harness) mailbox.Origin {
				return mailbox.Origin{Source: "imap", ReceivedAt: h.clock.Now(),
					IMAP: &mailbox.IMAPOrigin{Mailbox: "support", Folder: "INBOX", UIDValidity: 1, UID: 7}}
			},
			want: want{posted: true, process: "false", class: autoreply.Bounce, policy: PolicyStore, state: store.Delivered}},
		{name: "SMTP envelope beats a Return-Path header", raw: string(mailFrom("rp2@example.org", "jane@example.org", "Return-Path: <>")),
			origin: func(h *harness) mailbox.Origin { return smtpOrigin(h, "jane@example.org") },
			want:   want{posted: true, process: "batch", class: autoreply.Human, policy: PolicyPost, state: store.Delivered}},
		{name: "human mail is posted", raw: string(message("human@example.org")),
			want: want{posted: true, process: "batch", class: autoreply.Human, policy: PolicyPost, state: store.Delivered}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Sense.Policies = tt.policies
			h := newHarnessConfig(t, cfg)
			o := smtpOrigin(h, "sender@example.org")
			if tt.origin != nil {
				o = tt.origin(h)
			}
			r := h.ingestOrigin([]byte(tt.raw), o)
			h.drain()
			convs := h.api.Conversations()
			m := h.get(r.QueueID)
			if m.State != tt.want.state {
				t.Errorf("state = %s, want %s (last error %q)", m.State, tt.want.state, m.LastError)
			}
			if !strings.Contains(m.LastError, tt.want.lastErr) {
				t.Errorf("last error = %q, want it to contain %q", m.LastError, tt.want.lastErr)
			}
			if !strings.Contains(h.logs.String(), tt.want.log) {
				t.Errorf("log lacks %q:\n%s", tt.want.log, h.logs)
			}
			if !tt.want.posted {
				if len(convs) != 0 || len(h.api.Tickets()) != 0 {
					t.Errorf("posted %d conversations, %d tickets; want none", len(convs), len(h.api.Tickets()))
				}
				if m.ConversationID != 0 || m.TicketID != 0 {
					t.Errorf("store row = %+v, want no ticket or conversation", m)
				}
				return
			}
			if len(convs) != 1 {
				t.Fatalf("posted %d conversations, want 1", len(convs))
			}
			p := convs[0].Payload
			if p.Process != tt.want.process {
				t.Errorf("process = %q, want %q", p.Process, tt.want.process)
			}
			ar, _ := p.RawData["autoReply"].(map[string]any)
			if ar["class"] != string(tt.want.class) || ar["policy"] != string(tt.want.policy) {
				t.Errorf("rawData.autoReply = %v, want class %s, policy %s", ar, tt.want.class, tt.want.policy)
			}
			if _, hasReason := ar["reason"]; hasReason != (tt.want.class != autoreply.Human) {
				t.Errorf("rawData.autoReply = %v: a reason exactly for machine mail", ar)
			}
			if m.ConversationID != int64(convs[0].ConversationID) {
				t.Errorf("store row conversation %d, API %d", m.ConversationID, convs[0].ConversationID)
			}
		})
	}
}

func TestLoopBreakerHoldsThe21stMail(t *testing.T) {
	cfg := testConfig()
	cfg.Sense.LoopMax, cfg.Sense.LoopWindow = 20, 10*time.Minute
	h := newHarnessConfig(t, cfg)
	var ids []int64
	for i := range 22 {
		ids = append(ids, h.ingest(mailFrom(fmt.Sprintf("loop%d@example.org", i), "Bot <bot@example.org>")).QueueID)
	}
	other := h.ingest(mailFrom("other@example.org", "jane@example.org")).QueueID
	// A contact form sends every customer's mail from one address, with
	// the customer in Reply-To: those are many senders.
	for i := range 25 {
		h.ingest(mailFrom(fmt.Sprintf("form%d@example.org", i), "Bot <bot@example.org>",
			fmt.Sprintf("Reply-To: customer%d@example.net", i)))
	}
	h.drain()

	if n := len(h.api.Conversations()); n != 20+1+25 {
		t.Errorf("posted %d conversations, want 20 from the looping sender, 1 from another, 25 from the form", n)
	}
	for i, id := range ids {
		m := h.get(id)
		want := store.Delivered
		if i >= 20 {
			want = store.Dead
		}
		if m.State != want {
			t.Errorf("mail %d: state %s, want %s", i+1, m.State, want)
		}
		if want == store.Dead && !strings.Contains(m.LastError, "loop breaker: more than 20 mails from bot@example.org to subchannel 4 within 10m0s") {
			t.Errorf("mail %d: reason %q", i+1, m.LastError)
		}
	}
	if m := h.get(other); m.State != store.Delivered {
		t.Errorf("another sender's mail: state %s", m.State)
	}
	if n := strings.Count(h.logs.String(), "LOOP BREAKER"); n != 1 {
		t.Errorf("loop breaker logged %d times, want once per sender and episode:\n%s", n, h.logs)
	}
	if !strings.Contains(h.logs.String(), "queue_id=") {
		t.Errorf("log lines lack the queue id")
	}

	// An operator's queue retry posts a held mail.
	if err := h.store.Requeue(context.Background(), ids[20]); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if m := h.get(ids[20]); m.State != store.Delivered {
		t.Errorf("requeued mail: state %s (%s), want delivered", m.State, m.LastError)
	}
}

func TestLoopBreakerWindow(t *testing.T) {
	b := newLoopBreaker(3, time.Minute)
	t0 := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	steps := []struct {
		at          time.Duration
		hold, first bool
	}{
		{0, false, false}, {time.Second, false, false}, {2 * time.Second, false, false},
		{3 * time.Second, true, true}, {4 * time.Second, true, false},
		// The window moves past the first mails: passing again, and the
		// next episode is logged anew.
		{2 * time.Minute, false, false}, {2*time.Minute + 1, false, false}, {2*time.Minute + 2, false, false},
		{2*time.Minute + 3, true, true},
	}
	for i, s := range steps {
		hold, first := b.check(4, "bot@example.org", t0.Add(s.at))
		if hold != s.hold || first != s.first {
			t.Errorf("step %d (+%s): hold %v first %v, want %v %v", i, s.at, hold, first, s.hold, s.first)
		}
	}
	if hold, _ := b.check(5, "bot@example.org", t0.Add(4*time.Second)); hold {
		t.Error("another subchannel is counted apart")
	}
	if hold, _ := b.check(4, "", t0.Add(4*time.Second)); hold {
		t.Error("mail without a sender is held")
	}
	if newLoopBreaker(0, time.Minute) != nil {
		t.Error("max 0 does not disable the breaker")
	}
}

func TestLoopBreakerBoundedMemory(t *testing.T) {
	b := newLoopBreaker(20, time.Minute)
	t0 := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	for range 100 {
		b.check(4, "bot@example.org", t0)
	}
	if n := len(b.senders[loopKey{4, "bot@example.org"}].times); n > 20 {
		t.Errorf("remembering %d times of one sender, more than the limit", n)
	}
	for i := range loopKeys + 500 {
		b.check(4, fmt.Sprintf("s%d@example.org", i), t0)
	}
	if n := len(b.senders); n > loopKeys {
		t.Errorf("tracking %d senders, more than %d", n, loopKeys)
	}
}

func TestPriority(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		urgent  string
		want    string // "" means the field is left out
		header  string // rawData.priority.header
	}{
		{"X-Priority 1", []string{"X-Priority: 1 (Highest)"}, "", "high", "X-Priority: 1 (Highest)"},
		{"X-Priority 2", []string{"X-Priority: 2"}, "", "high", "X-Priority: 2"},
		{"Importance high", []string{"Importance: High"}, "", "high", "Importance: High"},
		{"Priority urgent as high", []string{"Priority: urgent"}, "", "high", "Priority: urgent"},
		{"Priority urgent as urgent", []string{"Priority: urgent"}, "urgent", "urgent", "Priority: urgent"},
		{"X-Priority 5", []string{"X-Priority: 5 (Lowest)"}, "", "low", "X-Priority: 5 (Lowest)"},
		{"X-Priority 4", []string{"X-Priority: 4"}, "", "low", "X-Priority: 4"},
		{"Importance low", []string{"Importance: low"}, "", "low", "Importance: low"},
		{"Priority non-urgent", []string{"Priority: non-urgent"}, "", "low", "Priority: non-urgent"},
		{"high beats low", []string{"Importance: low", "X-Priority: 1"}, "", "high", "X-Priority: 1"},
		{"normal says nothing", []string{"X-Priority: 3 (Normal)", "Importance: normal", "Priority: normal"}, "", "", ""},
		{"garbage says nothing", []string{"X-Priority: high", "Importance: very"}, "", "", ""},
		{"absent", nil, "", "", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Sense.UrgentPriority = tt.urgent
			h := newHarnessConfig(t, cfg)
			h.ingest(mailFrom(fmt.Sprintf("prio%d@example.org", i), "jane@example.org", tt.headers...))
			h.drain()
			convs := h.api.Conversations()
			if len(convs) != 1 {
				t.Fatalf("posted %d conversations", len(convs))
			}
			c := convs[0]
			got, present := c.Fields["priority"]
			if tt.want == "" {
				if present {
					t.Errorf("priority = %v, want the field left out", got)
				}
				if _, ok := c.Payload.RawData["priority"]; ok {
					t.Errorf("rawData.priority = %v without a priority", c.Payload.RawData["priority"])
				}
				return
			}
			if got != tt.want {
				t.Errorf("priority = %v, want %q", got, tt.want)
			}
			rp, _ := c.Payload.RawData["priority"].(map[string]any)
			if rp["value"] != tt.want || rp["header"] != tt.header {
				t.Errorf("rawData.priority = %v, want value %s, header %q", rp, tt.want, tt.header)
			}
		})
	}
	// An auto-reply's priority is the original's, not a request of its own.
	h := newHarness(t)
	h.ingest([]byte(outOfOffice))
	h.drain()
	if c := h.api.Conversations(); len(c) != 1 || c[0].Fields["priority"] != nil {
		t.Errorf("auto-reply posted with priority: %+v", c)
	}
}

func TestDirection(t *testing.T) {
	tests := []struct {
		name       string
		from       string
		subchannel string // the subchannel's direction
		want       string
		rule       string
	}{
		{"customer", "jane@example.org", "in", "in", "subchannel"},
		{"subchannel default", "jane@example.org", "internal", "internal", "subchannel"},
		{"internal domain", "Bob <Bob@Example.com>", "in", "internal", "internalDomains: example.com"},
		{"internal subdomain", "bob@eu.example.com", "in", "internal", "internalDomains: example.com"},
		{"lookalike domain", "bob@notexample.com", "in", "in", "subchannel"},
		{"own address", "Support <Support@example.com>", "in", "out", "ownAddresses: support@example.com"},
		{"own address with tag", "support+reply@example.com", "in", "out", "ownAddresses: support@example.com"},
		{"other internal address", "sales@example.com", "in", "internal", "internalDomains: example.com"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Subchannels = map[int]Subchannel{4: {Process: "batch", Direction: tt.subchannel}}
			cfg.Sense.InternalDomains = []string{"Example.com"}
			cfg.Sense.OwnAddresses = []string{"support@example.com"}
			h := newHarnessConfig(t, cfg)
			h.ingest(mailFrom(fmt.Sprintf("dir%d@example.org", i), tt.from))
			h.drain()
			convs := h.api.Conversations()
			if len(convs) != 1 {
				t.Fatalf("posted %d conversations", len(convs))
			}
			p := convs[0].Payload
			d, _ := p.RawData["direction"].(map[string]any)
			if p.Direction != tt.want || d["value"] != tt.want || d["rule"] != tt.rule {
				t.Errorf("direction = %q, rawData.direction = %v; want %s by %q", p.Direction, d, tt.want, tt.rule)
			}
		})
	}
}

func TestDeadletteredByPolicyIsStoredWhenRequeued(t *testing.T) {
	cfg := testConfig()
	cfg.Sense.Policies = map[autoreply.Class]Policy{autoreply.AutoReply: PolicyDeadletter}
	h := newHarnessConfig(t, cfg)
	id := h.ingest([]byte(outOfOffice)).QueueID
	h.drain()
	if m := h.get(id); m.State != store.Dead {
		t.Fatalf("state %s, want dead", m.State)
	}
	if err := h.store.Requeue(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	h.drain()
	convs := h.api.Conversations()
	if m := h.get(id); m.State != store.Delivered || len(convs) != 1 {
		t.Fatalf("after queue retry: state %s, %d conversations; want delivered once", m.State, len(convs))
	}
	if p := convs[0].Payload; p.Process != "false" || p.RawData["autoReply"].(map[string]any)["policy"] != "store" {
		t.Errorf("requeued auto-reply posted with process %q, rawData.autoReply %v; want stored without AI",
			p.Process, p.RawData["autoReply"])
	}
}
