package pipeline

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/enneo/mailbridge/config"
	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/mailbox"
)

// threadConfig is the pipeline configuration with the default threading
// rules, plus addresses on.
func threadConfig() Config {
	cfg := testConfig()
	cfg.Threading = Threading{
		MessageIDs:  true,
		Subject:     regexp.MustCompile(config.DefaultSubjectPattern("")),
		Minimum:     100,
		PlusAddress: true,
	}
	cfg.Sense.OwnAddresses = []string{"support@example.com"}
	return cfg
}

// chainMail is one mail of a chain.
type chainMail struct {
	id        string
	subject   string
	inReplyTo string
	refs      []string
	rcpt      string // SMTP RCPT TO; support@example.com if empty
	// want is the ticket: "new" for one no earlier mail of the chain is
	// on, "=ID" for the ticket of mail ID, or a ticket number.
	want     string
	wantRule string
}

func (m chainMail) raw() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Jane Doe <jane@example.org>\r\nTo: support@example.com\r\n"+
		"Subject: %s\r\nDate: Sun, 01 Mar 2026 11:00:00 +0000\r\nMessage-ID: <%s>\r\n", m.subject, m.id)
	if m.inReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\r\n", m.inReplyTo)
	}
	if len(m.refs) > 0 {
		fmt.Fprintf(&b, "References: <%s>\r\n", strings.Join(m.refs, "> <"))
	}
	b.WriteString("\r\nPlease help.\r\n")
	return []byte(b.String())
}

func (h *harness) ingestTo(m chainMail) mailbox.Receipt {
	h.t.Helper()
	rcpt := m.rcpt
	if rcpt == "" {
		rcpt = "support@example.com"
	}
	r, err := h.p.Ingest(context.Background(), mailbox.Message{
		Raw: m.raw(), SubchannelID: 4,
		Origin: mailbox.Origin{Source: "smtp", ReceivedAt: h.clock.Now(),
			SMTP: &mailbox.SMTPOrigin{MailFrom: "jane@example.org", RcptTo: []string{rcpt}}},
	})
	if err != nil {
		h.t.Fatalf("Ingest: %v", err)
	}
	return r
}

// existingTicket is a ticket the API holds before the chain starts, as an
// agent's answer carrying [#500] would refer to.
const existingTicket = 500

func TestThreadingChains(t *testing.T) {
	tests := []struct {
		name  string
		cfg   func(*Config)
		chain []chainMail
	}{
		{name: "reply, then reply to the reply with References only", chain: []chainMail{
			{id: "a@x", subject: "help", want: "new", wantRule: RuleNewTicket},
			{id: "b@x", subject: "Re: help", inReplyTo: "a@x", refs: []string{"a@x"}, want: "=a@x", wantRule: RuleInReplyTo},
			{id: "c@x", subject: "Re: Re: help", refs: []string{"a@x", "b@x"}, want: "=a@x", wantRule: RuleReferences},
			// The same Message-ID again is a duplicate: no new conversation.
			{id: "c@x", subject: "Re: Re: help", refs: []string{"a@x", "b@x"}, want: "dup"},
		}},
		{name: "references newest first", chain: []chainMail{
			{id: "a@x", subject: "first", want: "new", wantRule: RuleNewTicket},
			{id: "b@x", subject: "[#500] other", want: "500", wantRule: RuleSubject},
			// b is the newer of the two References: its ticket wins.
			{id: "c@x", subject: "Re", refs: []string{"a@x", "b@x"}, want: "500", wantRule: RuleReferences},
		}},
		{name: "broken In-Reply-To, subject tag", chain: []chainMail{
			{id: "a@x", subject: "Re: [Ticket#500] invoice", inReplyTo: "unknown@elsewhere", want: "500", wantRule: RuleSubject},
		}},
		{name: "forward without tag is a new ticket", chain: []chainMail{
			{id: "a@x", subject: "help", want: "new", wantRule: RuleNewTicket},
			{id: "f@x", subject: "Fwd: help", want: "new", wantRule: RuleNewTicket},
		}},
		{name: "forward with tag", chain: []chainMail{
			{id: "f@x", subject: "Fwd: Ticket #500 help", want: "500", wantRule: RuleSubject},
		}},
		{name: "tag below minimum ignored", chain: []chainMail{
			{id: "a@x", subject: "[#5] help", want: "new", wantRule: RuleNewTicket},
		}},
		{name: "plus address", chain: []chainMail{
			{id: "a@x", subject: "help", rcpt: "support+500@example.com", want: "500", wantRule: RulePlusAddress},
			{id: "b@x", subject: "help", rcpt: "support+abc@example.com", want: "new", wantRule: RuleNewTicket},
		}},
		{name: "plus address off", cfg: func(c *Config) { c.Threading.PlusAddress = false }, chain: []chainMail{
			{id: "a@x", subject: "help", rcpt: "support+500@example.com", want: "new", wantRule: RuleNewTicket},
		}},
		{name: "rules off", cfg: func(c *Config) { c.Threading = Threading{} }, chain: []chainMail{
			{id: "a@x", subject: "help", want: "new", wantRule: RuleNewTicket},
			{id: "b@x", subject: "Re: [#500] help", inReplyTo: "a@x", want: "=a@x", wantRule: RuleNewTicket},
		}},
		{name: "subject tag beats thread root for an unknown parent", chain: []chainMail{
			{id: "b@x", subject: "Re: [#500]", inReplyTo: "gone@x", refs: []string{"gone@x"}, want: "500", wantRule: RuleSubject},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := threadConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			h := newHarnessConfig(t, cfg)
			h.api.AddTicket(testapi.Ticket{ID: existingTicket, SubchannelID: 4})
			tickets := map[string]int{}
			seen := map[int]bool{existingTicket: true}
			for i, m := range tt.chain {
				r := h.ingestTo(m)
				h.drain()
				if m.want == "dup" {
					if !r.Duplicate || h.api.CountByExternalID(m.id) != 1 {
						t.Fatalf("mail %d (%s): duplicate %v, stored %d times", i, m.id, r.Duplicate, h.api.CountByExternalID(m.id))
					}
					continue
				}
				c := conversationOf(t, h.api, m.id)
				got := c.TicketID
				switch {
				case m.want == "new":
					if seen[got] {
						t.Errorf("mail %d (%s): on ticket %d, want a new ticket", i, m.id, got)
					}
				case strings.HasPrefix(m.want, "="):
					if want := tickets[m.want[1:]]; got != want {
						t.Errorf("mail %d (%s): on ticket %d, want %d (that of %s)", i, m.id, got, want, m.want[1:])
					}
				default:
					if want, _ := strconv.Atoi(m.want); got != want {
						t.Errorf("mail %d (%s): on ticket %d, want %d", i, m.id, got, want)
					}
				}
				tickets[m.id] = got
				seen[got] = true
				th, _ := c.Payload.RawData["thread"].(map[string]any)
				if th["rule"] != m.wantRule || th["ticketId"] != float64(got) || th["matched"] == "" {
					t.Errorf("mail %d (%s): rawData.thread = %v, want rule %s on %d", i, m.id, th, m.wantRule, got)
				}
				if q := h.get(r.QueueID); q.TicketID != int64(got) {
					t.Errorf("mail %d (%s): queue records ticket %d, want %d", i, m.id, q.TicketID, got)
				}
			}
			if !strings.Contains(h.logs.String(), "decision=") {
				t.Errorf("no decision logged:\n%s", h.logs)
			}
		})
	}
}

func conversationOf(t *testing.T, a *testapi.Server, id string) testapi.StoredConversation {
	t.Helper()
	var found []testapi.StoredConversation
	for _, c := range a.Conversations() {
		if c.Payload.ExternalConversationID == id {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s stored %d times, want once", id, len(found))
	}
	return found[0]
}

// A subject tag naming a ticket that does not exist gets a 404 on store;
// the next attempt passes the tag over and opens a ticket, rather than
// retrying the missing ticket until the mail is buried.
func TestThreadingTagOfMissingTicketFallsBackToNewTicket(t *testing.T) {
	h := newHarnessConfig(t, threadConfig())
	r := h.ingestTo(chainMail{id: "a@x", subject: "Re: [#999] help"})
	h.drain()
	c := conversationOf(t, h.api, "a@x")
	if c.TicketID == 999 {
		t.Fatalf("stored on the missing ticket")
	}
	if th, _ := c.Payload.RawData["thread"].(map[string]any); th["rule"] != RuleNewTicket {
		t.Errorf("rawData.thread = %v, want new-ticket", th)
	}
	if got := c.Payload.RawData["replacesTicket"]; got != float64(999) {
		t.Errorf("rawData.replacesTicket = %v, want 999", got)
	}
	if m := h.get(r.QueueID); m.TicketID != int64(c.TicketID) || m.Attempts != 2 {
		t.Errorf("queue: %+v", m)
	}
}

// Two mails of one new thread delivered at once by two workers end on one
// ticket, created once.
func TestThreadingConcurrentMailsOfANewThreadShareATicket(t *testing.T) {
	for round := range 5 {
		h := newHarnessConfig(t, threadConfig())
		h.p.now = time.Now
		root := fmt.Sprintf("root%d@x", round)
		h.ingestTo(chainMail{id: root, subject: "help"})
		h.ingestTo(chainMail{id: "re" + root, subject: "Re: help", inReplyTo: root, refs: []string{root}})
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if _, err := h.p.DeliverDue(context.Background(), 1); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		h.drain()
		a, b := conversationOf(t, h.api, root), conversationOf(t, h.api, "re"+root)
		if a.TicketID != b.TicketID || len(h.api.Tickets()) != 1 {
			t.Fatalf("round %d: conversations on tickets %d and %d; API tickets %+v", round, a.TicketID, b.TicketID, h.api.Tickets())
		}
		if n := h.p.ticket.(*threadResolver).locks.size(); n != 0 {
			t.Errorf("%d thread locks left", n)
		}
	}
}

func TestKeyedLockSerialisesAKeyAndForgetsIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var k keyedLock
		ctx := context.Background()
		unlock, err := k.lock(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		other, err := k.lock(ctx, "b") // another key does not wait
		if err != nil {
			t.Fatal(err)
		}
		other()
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if _, err := k.lock(short, "a"); err == nil {
			t.Fatal("locked a held key")
		}
		got := make(chan struct{})
		go func() {
			u, err := k.lock(ctx, "a")
			if err == nil {
				u()
			}
			close(got)
		}()
		synctest.Wait() // the goroutine waits for the key
		unlock()
		<-got
		if n := k.size(); n != 0 {
			t.Errorf("%d keys kept after unlock", n)
		}
	})
}

func TestPlusTicket(t *testing.T) {
	for addr, want := range map[string]int64{
		"support+123@example.com": 123, "support@example.com": 0, "support+@example.com": 0,
		"support+-5@example.com": 0, "support++5@example.com": 0, "support+x+7@example.com": 0, "support+007@example.com": 7,
		"support+0@example.com": 0, "support+12a@example.com": 0,
	} {
		got, ok := plusTicket(addr)
		if (want != 0) != ok || (ok && got != want) {
			t.Errorf("plusTicket(%q) = %d, %v; want %d", addr, got, ok, want)
		}
	}
}
