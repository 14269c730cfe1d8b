package pipeline

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// A mail that names a ticket only by its subject tag, claimed with a mail
// that made its sender a participant of that ticket, joins the ticket
// however long the record of the earlier mail takes: here the record (with
// its participants) is held until the later mail's sender is checked (or
// 3 s pass).
func TestSubjectJoinInSameClaimSeesParticipantsOfSlowRecord(t *testing.T) {
	cfg := threadConfig()
	cfg.Threading.CheckSender = true
	h := newHarnessConfig(t, cfg)
	s := &slowParticipants{checked: make(chan struct{})}
	h.wrap = func(st store.Store, c Conversations) (store.Store, Conversations) {
		s.Store = st
		return s, c
	}
	h.open()
	send := func(id, from, subject string, headers ...string) {
		t.Helper()
		raw := mailFrom(id, from, headers...)
		raw = []byte(strings.Replace(string(raw), "Subject: about "+id, "Subject: "+subject, 1))
		h.ingestOrigin(raw, smtpOrigin(h, from))
	}
	send("start@example.org", "Jane <jane@example.org>", "my order")
	h.drain()
	ticket := conversationOf(t, h.api, "start@example.org").TicketID
	// jane answers her own thread and copies carl in; carl then writes
	// with the ticket's tag alone. Both are in one claim.
	send("cc@example.org", "Jane <jane@example.org>", "Re: my order",
		"Cc: carl@example.org", "In-Reply-To: <start@example.org>", "References: <start@example.org>")
	send("carl@example.org", "carl@example.org", fmt.Sprintf("[#%d] my order, again", ticket))
	s.arm()
	if n, err := h.p.DeliverDue(context.Background(), 2); err != nil || n != 2 {
		t.Fatalf("DeliverDue = %d, %v", n, err)
	}
	if c := conversationOf(t, h.api, "cc@example.org"); c.TicketID != ticket {
		t.Fatalf("jane's reply is on ticket %d, want %d", c.TicketID, ticket)
	}
	if c := conversationOf(t, h.api, "carl@example.org"); c.TicketID != ticket {
		t.Errorf("carl, copied in on the ticket, is on ticket %d, want %d: %v", c.TicketID, ticket, c.Payload.RawData["thread"])
	}
}

// slowParticipants holds the records of deliveries, once armed, until
// Participants is asked (or 3 s passed).
type slowParticipants struct {
	store.Store
	mu      sync.Mutex
	armed   bool
	checked chan struct{}
	once    sync.Once
}

func (s *slowParticipants) arm() { s.mu.Lock(); s.armed = true; s.mu.Unlock() }

func (s *slowParticipants) hold() {
	s.mu.Lock()
	armed := s.armed
	s.mu.Unlock()
	if armed {
		select {
		case <-s.checked:
		case <-time.After(3 * time.Second):
		}
	}
}

func (s *slowParticipants) Participants(ctx context.Context, sub int, ticket int64) ([]string, error) {
	s.once.Do(func() { close(s.checked) })
	return s.Store.Participants(ctx, sub, ticket)
}

func (s *slowParticipants) Complete(ctx context.Context, id int64, attempt int, o store.Outcome) error {
	s.hold()
	return s.Store.Complete(ctx, id, attempt, o)
}

func (s *slowParticipants) CompleteWithParticipants(ctx context.Context, id int64, attempt int, o store.Outcome, sub int, ticket int64, addrs []string) error {
	s.hold()
	return s.Store.(participantsCompleter).CompleteWithParticipants(ctx, id, attempt, o, sub, ticket, addrs)
}
