package pipeline

import (
	"fmt"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testapi"
)

func TestNextBatch(t *testing.T) {
	fast, slow := fastClaim/10, 2*fastClaim
	for _, c := range []struct {
		name           string
		limit, n, size int
		elapsed        time.Duration
		want           int
	}{
		{"fast full claims double", 1, 1, 10 << 10, fast, 2},
		{"up to the fast bound", 8, 8, 80 << 10, fast, maxFastClaimBatch},
		{"not past it", maxFastClaimBatch, maxFastClaimBatch, 160 << 10, fast, maxFastClaimBatch},
		{"a slow full claim stops at the bound", 2, 2, 20 << 10, slow, maxClaimBatch},
		{"and falls back to it", maxFastClaimBatch, maxFastClaimBatch, 160 << 10, slow, maxClaimBatch},
		{"a short claim: the queue is drained", 4, 3, 30 << 10, fast, 1},
		{"a large claim", 4, 4, largeClaim + 1, fast, 1},
	} {
		if got := nextBatch(c.limit, c.n, c.size, c.elapsed); got != c.want {
			t.Errorf("%s: nextBatch(%d, %d, %d, %s) = %d, want %d", c.name, c.limit, c.n, c.size, c.elapsed, got, c.want)
		}
	}
}

// A backlog is claimed many at a time while the API answers fast, and a
// few at a time while it is slow, so that mail does not wait in one worker
// for calls that others could make.
func TestClaimBatchFollowsTheAPIsPace(t *testing.T) {
	for _, c := range []struct {
		name  string
		delay time.Duration
		mails int
		most  int
	}{
		// A race detector's slower run may keep a claim of 16 from
		// being fast: one past the slow bound is the point.
		{"fast API", 0, 40, 2 * maxClaimBatch},
		{"slow API", 2 * fastClaim / 3, 10, maxClaimBatch},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Workers = 1
			h, s := newHandoffHarness(t, cfg, testapi.Options{})
			if c.delay > 0 {
				h.api.Inject(testapi.Fault{Path: "conversation/store", Delay: c.delay})
			}
			for i := range c.mails { // queued before the workers start: a backlog
				h.ingest(message(fmt.Sprintf("backlog%d@example.org", i)))
			}
			runHarness(t, h)
			h.api.WaitConversations(t, c.mails, 30*time.Second)
			s.mu.Lock()
			most := s.most
			s.mu.Unlock()
			if c.delay > 0 && most != c.most || c.delay == 0 && most < c.most {
				t.Errorf("the largest claim took up to %d messages, want %d", most, c.most)
			}
		})
	}
}
