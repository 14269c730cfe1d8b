package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/store"
)

func newTestLimit(workers int) (*apiLimit, *clock) {
	c := &clock{now: time.Unix(1_700_000_000, 0)}
	return newAPILimit(workers, c.Now, slog.New(slog.DiscardHandler)), c
}

// blocked reports whether acquire would wait: it is given a context that
// has ended, so a free slot is taken and a wait fails at once.
func blocked(t *testing.T, l *apiLimit) bool {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := l.acquire(ctx)
	if err != nil && !errors.Is(err, errThrottled) {
		t.Fatalf("acquire = %v, want errThrottled", err)
	}
	return err != nil
}

func fill(t *testing.T, l *apiLimit, n int) {
	t.Helper()
	for i := range n {
		if blocked(t, l) {
			t.Fatalf("call %d of %d waits", i+1, n)
		}
	}
}

var tooMany = &api.Error{Status: http.StatusTooManyRequests, Class: api.Retryable}

func TestAPILimitDropsToTheCallsTheAPITookOn429(t *testing.T) {
	l, c := newTestLimit(32)
	fill(t, l, initialAPILimit)
	if !blocked(t, l) {
		t.Fatalf("call %d passed a limit of %d", initialAPILimit+1, initialAPILimit)
	}
	start := c.Now()
	c.Add(time.Millisecond)
	// The API took 12 of 16 calls: four 429s leave the limit at 12, and
	// the slots they freed are not taken again.
	for range 4 {
		l.release(start, tooMany)
	}
	if got := l.current(); got != 12 {
		t.Fatalf("limit after four 429s of 16 calls = %d, want 12", got)
	}
	if !blocked(t, l) {
		t.Fatal("a call took the slot of a 429 while the API held its limit")
	}
	// An answer frees a slot at the API: one call may go.
	l.release(start, nil)
	if blocked(t, l) {
		t.Fatal("no call after an answer freed a slot")
	}
	if !blocked(t, l) {
		t.Fatal("two calls for one answer")
	}
	// The limit never rises on a 429.
	l.limit = 5
	l.release(start, tooMany)
	if got := l.current(); got != 5 {
		t.Fatalf("limit after a 429 with %d calls under way = %d, want 5", l.inflight, got)
	}
}

func TestAPILimitHonoursRetryAfterOfAnAPIThatRefusesAll(t *testing.T) {
	retryAfter := &api.Error{Status: http.StatusTooManyRequests, RetryAfter: 2 * time.Second}
	// 429s between successes: the API's limit of calls at a time, which
	// the cut answers; calls go on.
	l, c := newTestLimit(4)
	fill(t, l, 2)
	l.release(c.Now(), retryAfter)
	l.release(c.Now(), nil)
	if blocked(t, l) {
		t.Fatal("a call waits for a Retry-After between successes")
	}

	// One 429 of a small pool holds no other call.
	l, c = newTestLimit(2)
	fill(t, l, 1)
	l.release(c.Now(), retryAfter)
	if blocked(t, l) {
		t.Fatal("one 429 held the other calls")
	}
	l.release(c.Now(), nil)

	// A limit's worth of 429s in a row: the API wants no call at all.
	l, c = newTestLimit(4)
	fill(t, l, 4)
	for range 4 {
		l.release(c.Now(), retryAfter)
	}
	if !blocked(t, l) {
		t.Fatal("a call passed during the API's Retry-After")
	}
	c.Add(2 * time.Second)
	if blocked(t, l) {
		t.Fatal("a call waits after the Retry-After")
	}
}

func TestAPILimitGrowsWhileFilledAndNotBeyondWorkers(t *testing.T) {
	l, c := newTestLimit(18)
	fill(t, l, initialAPILimit)
	// Each answer frees a slot that the next call takes at once: the
	// calls fill the limit, which grows by one per limit's worth.
	for range 200 {
		start := c.Now()
		c.Add(10 * time.Millisecond)
		l.release(start, nil)
		fill(t, l, l.current()-l.inflight)
	}
	if got := l.current(); got != 18 {
		t.Fatalf("limit = %d, want delivery.workers 18", got)
	}

	// Calls that do not fill the limit say nothing of the API's room.
	l, c = newTestLimit(32)
	for range 200 {
		fill(t, l, 1)
		start := c.Now()
		c.Add(10 * time.Millisecond)
		l.release(start, nil)
	}
	if got := l.current(); got != initialAPILimit {
		t.Fatalf("limit after calls one at a time = %d, want %d", got, initialAPILimit)
	}
}

func TestAPILimitShrinksWhenLatencyRises(t *testing.T) {
	l, c := newTestLimit(16)
	answer := func(took time.Duration) {
		fill(t, l, 1)
		start := c.Now()
		c.Add(took)
		l.release(start, nil)
	}
	for range 100 {
		answer(100 * time.Millisecond)
	}
	// Jitter below the slack is no rise.
	for range 10 {
		answer(140 * time.Millisecond)
	}
	if got := l.current(); got != 16 {
		t.Fatalf("limit after jitter = %d, want 16", got)
	}
	for range 10 {
		answer(time.Second)
	}
	if got := l.current(); got >= 16 {
		t.Fatalf("limit after answers ten times slower = %d, want below 16", got)
	}
	// An API that stays slow becomes the usual: the limit stops shrinking.
	for range 300 {
		answer(time.Second)
	}
	low := l.current()
	for range 100 {
		answer(time.Second)
	}
	if got := l.current(); got < low {
		t.Fatalf("limit kept shrinking at a steady latency: %d, then %d", low, got)
	}
}

func TestAPILimitIgnoresCallsWithoutAnswer(t *testing.T) {
	l, c := newTestLimit(16)
	for range 50 {
		fill(t, l, 1)
		start := c.Now()
		c.Add(30 * time.Second)
		l.release(start, &api.Error{Status: 0, Unanswered: true, Err: context.DeadlineExceeded})
	}
	if got := l.current(); got != 16 {
		t.Fatalf("limit after timeouts = %d, want 16", got)
	}
}

// 429s never use up a message's attempts: however many, the message is
// postponed and delivered once the API takes it.
func TestTooManyRequestsNeverDeadLetters(t *testing.T) {
	h := newHarness(t)
	rounds := 3 * testConfig().MaxAttempts
	h.api.Inject(testapi.Fault{Path: "conversation/store", Status: http.StatusTooManyRequests, Times: rounds})
	r := h.ingest(message("paced@example.org"))
	for i := range rounds {
		h.drain()
		m := h.get(r.QueueID)
		if m.State != store.Queued || m.Attempts != 0 || !strings.Contains(m.LastError, "429") {
			t.Fatalf("after 429 number %d: %+v, want queued with no attempt counted", i+1, m)
		}
		h.clock.Add(2 * time.Minute)
	}
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Delivered || m.Attempts != 1 {
		t.Fatalf("after the API took it: %+v", m)
	}
	if n := h.api.CountByExternalID("paced@example.org"); n != 1 {
		t.Errorf("stored %d times, want 1", n)
	}
}

// A 429 postpones the message for the API's Retry-After, not the
// backoff.
func TestTooManyRequestsWaitsForRetryAfter(t *testing.T) {
	h := newHarness(t)
	h.api.Inject(testapi.Fault{Path: "conversation/store", Status: http.StatusTooManyRequests, RetryAfter: "7", Times: 1})
	r := h.ingest(message("after@example.org"))
	h.drain()
	m := h.get(r.QueueID)
	if wait := m.NextAttemptAt.Sub(h.clock.Now()); m.State != store.Queued || m.Attempts != 0 || wait != 7*time.Second {
		t.Fatalf("after a 429 with Retry-After 7: %+v, due in %s", m, wait)
	}
	h.clock.Add(7 * time.Second)
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Delivered {
		t.Fatalf("after the Retry-After: %+v", m)
	}
}

// Until its first cut the limit grows by one per answer (doubling each
// round trip); after it, by one per limit's worth.
func TestAPILimitSlowStartEndsAtTheFirstCut(t *testing.T) {
	l, c := newTestLimit(64)
	fill(t, l, initialAPILimit)
	answer := func(err error) {
		start := c.Now()
		c.Add(10 * time.Millisecond)
		l.release(start, err)
		fill(t, l, l.current()-l.inflight)
	}
	for range 8 {
		answer(nil)
	}
	if got := l.current(); got != 24 {
		t.Fatalf("limit after 8 answers from 16 = %d, want 24", got)
	}
	answer(tooMany) // 23 calls still under way: the limit drops to 23
	for range 30 {
		answer(nil)
	}
	if got := l.current(); got != 24 {
		t.Fatalf("limit after 30 answers from 23 = %d, want 24", got)
	}
}

// simulateAPI runs workers that call, one call after another, an API
// that takes latency per call and answers 429 (Retry-After: 1 s) at once
// to calls beyond its limit at a time, for rounds of its latency on a fake
// clock. It returns the calls answered as a share of the API's capacity
// (limit calls per mean latency) and the 429s.
func simulateAPI(t *testing.T, workers, limit int, latency time.Duration, rounds int) (share float64, refused int) {
	t.Helper()
	l, c := newTestLimit(workers)
	begin := c.Now()
	end := begin.Add(time.Duration(rounds) * latency)
	type call struct {
		start, done time.Time
		ok          bool
	}
	var calls []call
	served, answered := 0, 0
	retryAfter := &api.Error{Status: http.StatusTooManyRequests, RetryAfter: time.Second}
	jitter := rand.New(rand.NewPCG(1, 2))
	for c.Now().Before(end) {
		// Answers due now free their slots.
		kept := calls[:0]
		for _, k := range calls {
			if k.done.After(c.Now()) {
				kept = append(kept, k)
				continue
			}
			if k.ok {
				served--
				answered++
				l.release(k.start, nil)
			} else {
				refused++
				l.release(k.start, retryAfter)
			}
		}
		calls = kept
		// Idle workers call, as far as the limit lets them: each has a
		// backlog, so a 429's Retry-After holds one mail, not the worker.
		for len(calls) < workers && !blocked(t, l) {
			k := call{start: c.Now(), done: c.Now().Add(time.Millisecond)}
			if served < limit {
				served++
				// Up to a tenth more than latency, so that answers
				// do not all come at one instant.
				k.ok, k.done = true, c.Now().Add(latency+time.Duration(jitter.Int64N(int64(latency/10))))
			}
			calls = append(calls, k)
		}
		next := end
		for _, k := range calls {
			if k.done.Before(next) {
				next = k.done
			}
		}
		if l.pausedUntil.After(c.Now()) && l.pausedUntil.Before(next) {
			next = l.pausedUntil
		}
		c.Add(max(next.Sub(c.Now()), time.Millisecond))
	}
	capacity := float64(limit) * float64(end.Sub(begin)) / float64(latency+latency/20)
	return float64(answered) / capacity, refused
}

func TestAPILimitDeliversTheAPIsCapacity(t *testing.T) {
	for _, tc := range []struct {
		workers, limit int
		latency        time.Duration
	}{
		{8, 4, 20 * time.Millisecond},
		{64, 24, 100 * time.Millisecond},
		{64, 24, 500 * time.Millisecond},
		{64, 24, 3 * time.Second},
		{32, 24, 100 * time.Millisecond},
	} {
		const rounds = 200
		share, refused := simulateAPI(t, tc.workers, tc.limit, tc.latency, rounds)
		t.Logf("workers %d, API limit %d, latency %v: %.1f%% of capacity, %d 429s", tc.workers, tc.limit, tc.latency, 100*share, refused)
		if share < 0.9 {
			t.Errorf("workers %d, API limit %d, latency %v: %.1f%% of the API's capacity, want ≥ 90%%", tc.workers, tc.limit, tc.latency, 100*share)
		}
		// Beyond the overload that ends the slow start, a probe past the
		// API's limit at most once per Retry-After (1 s) or round trip.
		if probes := min(rounds, int(time.Duration(rounds)*tc.latency/time.Second)); refused > tc.workers+probes {
			t.Errorf("workers %d, API limit %d, latency %v: %d 429s in %d round trips", tc.workers, tc.limit, tc.latency, refused, rounds)
		}
	}
}
