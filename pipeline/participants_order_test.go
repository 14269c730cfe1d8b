package pipeline

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/store"
)

// senderCheckHarness opens a harness that checks senders against the
// ticket's participants, its store wrapped by wrap.
func senderCheckHarness(t *testing.T, wrap func(store.Store) store.Store) *harness {
	t.Helper()
	cfg := threadConfig()
	cfg.Threading.CheckSender = true
	h := newHarnessConfig(t, cfg)
	h.wrap = func(s store.Store, c Conversations) (store.Store, Conversations) { return wrap(s), c }
	h.open()
	return h
}

// A new ticket's participants are written beside the conversation's post,
// and must be durable before the message is recorded as delivered: a
// delivered message is never attempted again, so a crash in between would
// lose them, and a later reply from a participant that names the ticket by
// its subject would be refused by the sender check. AddParticipants is
// held until Complete was called (or 3 s passed); Complete must not come
// first.
func TestParticipantsDurableBeforeComplete(t *testing.T) {
	o := &completeOrder{completed: make(chan struct{})}
	h := senderCheckHarness(t, func(s store.Store) store.Store { o.Store = s; return o })
	h.ingestOrigin(mailFrom("p@example.org", "Jane <jane@example.org>"), smtpOrigin(h, "jane@example.org"))
	if n := h.drain(); n != 1 {
		t.Fatalf("attempted %d, want 1", n)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.recorded {
		t.Fatal("participants never recorded")
	}
	if o.completedFirst {
		t.Error("the message was completed (delivered, durable) before its ticket's participants were recorded: a crash in between loses them")
	}
}

type completeOrder struct {
	store.Store
	completed      chan struct{}
	once           sync.Once
	mu             sync.Mutex
	recorded       bool
	completedFirst bool
}

func (s *completeOrder) Complete(ctx context.Context, id int64, attempt int, o store.Outcome) error {
	err := s.Store.Complete(ctx, id, attempt, o)
	s.once.Do(func() { close(s.completed) })
	return err
}

func (s *completeOrder) AddParticipants(ctx context.Context, subchannelID int, ticketID int64, addresses []string) error {
	first := false
	select {
	case <-s.completed:
		first = true
	case <-time.After(3 * time.Second):
	}
	err := s.Store.AddParticipants(ctx, subchannelID, ticketID, addresses)
	s.mu.Lock()
	s.recorded, s.completedFirst = true, first
	s.mu.Unlock()
	return err
}

// Where the store can (participantsCompleter), a delivered mail's
// participants are written by its record as delivered, in the same
// transaction, and not on their own.
func TestParticipantsWithRecord(t *testing.T) {
	h, s := withRecordHarness(t)
	h.ingestOrigin(mailFrom("p@example.org", "Jane <jane@example.org>"), smtpOrigin(h, "jane@example.org"))
	if n := h.drain(); n != 1 {
		t.Fatalf("attempted %d, want 1", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.added != 0 || s.with != 1 {
		t.Errorf("participants written on their own %d times and with the record %d times, want 0 and 1", s.added, s.with)
	}
	onlyJane(t, h, conversationOf(t, h.api, "p@example.org").TicketID)
}

// A mail whose post fails still has its participants recorded by the end
// of the attempt, although the store would have taken them with the
// record as delivered.
func TestParticipantsRecordedWithoutRecord(t *testing.T) {
	h, s := withRecordHarness(t)
	h.api.Inject(testapi.Fault{Path: "conversation/store", Status: 500, Times: 1})
	r := h.ingestOrigin(mailFrom("p@example.org", "Jane <jane@example.org>"), smtpOrigin(h, "jane@example.org"))
	if n := h.drain(); n != 1 {
		t.Fatalf("attempted %d, want 1", n)
	}
	if m := h.get(r.QueueID); m.State != store.Queued || m.TicketID == 0 {
		t.Fatalf("after a 500: state %s, ticket %d; want queued on a ticket", m.State, m.TicketID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.added != 1 || s.with != 0 {
		t.Errorf("participants written on their own %d times and with the record %d times, want 1 and 0", s.added, s.with)
	}
	onlyJane(t, h, int(h.get(r.QueueID).TicketID))
}

// withRecordHarness is a harness with the sender check on, whose store
// counts how participants are written.
func withRecordHarness(t *testing.T) (*harness, *withRecord) {
	s := &withRecord{}
	h := senderCheckHarness(t, func(st store.Store) store.Store { s.Store = st; return s })
	return h, s
}

// withRecord counts how a store that can write participants with the
// record of a delivery is asked to write them.
type withRecord struct {
	store.Store
	mu    sync.Mutex
	added int // AddParticipants calls
	with  int // CompleteWithParticipants calls
}

func (s *withRecord) AddParticipants(ctx context.Context, subchannelID int, ticketID int64, addresses []string) error {
	s.mu.Lock()
	s.added++
	s.mu.Unlock()
	return s.Store.AddParticipants(ctx, subchannelID, ticketID, addresses)
}

func (s *withRecord) CompleteWithParticipants(ctx context.Context, id int64, attempt int, o store.Outcome, subchannelID int, ticketID int64, addresses []string) error {
	s.mu.Lock()
	s.with++
	s.mu.Unlock()
	return s.Store.(participantsCompleter).CompleteWithParticipants(ctx, id, attempt, o, subchannelID, ticketID, addresses)
}
