package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/sqlite"
)

// claimCounter is the SQLite store with its claim statements counted and
// the claim requests of its enqueues recorded.
type claimCounter struct {
	*sqlite.Store
	claims atomic.Int32
	mu     sync.Mutex
	asked  map[string]bool // by ExternalID: the enqueue asked for a claim
	most   int             // the largest limit of a claim
}

// claimed counts a claim of limit.
func (s *claimCounter) claimed(limit int) {
	s.claims.Add(1)
	s.mu.Lock()
	s.most = max(s.most, limit)
	s.mu.Unlock()
}

func (s *claimCounter) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Claim, error) {
	s.claimed(limit)
	return s.Store.Claim(ctx, now, lease, limit)
}

func (s *claimCounter) ClaimHeld(ctx context.Context, now time.Time, lease time.Duration, limit int, held func(int64) bool) ([]store.Claim, error) {
	s.claimed(limit)
	return s.Store.ClaimHeld(ctx, now, lease, limit, held)
}

func (s *claimCounter) Enqueue(ctx context.Context, m store.NewMessage) (store.EnqueueResult, error) {
	s.mu.Lock()
	s.asked[m.ExternalID] = m.Claim != nil
	s.mu.Unlock()
	return s.Store.Enqueue(ctx, m)
}

// askedClaim reports whether the enqueue of externalID asked for a claim.
func (s *claimCounter) askedClaim(externalID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked[externalID]
}

// newHandoffHarness is a harness of cfg over a claimCounter, whose
// workers poll only when woken.
func newHandoffHarness(t *testing.T, cfg Config, opts testapi.Options) (*harness, *claimCounter) {
	cfg.Poll = time.Hour
	h := newHarnessAPI(t, cfg, opts)
	s := &claimCounter{asked: map[string]bool{}}
	h.wrapSQLite(func(st *sqlite.Store) store.Store { s.Store = st; return s })
	return h, s
}

// waitStarted waits until each of h's workers made its first claim, at
// its start, and one found the queue drained; with a poll of an hour, a
// worker claims again only when woken.
func waitStarted(t *testing.T, h *harness, s *claimCounter) {
	t.Helper()
	testenv.WaitFor(t, 10*time.Second, "the workers' first claims", func() bool {
		return int(s.claims.Load()) >= h.cfg.Workers && h.p.drainedSeq.Load() >= h.p.queuedSeq.Load()
	})
}

// waitHandedTaken waits until no claim made at enqueue waits for a
// worker, and checks that the count of the places in handed is back.
func waitHandedTaken(t *testing.T, h *harness) {
	t.Helper()
	testenv.WaitFor(t, 10*time.Second, "the claims made at enqueue to be taken", func() bool {
		return len(h.p.handed) == 0
	})
	if n, b := h.p.handedCount.Load(), h.p.handedBytes.Load(); n != 0 || b != 0 {
		t.Errorf("%d places, %d bytes reserved with nothing handed over", n, b)
	}
}

// Mail that arrives while the workers keep up is queued claimed and
// handed to them: no claim statement, one attempt, delivered once.
func TestWorkersTakeMailClaimedAtEnqueue(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 3
	h, s := newHandoffHarness(t, cfg, testapi.Options{})
	runHarness(t, h)
	waitStarted(t, h, s)
	claims := s.claims.Load()
	const n = 6
	for i := range n {
		id := fmt.Sprintf("handed%d@example.org", i)
		r := h.ingest(message(id))
		h.api.WaitConversations(t, i+1, 10*time.Second)
		testenv.WaitFor(t, 10*time.Second, "the delivery's record", func() bool {
			return h.get(r.QueueID).State == store.Delivered
		})
		if m := h.get(r.QueueID); m.Attempts != 1 || m.Uncertain != 0 {
			t.Errorf("%s: Attempts %d, Uncertain %d; want 1, 0", id, m.Attempts, m.Uncertain)
		}
		if !s.askedClaim(id) {
			t.Errorf("%s was queued without a claim while the workers kept up", id)
		}
	}
	waitHandedTaken(t, h)
	if got := s.claims.Load() - claims; got != 0 {
		t.Errorf("%d claim statements for %d messages claimed at enqueue, want 0", got, n)
	}
	for i := range n {
		if c := h.api.CountByExternalID(fmt.Sprintf("handed%d@example.org", i)); c != 1 {
			t.Errorf("message %d stored %d times, want 1", i, c)
		}
	}
}

// Mail from many sessions at once, some handed to waiting workers and
// some claimed from the queue, is delivered exactly once.
func TestConcurrentIngestDeliversHandedMailOnce(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 4
	h, s := newHandoffHarness(t, cfg, testapi.Options{})
	runHarness(t, h)
	waitStarted(t, h, s)
	const sessions, each = 6, 8
	var wg sync.WaitGroup
	for g := range sessions {
		wg.Go(func() {
			for i := range each {
				h.ingest(message(fmt.Sprintf("s%d-%d@example.org", g, i)))
			}
		})
	}
	wg.Wait()
	h.api.WaitConversations(t, sessions*each, 30*time.Second)
	testenv.WaitFor(t, 10*time.Second, "every delivery's record", func() bool {
		st, err := h.store.Stats(context.Background())
		return err == nil && st.Counts[store.Delivered] == sessions*each
	})
	handed := 0
	for g := range sessions {
		for i := range each {
			id := fmt.Sprintf("s%d-%d@example.org", g, i)
			if c := h.api.CountByExternalID(id); c != 1 {
				t.Errorf("%s stored %d times, want 1", id, c)
			}
			if s.askedClaim(id) {
				handed++
			}
		}
	}
	if handed == 0 {
		t.Error("no message was claimed at enqueue")
	}
	waitHandedTaken(t, h)
}

// gatedAPI holds the conversation stores until open is closed.
type gatedAPI struct {
	Conversations
	entered chan struct{} // gets a value as each store call waits
	open    chan struct{}
}

func (a *gatedAPI) StoreConversation(ctx context.Context, ticketID int64, c *api.Conversation) (*api.StoreResult, error) {
	a.entered <- struct{}{}
	<-a.open
	return a.Conversations.StoreConversation(ctx, ticketID, c)
}

// newGatedHandoffHarness is newHandoffHarness of cfg whose conversation
// stores gate holds.
func newGatedHandoffHarness(t *testing.T, cfg Config) (*harness, *claimCounter, *gatedAPI) {
	h, s := newHandoffHarness(t, cfg, testapi.Options{})
	gate := &gatedAPI{entered: make(chan struct{}, 16), open: make(chan struct{})}
	wrapStore := h.wrap
	h.wrap = func(st store.Store, c Conversations) (store.Store, Conversations) {
		st, c = wrapStore(st, c)
		gate.Conversations = c
		return st, gate
	}
	h.store.Close()
	h.open()
	return h, s, gate
}

// Mail that arrives while every worker is busy waits in memory, claimed,
// up to the places in handed; beyond, it is queued for a claim, and
// delivered once a worker is free.
func TestFullHandOverLeavesMailQueued(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 1
	h, s, gate := newGatedHandoffHarness(t, cfg)
	runHarness(t, h)
	waitStarted(t, h, s)
	h.ingest(message("first@example.org"))
	<-gate.entered // the one worker is busy with it
	places := cap(h.p.handed)
	var ids []string
	for i := range places + 1 {
		id := fmt.Sprintf("next%d@example.org", i)
		ids = append(ids, id)
		r := h.ingest(message(id))
		want, asked := store.Inflight, i < places
		if !asked {
			want = store.Queued
		}
		if s.askedClaim(id) != asked {
			t.Errorf("%s: claim asked %v, want %v (%d places in memory)", id, !asked, asked, places)
		}
		if m := h.get(r.QueueID); m.State != want {
			t.Errorf("%s is %s, want %s", id, m.State, want)
		}
	}
	close(gate.open)
	h.api.WaitConversations(t, places+2, 10*time.Second)
	for _, id := range append(ids, "first@example.org") {
		if c := h.api.CountByExternalID(id); c != 1 {
			t.Errorf("%s stored %d times, want 1", id, c)
		}
	}
	waitHandedTaken(t, h)
}

// While the workers wait for the probe's pilot (the API is down), mail is
// queued for the pilot's claims, not claimed at enqueue, which would have
// each message try the API.
func TestHoldingBackClaimsNothingAtEnqueue(t *testing.T) {
	h, s := newHandoffHarness(t, testConfig(), testapi.Options{})
	h.api.Inject(testapi.Fault{Status: http.StatusServiceUnavailable})
	runHarness(t, h)
	const before = downAfter + 1
	for i := range before {
		h.ingest(message(fmt.Sprintf("before%d@example.org", i)))
	}
	testenv.WaitFor(t, 20*time.Second, "the API to count as down", func() bool { return h.p.health.troubledNow() })
	const n = 4
	for i := range n {
		id := fmt.Sprintf("during%d@example.org", i)
		r := h.ingest(message(id))
		if s.askedClaim(id) {
			t.Errorf("%s queued claimed while the workers wait for the pilot", id)
		}
		if m := h.get(r.QueueID); m.Attempts != 0 {
			t.Errorf("%s: %d attempts during the outage, want 0", id, m.Attempts)
		}
	}
	h.api.ClearFaults()
	h.api.WaitConversations(t, before+n, 30*time.Second)
}

// A process that dies with a message claimed at enqueue and not yet
// attempted leaves it to its lease: it is not attempted while the lease
// holds, and then once, as an attempt whose outcome is unknown.
func TestCrashWithMailClaimedAtEnqueue(t *testing.T) {
	h := newHarness(t)
	h.p.running.Store(true)                    // workers run, but die before they take the mail
	h.p.drainedSeq.Store(h.p.queuedSeq.Load()) // and found the queue empty
	r := h.ingest(message("dies@example.org"))
	if m := h.get(r.QueueID); m.State != store.Inflight || m.Attempts != 1 {
		t.Fatalf("message is %s with %d attempts, want claimed at enqueue", m.State, m.Attempts)
	}
	h.crash()
	if n := h.drain(); n != 0 {
		t.Fatalf("%d messages attempted while the dead process's claim held", n)
	}
	h.clock.Add(2 * time.Minute)
	h.drain()
	m := h.get(r.QueueID)
	if m.State != store.Delivered || m.Uncertain != 1 {
		t.Fatalf("after the lease: %+v, want delivered with one uncertain attempt", m)
	}
	if c := h.api.CountByExternalID("dies@example.org"); c != 1 {
		t.Errorf("stored %d times, want 1", c)
	}
}

// slowRecords is a claimCounter whose records of deliveries take a while
// to commit.
type slowRecords struct{ *claimCounter }

func (s slowRecords) CompleteWithParticipants(ctx context.Context, id int64, attempt int, o store.Outcome, subchannelID int, ticketID int64, addresses []string) error {
	time.Sleep(300 * time.Millisecond)
	return s.claimCounter.CompleteWithParticipants(ctx, id, attempt, o, subchannelID, ticketID, addresses)
}

// A worker writes the records of the mail claimed at enqueue while it
// waits for more, and a shutdown waits for them: when Run returns, what
// the API stored is recorded as delivered.
func TestShutdownWaitsForRecordsOfHandedMail(t *testing.T) {
	h, s := newHandoffHarness(t, testConfig(), testapi.Options{})
	wrapStore := h.wrap
	h.wrap = func(st store.Store, c Conversations) (store.Store, Conversations) {
		st, c = wrapStore(st, c)
		return slowRecords{st.(*claimCounter)}, c
	}
	h.store.Close()
	h.open()
	cancel, wait := startRun(h)
	waitStarted(t, h, s)
	r := h.ingest(message("recorded@example.org"))
	h.api.WaitConversations(t, 1, 10*time.Second)
	cancel()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if !s.askedClaim("recorded@example.org") {
		t.Fatal("the message was not claimed at enqueue")
	}
	if m := h.get(r.QueueID); m.State != store.Delivered {
		t.Errorf("after Run returned the message is %s, want delivered", m.State)
	}
}

// Mail queued for a claim keeps its turn: while it waits in the queue, a
// newer mail is queued too rather than claimed at enqueue, which would
// overtake it (a reply delivered before the mail it answers finds no
// ticket to join). Once a claim finds the queue drained, new mail is
// claimed at enqueue again.
func TestQueuedMailIsNotOvertaken(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 1
	h, s, gate := newGatedHandoffHarness(t, cfg)
	runHarness(t, h)
	waitStarted(t, h, s)
	h.ingest(message("first@example.org"))
	<-gate.entered // the one worker is busy with it
	places := cap(h.p.handed)
	for i := range places {
		h.ingest(message(fmt.Sprintf("handed%d@example.org", i)))
	}
	const waiting = "waiting@example.org"
	h.ingest(message(waiting)) // no place left: queued for a claim
	if s.askedClaim(waiting) {
		t.Fatalf("%s was claimed at enqueue with all %d places taken", waiting, places)
	}
	gate.open <- struct{}{} // the worker finishes the first and takes the next
	<-gate.entered
	if len(h.p.handed) != places-1 {
		t.Fatalf("%d claims wait in memory, want %d", len(h.p.handed), places-1)
	}
	const late = "late@example.org"
	h.ingest(message(late)) // a place is free, but waiting is still queued
	if s.askedClaim(late) {
		t.Errorf("%s was claimed at enqueue while %s waited in the queue", late, waiting)
	}
	close(gate.open)
	stored := h.api.WaitConversations(t, places+3, 10*time.Second)
	at := map[string]int{}
	for i, c := range stored {
		at[c.Payload.ExternalConversationID] = i
	}
	if at[late] < at[waiting] {
		t.Errorf("%s stored before %s, which was queued first (positions %d, %d)", late, waiting, at[late], at[waiting])
	}
	testenv.WaitFor(t, 10*time.Second, "a claim to find the queue drained", func() bool {
		return h.p.drainedSeq.Load() >= h.p.queuedSeq.Load()
	})
	const after = "after@example.org"
	h.ingest(message(after))
	if !s.askedClaim(after) {
		t.Errorf("%s was not claimed at enqueue with the queue drained", after)
	}
	h.api.WaitConversations(t, places+4, 10*time.Second)
	waitHandedTaken(t, h)
}

// Claims made at enqueue that no worker took when the workers stop go
// back to the queue, uncounted, instead of waiting for their lease.
func TestShutdownReturnsHandedClaims(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 1
	h, s, gate := newGatedHandoffHarness(t, cfg)
	cancel, wait := startRun(h)
	waitStarted(t, h, s)
	h.ingest(message("first@example.org"))
	<-gate.entered // the one worker is busy with it
	var ids []int64
	for i := range 2 {
		id := fmt.Sprintf("handed%d@example.org", i)
		ids = append(ids, h.ingest(message(id)).QueueID)
		if !s.askedClaim(id) {
			t.Fatalf("%s was not claimed at enqueue", id)
		}
	}
	cancel()
	close(gate.open)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		m := h.get(id)
		if m.State != store.Queued || m.Attempts != 0 {
			t.Errorf("message %d after the shutdown: %s after %d attempts, want queued after 0", id, m.State, m.Attempts)
		}
	}
	if n, b := h.p.handedCount.Load(), h.p.handedBytes.Load(); n != 0 || b != 0 {
		t.Errorf("%d places, %d bytes still reserved after the shutdown", n, b)
	}
}

// startRun runs h's pipeline on the real clock until cancel; wait returns
// what Run returned.
func startRun(h *harness) (cancel context.CancelFunc, wait func() error) {
	h.p.now = time.Now
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.p.Run(ctx) }()
	return cancel, func() error { return <-done }
}
