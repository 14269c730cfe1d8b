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
)

// sizedMessage is message(id) with its body padded to at least size bytes.
func sizedMessage(id string, size int) []byte {
	b := message(id)
	line := strings.Repeat("y", 76) + "\r\n"
	for len(b) < size {
		b = append(b, line...)
	}
	return b
}

// slowStore is an API whose store call takes a while and records the
// messages inside it at once.
type slowStore struct {
	Conversations
	hold time.Duration

	mu       sync.Mutex
	inflight []string // external ids inside StoreConversation now
	peak     int
	alone    map[string]bool // by external id: was it alone inside
}

func (s *slowStore) StoreConversation(ctx context.Context, ticketID int64, c *api.Conversation) (*api.StoreResult, error) {
	id := c.ExternalConversationID
	s.mu.Lock()
	s.inflight = append(s.inflight, id)
	s.peak = max(s.peak, len(s.inflight))
	s.alone[id] = len(s.inflight) == 1
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		for i, x := range s.inflight {
			if x == id {
				s.inflight = append(s.inflight[:i], s.inflight[i+1:]...)
				break
			}
		}
		s.mu.Unlock()
	}()
	time.Sleep(s.hold)
	return s.Conversations.StoreConversation(ctx, ticketID, c)
}

// rereadStore records the raw reads again and the postponements, and
// fails the first failGets reads.
type rereadStore struct {
	store.Store
	mu        sync.Mutex
	gets      int
	failGets  int
	postponed []store.Failure
}

func (s *rereadStore) Get(ctx context.Context, id int64) (store.Message, []byte, error) {
	s.mu.Lock()
	s.gets++
	fail := s.gets <= s.failGets
	s.mu.Unlock()
	if fail {
		return store.Message{}, nil, errors.New("disk I/O error")
	}
	return s.Store.Get(ctx, id)
}

func (s *rereadStore) Postpone(ctx context.Context, id int64, attempt int, f store.Failure) error {
	s.mu.Lock()
	s.postponed = append(s.postponed, f)
	s.mu.Unlock()
	return s.Store.Postpone(ctx, id, attempt, f)
}

// The workers map and post at most InflightBytes of raw mail at once; a
// message larger than that is posted alone; and a worker that waited for
// its turn reads the message again and delivers it whole.
func TestInflightBytesBoundDelivery(t *testing.T) {
	const size = 40 << 10
	cfg := testConfig()
	cfg.Workers = 6
	cfg.InflightBytes = 3*size + size/2 // three at a time
	h := newHarnessConfig(t, cfg)
	h.p.now = time.Now
	api := &slowStore{Conversations: h.p.api, hold: 40 * time.Millisecond, alone: map[string]bool{}}
	h.p.api = api
	st := &rereadStore{Store: h.store}
	h.p.store = st
	var ids []string
	for i := range 12 {
		ids = append(ids, fmt.Sprintf("budget%d@example.org", i))
		h.ingest(sizedMessage(ids[i], size))
	}
	h.ingest(sizedMessage("large@example.org", 5*size))

	h.runUntilStored(len(ids) + 1)

	api.mu.Lock()
	defer api.mu.Unlock()
	if api.peak > 3 {
		t.Errorf("%d messages posted at once, the budget allows 3", api.peak)
	}
	if api.peak < 2 {
		t.Errorf("at most %d message posted at once: the budget serialised delivery", api.peak)
	}
	if !api.alone["large@example.org"] {
		t.Error("the message larger than the budget was posted alongside others")
	}
	if st.gets == 0 {
		t.Error("no worker waited and read its message again")
	}
	for _, id := range append(ids, "large@example.org") {
		c := conversationOf(t, h.api, id)
		if !strings.Contains(c.Payload.BodyPlain, strings.Repeat("y", 76)) {
			t.Errorf("%s: body lost its text after being read again: %.80q", id, c.Payload.BodyPlain)
		}
	}
	if !strings.Contains(h.logs.String(), "queue_id") || strings.Contains(h.logs.String(), "delivery did not start") {
		t.Errorf("unexpected log:\n%s", h.logs)
	}
}

// A message that waits for the budget until half its lease is gone goes
// back to the queue without counting an attempt, and is delivered later.
// Each message is larger than the budget, so they go one at a time: the
// third of three claimed at once waits for two posts of 600 ms in turn,
// past its 1 s.
func TestStarvedAttemptIsPostponed(t *testing.T) {
	const size = 2 << 10
	cfg := testConfig()
	cfg.Workers = 3
	cfg.Lease = 2 * time.Second // a wait ends 1 s after the claim
	cfg.InflightBytes = size / 2
	h := newHarnessConfig(t, cfg)
	h.p.now = time.Now
	h.p.api = &slowStore{Conversations: h.p.api, hold: 600 * time.Millisecond, alone: map[string]bool{}}
	st := &rereadStore{Store: h.store}
	h.p.store = st
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(h.logs) // which attempts failed, and why
		}
	})
	var queued []int64
	for i := range 3 {
		queued = append(queued, h.ingest(sizedMessage(fmt.Sprintf("starved%d@example.org", i), size)).QueueID)
	}

	h.runUntilStored(3)

	if n := strings.Count(h.logs.String(), "delivery did not start: back in the queue"); n < 1 {
		t.Fatalf("no starved attempt logged:\n%s", h.logs)
	}
	// The message kept its place and its last error (none yet).
	for _, f := range st.postponed {
		if f.Error != "" || f.At.After(time.Now()) {
			t.Errorf("postponed with %+v, want the last error and a due time kept", f)
		}
	}
	for i, id := range queued {
		m := h.get(id)
		// The starved claims were given back: one counted attempt each.
		if m.State != store.Delivered || m.Attempts != 1 {
			t.Errorf("message %d: %s after %d attempts, want delivered after 1", id, m.State, m.Attempts)
		}
		conversationOf(t, h.api, fmt.Sprintf("starved%d@example.org", i))
	}
}

// runUntilStored runs the workers until the API holds n conversations.
func (h *harness) runUntilStored(n int) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.p.Run(ctx) }()
	h.api.WaitConversations(h.t, n, 20*time.Second)
	cancel()
	if err := <-done; err != nil {
		h.t.Fatal(err)
	}
}

// oneAtATime is a pipeline whose budget fits one of the messages at a
// time, posting through an API that holds each store call for hold.
func oneAtATime(t *testing.T, hold time.Duration) (*harness, *rereadStore) {
	t.Helper()
	cfg := testConfig()
	cfg.Workers = 2
	cfg.InflightBytes = 1 << 10 // each message is larger: one at a time
	h := newHarnessConfig(t, cfg)
	h.p.now = time.Now
	h.p.api = &slowStore{Conversations: h.p.api, hold: hold, alone: map[string]bool{}}
	st := &rereadStore{Store: h.store}
	h.p.store = st
	return h, st
}

// A shutdown ends a wait for the budget at once: that claim goes back to
// the queue uncounted, while the attempt under way is finished.
func TestShutdownEndsBudgetWait(t *testing.T) {
	const hold = time.Second
	h, _ := oneAtATime(t, hold)
	a := h.ingest(sizedMessage("posting@example.org", 2<<10))
	b := h.ingest(sizedMessage("waiting@example.org", 2<<10))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.p.Run(ctx) }()
	testenv.WaitFor(t, 5*time.Second, "one post under way and the other claim waiting", func() bool {
		return h.get(a.QueueID).State == store.Inflight && h.get(b.QueueID).State == store.Inflight
	})
	stopped := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(hold + 5*time.Second):
		t.Fatal("Run did not return after the shutdown")
	}
	if took := time.Since(stopped); took > hold+time.Second {
		t.Errorf("Run returned %v after the shutdown: the waiting claim held it up", took)
	}
	// Which of the two got the budget first is up to the workers.
	delivered, waiting := h.get(a.QueueID), h.get(b.QueueID)
	if delivered.State != store.Delivered {
		delivered, waiting = waiting, delivered
	}
	if delivered.State != store.Delivered {
		t.Errorf("the attempt under way ended %s, want delivered", delivered.State)
	}
	if waiting.State != store.Queued || waiting.Attempts != 0 {
		t.Errorf("the waiting claim is %s after %d attempts, want queued after 0", waiting.State, waiting.Attempts)
	}
	if !strings.Contains(h.logs.String(), "delivery did not start: back in the queue") {
		t.Errorf("the given-back claim was not logged:\n%s", h.logs)
	}
}

// A message whose bytes cannot be read again after its wait goes back to
// the queue uncounted and is delivered on its next claim.
func TestRereadFailureIsPostponed(t *testing.T) {
	h, st := oneAtATime(t, 300*time.Millisecond)
	st.failGets = 1
	var queued []int64
	for i := range 2 {
		queued = append(queued, h.ingest(sizedMessage(fmt.Sprintf("reread%d@example.org", i), 2<<10)).QueueID)
	}
	h.runUntilStored(2)

	if !strings.Contains(h.logs.String(), "read the message again: disk I/O error") {
		t.Errorf("the failed read was not logged:\n%s", h.logs)
	}
	for _, id := range queued {
		if m := h.get(id); m.State != store.Delivered || m.Attempts != 1 {
			t.Errorf("message %d: %s after %d attempts, want delivered after 1", id, m.State, m.Attempts)
		}
	}
}
