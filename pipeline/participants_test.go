package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/mapper"
	"github.com/enneo/mailbridge/store"
)

// A reply that names a ticket only by its subject tag or a plus address
// joins it if its sender has been seen on the ticket, or is authenticated
// for the domain of someone who has; anyone else opens a new ticket, and
// rawData.thread says why.
func TestSenderCheckedThreading(t *testing.T) {
	cfg := threadConfig()
	cfg.Threading.CheckSender = true
	cfg.Threading.SameDomain = true
	cfg.Auth = Auth{Trusted: []string{"mx.example.com"}}
	h := newHarnessConfig(t, cfg)
	send := func(id, from, subject, rcpt string, headers ...string) {
		t.Helper()
		raw := mailFrom(id, from, headers...)
		raw = []byte(strings.Replace(string(raw), "Subject: about "+id, "Subject: "+subject, 1))
		o := smtpOrigin(h, from)
		if rcpt != "" {
			o.SMTP.RcptTo = []string{rcpt}
		}
		h.ingestOrigin(raw, o)
		h.drain()
	}
	send("start@example.org", "Jane <jane@example.org>", "my order", "", "Cc: colleague@example.org")
	ticket := conversationOf(t, h.api, "start@example.org").TicketID
	tag := fmt.Sprintf("Re: [#%d] my order", ticket)

	send("forged@evil.example", "Jane's Boss <mallory@evil.example>", tag, "")
	send("forged-plus@evil.example", "mallory@evil.example", "hi", fmt.Sprintf("support+%d@example.com", ticket))
	send("jane-again@example.org", "jane@example.org", tag, "")
	send("cc@example.org", "colleague@example.org", tag, "")
	send("bob@example.org", "bob@example.org", tag, "")
	send("bob-auth@example.org", "bob@example.org", tag, "",
		"Authentication-Results: mx.example.com; dkim=pass header.d=example.org; spf=pass smtp.mailfrom=example.org; dmarc=pass header.from=example.org")

	for id, joins := range map[string]bool{
		"forged@evil.example": false, "forged-plus@evil.example": false, "jane-again@example.org": true,
		"cc@example.org": true, "bob@example.org": false, "bob-auth@example.org": true,
	} {
		c := conversationOf(t, h.api, id)
		if (c.TicketID == ticket) != joins {
			t.Errorf("%s: on ticket %d, joins %d: want %v", id, c.TicketID, ticket, joins)
		}
		th, _ := c.Payload.RawData["thread"].(map[string]any)
		refused, _ := th["refused"].(map[string]any)
		if joins != (refused == nil) {
			t.Errorf("%s: rawData.thread = %v", id, th)
		}
		if refused != nil && (refused["ticketId"] != float64(ticket) || !strings.Contains(fmt.Sprint(refused["reason"]), "not a participant")) {
			t.Errorf("%s: refused = %v", id, refused)
		}
	}
	if th, _ := conversationOf(t, h.api, "forged-plus@evil.example").Payload.RawData["thread"].(map[string]any); th["refused"].(map[string]any)["rule"] != RulePlusAddress {
		t.Errorf("plus address refusal: %v", th)
	}
}

// The mailbox's own addresses are on every ticket's mail: they are no
// participants, and a mail that claims to come from one joins no ticket
// by its number alone.
func TestOwnAddressesAreNoParticipants(t *testing.T) {
	cfg := threadConfig()
	cfg.Threading.CheckSender = true
	h := newHarnessConfig(t, cfg)
	send := func(id, from, subject string) {
		t.Helper()
		raw := mailFrom(id, from)
		raw = []byte(strings.Replace(string(raw), "Subject: about "+id, "Subject: "+subject, 1))
		h.ingestOrigin(raw, smtpOrigin(h, from))
		h.drain()
	}
	send("start@example.org", "Jane <jane@example.org>", "my order")
	ticket := conversationOf(t, h.api, "start@example.org").TicketID
	onlyJane(t, h, ticket)
	send("own@example.com", "support@example.com", fmt.Sprintf("Re: [#%d] my order", ticket))
	if c := conversationOf(t, h.api, "own@example.com"); c.TicketID == ticket {
		t.Errorf("a mail from the mailbox's own address joined ticket %d by its number: %v", ticket, c.Payload.RawData["thread"])
	}
}

// Which verdicts speak against a sender joining by ticket number.
func TestFailedAuth(t *testing.T) {
	for _, tt := range []struct {
		auth   map[string]any
		refuse bool
	}{
		{nil, false},
		{map[string]any{"authenticated": true, "dmarc": "pass"}, false},
		{map[string]any{"authenticated": false, "dmarc": "none"}, false},
		{map[string]any{"authenticated": false, "dmarc": "temperror"}, false},
		{map[string]any{"authenticated": false, "dmarc": "fail"}, true},
		{map[string]any{"authenticated": false, "dmarc": "permerror"}, true},
		{map[string]any{"authenticated": false, "dmarc": "pass", "fromDomain": "example.net"}, true},
		{map[string]any{"authenticated": false, "dmarc": "none", "duplicateField": "From"}, true},
	} {
		rd := map[string]any{}
		if tt.auth != nil {
			rd["auth"] = tt.auth
		}
		if why := failedAuth(rd); (why != "") != tt.refuse {
			t.Errorf("%v: %q, want refused %v", tt.auth, why, tt.refuse)
		}
	}
}

// A mail's participants are recorded while its conversation is posted, not
// before: the write shares a commit with the delivery's next one instead of
// adding its own. They are recorded by the end of the attempt all the same.
func TestParticipantsRecordedWhilePosting(t *testing.T) {
	cfg := threadConfig()
	cfg.Threading.CheckSender = true
	h := newHarnessConfig(t, cfg)
	posting := make(chan struct{})
	var waited error
	h.wrap = func(s store.Store, c Conversations) (store.Store, Conversations) {
		return &participantsAfterPost{Store: s, posting: posting, waited: &waited},
			&postSignal{Conversations: c, posting: posting}
	}
	h.open()
	h.ingestOrigin(mailFrom("p@example.org", "Jane <jane@example.org>"), smtpOrigin(h, "jane@example.org"))
	if n := h.drain(); n != 1 {
		t.Fatalf("attempted %d, want 1", n)
	}
	if waited != nil {
		t.Fatal(waited)
	}
	onlyJane(t, h, conversationOf(t, h.api, "p@example.org").TicketID)
}

// onlyJane checks that ticket's participants are jane@example.org alone.
func onlyJane(t *testing.T, h *harness, ticket int) {
	t.Helper()
	parts, err := h.store.Participants(t.Context(), 4, int64(ticket))
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 1 || parts[0] != "jane@example.org" {
		t.Errorf("participants %v, want only jane@example.org", parts)
	}
}

// participantsAfterPost records participants only once the conversation
// store call has begun (posting closed), or fails after a bounded wait.
type participantsAfterPost struct {
	store.Store
	posting <-chan struct{}
	waited  *error
}

func (s *participantsAfterPost) AddParticipants(ctx context.Context, subchannelID int, ticketID int64, addresses []string) error {
	select {
	case <-s.posting:
	case <-time.After(10 * time.Second):
		*s.waited = errors.New("participants were recorded before the conversation was posted, not alongside")
		return *s.waited
	}
	return s.Store.AddParticipants(ctx, subchannelID, ticketID, addresses)
}

// postSignal closes posting at the first conversation store call.
type postSignal struct {
	Conversations
	posting chan struct{}
}

func (c *postSignal) StoreConversation(ctx context.Context, ticketID int64, conv *api.Conversation) (*api.StoreResult, error) {
	select {
	case <-c.posting:
	default:
		close(c.posting)
	}
	return c.Conversations.StoreConversation(ctx, ticketID, conv)
}

// An address longer than a path may be (RFC 5321 4.5.3.1.3) is no
// participant: PostgreSQL's index takes no entry over 2704 bytes, and one
// such address would fail the whole mail's participants (and the batch of
// statements they went in).
func TestOverlongAddressIsNoParticipant(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 200) + "@example.net"
	raw := []byte("From: Jane <jane@example.org>\r\nTo: support@example.com\r\nCc: " + long + ", carl@example.org\r\n" +
		"Subject: s\r\nMessage-ID: <p@example.org>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\nhello\r\n")
	res, err := mapper.Map(context.Background(), raw, mapper.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := participantsOf(&Mail{Result: res}, map[string]bool{"support@example.com": true})
	if want := []string{"jane@example.org", "carl@example.org"}; !slices.Equal(got, want) {
		t.Errorf("participants = %.80q, want %q", got, want)
	}
}
