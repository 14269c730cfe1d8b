package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/postgres"
	"github.com/enneo/mailbridge/store/sqlite"
)

// postNotice tells of each conversation the API stored.
type postNotice struct {
	Conversations
	posted chan string
}

func (c *postNotice) StoreConversation(ctx context.Context, ticketID int64, conv *api.Conversation) (*api.StoreResult, error) {
	res, err := c.Conversations.StoreConversation(ctx, ticketID, conv)
	if err == nil {
		c.posted <- conv.ExternalConversationID
	}
	return res, err
}

// heldComplete holds the record of the first delivery until a second
// conversation is posted (or 5 s passed), and fails records while fail is
// set.
type heldComplete struct {
	store.Store
	posted <-chan string
	mu     sync.Mutex
	first  bool
	early  bool // the second post came before the first record went on
	fail   bool
}

func (s *heldComplete) Complete(ctx context.Context, id int64, attempt int, o store.Outcome) error {
	s.mu.Lock()
	first, fail := !s.first, s.fail
	s.first = true
	s.mu.Unlock()
	if fail {
		return errors.New("disk full")
	}
	// The first delivery's own post has been noticed already.
	for n := 0; first && n < 2; n++ {
		select {
		case <-s.posted:
		case <-time.After(5 * time.Second):
			return s.Store.Complete(ctx, id, attempt, o)
		}
	}
	if first {
		s.mu.Lock()
		s.early = true
		s.mu.Unlock()
	}
	return s.Store.Complete(ctx, id, attempt, o)
}

// The record of a delivery (a commit, an fsync) does not hold up the next
// message of the claim: it is mapped and posted meanwhile. DeliverDue
// returns once every record is written.
func TestCompleteOverlapsNextDelivery(t *testing.T) {
	h := newHarness(t)
	s, _ := holdRecords(h)
	h.open()
	a := h.ingest(message("a@example.org"))
	b := h.ingest(message("b@example.org"))
	if n, err := h.p.DeliverDue(context.Background(), 2); err != nil || n != 2 {
		t.Fatalf("DeliverDue = %d, %v", n, err)
	}
	if !s.early {
		t.Error("the second message was posted only after the first one's delivery was recorded")
	}
	for _, id := range []int64{a.QueueID, b.QueueID} {
		if m := h.get(id); m.State != store.Delivered {
			t.Errorf("message %d is %s after DeliverDue, want delivered", id, m.State)
		}
	}
}

// A record that fails in the background leaves the message to its lease,
// as a process dying after the post would: the next attempt finds the
// conversation at the API and does not post it again.
func TestFailedCompleteIsNotPostedAgain(t *testing.T) {
	withoutRecordRetry(t)
	h := newHarness(t)
	s := &heldComplete{fail: true, first: true}
	id := drainOneWrapped(t, h, func(st store.Store) store.Store { s.Store = st; return s }, "lost-record@example.org")
	if !strings.Contains(h.logs.String(), "op=\"record delivery\"") {
		t.Errorf("no log line of the failed record:\n%s", h.logs.String())
	}
	if m := h.get(id); m.State != store.Inflight {
		t.Fatalf("message is %s after a failed record, want inflight until its lease ends", m.State)
	}
	s.mu.Lock()
	s.fail = false
	s.mu.Unlock()
	h.clock.Add(2 * h.cfg.Lease)
	h.drain()
	if m := h.get(id); m.State != store.Delivered {
		t.Errorf("message is %s, want delivered", m.State)
	}
	if n := h.api.CountByExternalID("lost-record@example.org"); n != 1 {
		t.Errorf("API stored the message %d times, want 1", n)
	}
}

// holdRecords wraps h's store and API, before h.open, so that a test sees
// each post (posted) and can hold the records of deliveries (the store s).
func holdRecords(h *harness) (s *heldComplete, posted chan string) {
	posted = make(chan string, 10)
	s = &heldComplete{posted: posted}
	h.wrap = func(st store.Store, c Conversations) (store.Store, Conversations) {
		s.Store = st
		return s, &postNotice{Conversations: c, posted: posted}
	}
	return s, posted
}

// flakyComplete fails the first fails records; with lost set, each of
// those commits first, as a write whose answer the network lost.
type flakyComplete struct {
	store.Store
	mu    sync.Mutex
	fails int
	lost  bool
	tries int
}

func (s *flakyComplete) Complete(ctx context.Context, id int64, attempt int, o store.Outcome) error {
	s.mu.Lock()
	s.tries++
	fail := s.tries <= s.fails
	s.mu.Unlock()
	if !fail {
		return s.Store.Complete(ctx, id, attempt, o)
	}
	if s.lost {
		if err := s.Store.Complete(ctx, id, attempt, o); err != nil {
			return err
		}
		return errors.New("read tcp: connection reset by peer")
	}
	return errors.New("dial tcp: connection refused")
}

// A record that fails for a moment (the store restarting) is written once
// the store is back, not left to the message's lease; one whose answer was
// lost after it committed counts as written, not as a claim lost to
// another worker.
func TestRecordTriedAgain(t *testing.T) {
	for _, lost := range []bool{false, true} {
		t.Run(map[bool]string{false: "refused", true: "answer lost"}[lost], func(t *testing.T) {
			h := newHarness(t)
			s := &flakyComplete{fails: 2, lost: lost}
			if lost {
				s.fails = 1
			}
			id := drainOneWrapped(t, h, func(st store.Store) store.Store { s.Store = st; return s }, "flaky-record@example.org")
			if m := h.get(id); m.State != store.Delivered {
				t.Fatalf("message is %s after the store came back, want delivered", m.State)
			}
			if n := h.api.CountByExternalID("flaky-record@example.org"); n != 1 {
				t.Errorf("API stored the message %d times, want 1", n)
			}
			logs := h.logs.String()
			if strings.Contains(logs, "store write failed") || strings.Contains(logs, "claim lost") ||
				!strings.Contains(logs, "msg=delivered") {
				t.Errorf("log of a record written on a later try:\n%s", logs)
			}
		})
	}
}

// firstRecord makes a delivery's first record by first, the others by
// the store.
type firstRecord struct {
	store.Store
	once  sync.Once
	first func(ctx context.Context, st store.Store, id int64, attempt int, o store.Outcome) error
}

func (s *firstRecord) Complete(ctx context.Context, id int64, attempt int, o store.Outcome) error {
	var err error
	done := false
	s.once.Do(func() { err, done = s.first(ctx, s.Store, id, attempt, o), true })
	if done {
		return err
	}
	return s.Store.Complete(ctx, id, attempt, o)
}

// drainWrapped delivers message id through a store whose first record
// first makes, and returns the harness and the message's row.
func drainWrapped(t *testing.T, id string, first func(ctx context.Context, st store.Store, id int64, attempt int, o store.Outcome) error) (*harness, store.Message) {
	t.Helper()
	h := newHarness(t)
	h.wrap = func(st store.Store, c Conversations) (store.Store, Conversations) {
		return &firstRecord{Store: st, first: first}, c
	}
	h.open()
	r := h.ingest(message(id))
	if n := h.drain(); n != 1 {
		t.Fatalf("attempted %d, want 1", n)
	}
	return h, h.get(r.QueueID)
}

// A record whose first try committed but answered that the claim is
// gone, as the PostgreSQL store does when a batch's commit lost its
// answer (it runs the statement again alone, which finds the claim
// delivered), is recognised by the row as this delivery.
func TestRecordLostCommitFirstTry(t *testing.T) {
	h, m := drainWrapped(t, "lost-commit@example.org", func(ctx context.Context, st store.Store, id int64, attempt int, o store.Outcome) error {
		if err := st.Complete(ctx, id, attempt, o); err != nil {
			return err
		}
		return store.ErrLeaseLost
	})
	if m.State != store.Delivered {
		t.Fatalf("message is %s, want delivered", m.State)
	}
	if logs := h.logs.String(); strings.Contains(logs, "claim lost") || !strings.Contains(logs, "msg=delivered") {
		t.Errorf("log of a record whose commit lost its answer:\n%s", logs)
	}
}

// A retried record that finds the message delivered by another worker's
// claim, with the same ids, does not count that delivery as its own. The
// first try fails unwritten; meanwhile the other worker took the message
// over and found the conversation at the API.
func TestRecordTakenOverNotCounted(t *testing.T) {
	h, m := drainWrapped(t, "taken-over@example.org", func(ctx context.Context, st store.Store, id int64, attempt int, o store.Outcome) error {
		cs, err := st.Claim(ctx, time.Now().Add(24*time.Hour), time.Minute, 1)
		if err != nil || len(cs) != 1 || cs[0].ID != id {
			return fmt.Errorf("take over: %v, %v", cs, err)
		}
		if err := st.Complete(ctx, id, cs[0].Attempt, o); err != nil {
			return err
		}
		return errors.New("read tcp: connection reset by peer")
	})
	if m.State != store.Delivered || m.Attempts != 2 {
		t.Fatalf("message is %s after %d attempts, want delivered after 2", m.State, m.Attempts)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "claim lost") || strings.Contains(logs, "msg=delivered") {
		t.Errorf("log of a record another worker's claim wrote:\n%s", logs)
	}
}

// On PostgreSQL too, a row holds a claim's delivery by its attempts and
// release: a claim's after an operator's release, not an earlier claim's
// with as many attempts.
func TestWrittenPostgres(t *testing.T) {
	st, err := postgres.Open(t.Context(), testenv.UsePostgres(t).Schema(t, "written"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	p := &Pipeline{store: st}
	o := store.Outcome{TicketID: 7, ConversationID: 8, EventID: 9}
	res, err := st.Enqueue(ctx, store.NewMessage{SubchannelID: 4, ExternalID: "written@example.org", Digest: []byte{1}, Raw: message("written@example.org")})
	if err != nil {
		t.Fatal(err)
	}
	claimOf := func(now time.Time) store.Claim {
		t.Helper()
		cs, err := st.Claim(ctx, now, time.Minute, 1)
		if err != nil || len(cs) != 1 {
			t.Fatalf("Claim = %v, %v", cs, err)
		}
		return cs[0]
	}
	c := claimOf(time.Now())
	if err := st.Hold(ctx, res.ID, c.Attempt, "held"); err != nil {
		t.Fatal(err)
	}
	if err := st.Release(ctx, res.ID); err != nil {
		t.Fatal(err)
	}
	released := claimOf(time.Now().Add(time.Second))
	if err := st.Complete(ctx, res.ID, released.Attempt, o); err != nil {
		t.Fatal(err)
	}
	// The first claim counted as many attempts as the released one.
	if err := p.written(ctx, res.ID, claimMark{c.Attempts, c.ReleasedAt}, o, store.ErrLeaseLost); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("the claim before the release: %v, want the claim lost", err)
	}
	if err := p.written(ctx, res.ID, claimMark{released.Attempts, released.ReleasedAt}, o, store.ErrLeaseLost); err != nil {
		t.Errorf("the claim that delivered: %v, want written", err)
	}
}

// withoutRecordRetry makes a failed record final for the rest of t: the
// tests of the lease that follows it.
func withoutRecordRetry(t *testing.T) {
	d := recordRetryFor
	recordRetryFor = 0
	t.Cleanup(func() { recordRetryFor = d })
}

// drainOneWrapped opens h with its store wrapped by wrap, queues a mail
// under ext and makes its one attempt; it returns the mail's queue id.
func drainOneWrapped(t *testing.T, h *harness, wrap func(store.Store) store.Store, ext string) int64 {
	t.Helper()
	h.wrap = func(s store.Store, c Conversations) (store.Store, Conversations) { return wrap(s), c }
	h.open()
	r := h.ingest(message(ext))
	if n := h.drain(); n != 1 {
		t.Fatalf("attempted %d, want 1", n)
	}
	return r.QueueID
}

// rawReads is the SQLite store whose first record commits but answers
// that the claim is gone, with its reads of raw bytes counted.
type rawReads struct {
	*sqlite.Store
	once  sync.Once
	mu    sync.Mutex
	reads int // Gets that brought raw bytes
}

func (s *rawReads) Complete(ctx context.Context, id int64, attempt int, o store.Outcome) error {
	err := s.Store.Complete(ctx, id, attempt, o)
	lost := false
	s.once.Do(func() { lost = true })
	if err == nil && lost {
		return store.ErrLeaseLost
	}
	return err
}

func (s *rawReads) Get(ctx context.Context, id int64) (store.Message, []byte, error) {
	m, raw, err := s.Store.Get(ctx, id)
	if len(raw) > 0 {
		s.mu.Lock()
		s.reads++
		s.mu.Unlock()
	}
	return m, raw, err
}

// A record that finds its claim gone reads the message's row to learn
// whether it holds this delivery, not the mail: after the attempt, its
// raw bytes are outside the budget, and a store that lost the answers of
// a batch has as many records asking at once.
func TestRecordLostReadsNoRaw(t *testing.T) {
	h := newHarness(t)
	s := &rawReads{}
	h.wrapSQLite(func(st *sqlite.Store) store.Store { s.Store = st; return s })
	r := h.ingest(message("lost-answer@example.org"))
	if n := h.drain(); n != 1 {
		t.Fatalf("attempted %d, want 1", n)
	}
	if m := h.get(r.QueueID); m.State != store.Delivered {
		t.Fatalf("message is %s, want delivered", m.State)
	}
	if logs := h.logs.String(); strings.Contains(logs, "claim lost") || !strings.Contains(logs, "msg=delivered") {
		t.Errorf("log of a record whose commit lost its answer:\n%s", logs)
	}
	if s.reads != 0 {
		t.Errorf("the record read the message's raw bytes %d times", s.reads)
	}
}
