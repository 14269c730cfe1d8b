package pipeline

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// A new ticket's participants are written beside the conversation's post,
// and must be durable before the message is recorded as delivered: a
// delivered message is never attempted again, so a crash in between would
// lose them, and a later reply from a participant that names the ticket by
// its subject would be refused by the sender check. AddParticipants is
// held until Complete was called (or 3 s passed); Complete must not come
// first.
func TestParticipantsDurableBeforeComplete(t *testing.T) {
	cfg := threadConfig()
	cfg.Threading.CheckSender = true
	h := newHarnessConfig(t, cfg)
	o := &completeOrder{completed: make(chan struct{})}
	h.wrap = func(s store.Store, c Conversations) (store.Store, Conversations) {
		o.Store = s
		return o, c
	}
	h.open()
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
