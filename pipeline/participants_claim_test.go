package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/store"
)

// A mail that names a ticket only by its subject tag, claimed with a mail
// that made its sender a participant of that ticket, joins the ticket
// however long the record of the earlier mail takes: here the record (with
// its participants) is held until the later mail's sender is checked, or
// for a second: a worker that waits for the record before the check waits
// that long.
func TestSubjectJoinInSameClaimSeesParticipantsOfSlowRecord(t *testing.T) {
	s := &slowParticipants{checked: make(chan struct{})}
	h := senderCheckHarness(t, func(st store.Store) store.Store { s.Store = st; return s })
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
// Participants is asked (or a second passed).
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
		case <-time.After(time.Second):
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

// A record with participants that fails leaves the message to its lease
// and writes none of them; the next attempt finds the conversation at the
// API, does not post it again, and records the participants with it.
func TestFailedRecordWithParticipants(t *testing.T) {
	withoutRecordRetry(t)
	h, fail, id := recordFailingOnce(t)
	if m := h.get(id); m.State != store.Inflight {
		t.Fatalf("message is %s after a failed record, want inflight until its lease ends", m.State)
	}
	ticket := conversationOf(t, h.api, "p@example.org").TicketID
	if parts, err := h.store.Participants(t.Context(), 4, int64(ticket)); err != nil || len(parts) != 0 {
		t.Fatalf("participants after the failed record: %v, %v; want none", parts, err)
	}
	h.clock.Add(2 * h.cfg.Lease)
	h.drain()
	if m := h.get(id); m.State != store.Delivered {
		t.Errorf("message is %s, want delivered", m.State)
	}
	if n := h.api.CountByExternalID("p@example.org"); n != 1 {
		t.Errorf("API stored the message %d times, want 1", n)
	}
	onlyJane(t, h, ticket)
	if fail.with != 2 || fail.added != 0 {
		t.Errorf("participants written with the record %d times and on their own %d times, want 2 and 0", fail.with, fail.added)
	}
}

// A record with participants that fails for a moment is tried again and
// writes them with it, once.
func TestRecordWithParticipantsTriedAgain(t *testing.T) {
	h, fail, id := recordFailingOnce(t)
	if m := h.get(id); m.State != store.Delivered {
		t.Fatalf("message is %s after a record that failed once, want delivered", m.State)
	}
	onlyJane(t, h, conversationOf(t, h.api, "p@example.org").TicketID)
	if fail.with != 2 || fail.added != 0 {
		t.Errorf("participants written with the record %d times and on their own %d times, want 2 and 0", fail.with, fail.added)
	}
}

// recordFailingOnce makes one attempt of a mail from Jane whose first
// record with participants fails; it returns the mail's queue id.
func recordFailingOnce(t *testing.T) (*harness, *failingWithRecord, int64) {
	t.Helper()
	fail := &failingWithRecord{withRecord: &withRecord{}, fails: 1}
	h := senderCheckHarness(t, func(st store.Store) store.Store { fail.Store = st; return fail })
	r := h.ingestOrigin(mailFrom("p@example.org", "Jane <jane@example.org>"), smtpOrigin(h, "jane@example.org"))
	if n := h.drain(); n != 1 {
		t.Fatalf("attempted %d, want 1", n)
	}
	return h, fail, r.QueueID
}

// failingWithRecord fails its first fails records with participants.
type failingWithRecord struct {
	*withRecord
	fails int
}

func (s *failingWithRecord) CompleteWithParticipants(ctx context.Context, id int64, attempt int, o store.Outcome, sub int, ticket int64, addrs []string) error {
	s.mu.Lock()
	fail := s.fails > 0
	s.fails--
	s.mu.Unlock()
	if fail {
		s.mu.Lock()
		s.with++
		s.mu.Unlock()
		return errors.New("disk full")
	}
	return s.withRecord.CompleteWithParticipants(ctx, id, attempt, o, sub, ticket, addrs)
}

// An attempt whose time runs out in the post still records the mail's
// participants: a failure report that pins the ticket for the next attempt
// leaves that attempt no thread to resolve, and so no participants to
// record.
func TestParticipantsRecordedWhenAttemptTimesOut(t *testing.T) {
	cfg := threadConfig()
	cfg.Threading.CheckSender = true
	cfg.Lease = 2 * time.Second // the attempt ends 1.8 s after the claim
	h := newHarnessConfig(t, cfg)
	h.p.now = time.Now
	h.api.Inject(testapi.Fault{Path: "conversation/store", Delay: time.Minute, Times: 1})
	h.ingestOrigin(mailFrom("p@example.org", "Jane <jane@example.org>"), smtpOrigin(h, "jane@example.org"))
	if n := h.drain(); n != 1 {
		t.Fatalf("attempted %d, want 1", n)
	}
	tickets := h.api.Tickets()
	if len(tickets) != 1 {
		t.Fatalf("%d tickets, want the mail's new one", len(tickets))
	}
	onlyJane(t, h, int(tickets[0].ID))
}
