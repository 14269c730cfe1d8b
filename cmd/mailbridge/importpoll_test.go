package main

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

func TestNextPendingPoll(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		wait    time.Duration
		drained int
		elapsed time.Duration
		left    int
		want    time.Duration
	}{
		{100 * ms, 0, 100 * ms, 500, 200 * ms},             // not draining: back off
		{1500 * ms, -20, 1500 * ms, 500, 2000 * ms},        // growing: back off, up to the most
		{100 * ms, 100, 100 * ms, 1000, 500 * ms},          // 1 s to go: half of it
		{100 * ms, 1000, 100 * ms, 10, 100 * ms},           // about to: at least the least
		{500 * ms, 10, 1000 * ms, 10000, 2000 * ms},        // slow: at most the most
		{2000 * ms, 300, 2000 * ms, 300, 1000 * ms},        // 2 s to go
		{0, 0, 0, 1, 100 * ms},                             // nothing known
		{100 * ms, 50, 0, 1, 200 * ms},                     // no time passed
		{100 * ms, 1 << 30, time.Hour, 1 << 30, 2000 * ms}, // no overflow
	} {
		if got := nextPendingPoll(tc.wait, tc.drained, tc.elapsed, tc.left); got != tc.want {
			t.Errorf("nextPendingPoll(%v, %d, %v, %d) = %v, want %v", tc.wait, tc.drained, tc.elapsed, tc.left, got, tc.want)
		}
	}
}

// drainingQueue is a queue whose pending messages drain at a steady rate
// from the first count on.
type drainingQueue struct {
	mu     sync.Mutex
	start  time.Time
	from   int
	perSec float64
	counts []int
	err    error
}

func (q *drainingQueue) Stats(context.Context) (store.Stats, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return store.Stats{}, q.err
	}
	if q.start.IsZero() {
		q.start = time.Now()
	}
	n := max(0, q.from-int(time.Since(q.start).Seconds()*q.perSec))
	q.counts = append(q.counts, n)
	st := store.Stats{Counts: map[store.State]int{store.Queued: n / 2, store.Inflight: n - n/2, store.Delivered: 1 << 20}}
	return st, nil
}

func TestWaitPendingCountsAtTheDrainsPace(t *testing.T) {
	// 3,000 pending draining at 2,000/s reach the mark of 500 after 1.25 s:
	// counting every 100 ms would take 13 counts.
	q := &drainingQueue{from: 3000, perSec: 2000}
	if err := waitPending(context.Background(), q, 500); err != nil {
		t.Fatal(err)
	}
	last := q.counts[len(q.counts)-1]
	if last >= 500 || len(q.counts) > 9 {
		t.Errorf("returned at %d pending after %d counts %v; want below 500 in at most 9", last, len(q.counts), q.counts)
	}

	// Below the mark at once: one count.
	q = &drainingQueue{from: 10, perSec: 0}
	if err := waitPending(context.Background(), q, 500); err != nil || len(q.counts) != 1 {
		t.Errorf("%v after %d counts", err, len(q.counts))
	}

	// A queue that does not drain: counted less and less often until the
	// context ends.
	q = &drainingQueue{from: 1000, perSec: 0}
	ctx, cancel := context.WithTimeout(context.Background(), 1600*time.Millisecond)
	defer cancel()
	if err := waitPending(ctx, q, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stuck queue: %v", err)
	}
	if len(q.counts) > 5 {
		t.Errorf("%d counts of a stuck queue in 1.6 s; want at most 5 (at 0, 0.1, 0.3, 0.7, 1.5 s)", len(q.counts))
	}

	q = &drainingQueue{err: errors.New("database is locked")}
	if err := waitPending(context.Background(), q, 1); err == nil || err.Error() != "store: database is locked" {
		t.Errorf("store error: %v", err)
	}
}
