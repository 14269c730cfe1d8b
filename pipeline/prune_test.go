package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"
)

// A prune round removes the raw bytes of all mail delivered before its
// cut-off, batch after batch; a copy of a pruned mail arriving later is
// still a duplicate and is not posted again.
func TestPruneRound(t *testing.T) {
	h := newHarness(t)
	const n = 2*pruneBatch + 7
	var ids []int64
	for i := range n {
		ids = append(ids, h.ingest(message(fmt.Sprintf("prune-%d@example.org", i))).QueueID)
	}
	if got := h.drain(); got != n {
		t.Fatalf("delivered %d, want %d", got, n)
	}
	ctx := context.Background()
	if got := h.p.pruneRound(ctx, time.Now().Add(time.Second)); got != n {
		t.Fatalf("pruned %d, want %d", got, n)
	}
	if got := h.p.pruneRound(ctx, time.Now().Add(time.Second)); got != 0 {
		t.Fatalf("second round pruned %d, want 0", got)
	}
	for _, id := range ids {
		if _, raw, err := h.store.Get(ctx, id); err != nil || len(raw) != 0 {
			t.Fatalf("message %d: %d raw bytes, %v; want none", id, len(raw), err)
		}
	}
	if r := h.ingest(message("prune-3@example.org")); !r.Duplicate || r.QueueID != ids[3] {
		t.Errorf("copy of a pruned mail: %+v, want a duplicate of %d", r, ids[3])
	}
	h.drain()
	if c := h.api.CountByExternalID("prune-3@example.org"); c != 1 {
		t.Errorf("pruned mail posted %d times, want 1", c)
	}
}

// Run prunes with Config.KeepDelivered set, and not without it.
func TestRunPrunes(t *testing.T) {
	for _, keep := range []time.Duration{0, time.Millisecond} {
		t.Run(fmt.Sprint(keep), func(t *testing.T) {
			cfg := testConfig()
			cfg.KeepDelivered = keep
			h := newHarnessConfig(t, cfg)
			id := h.ingest(message("run-prune@example.org")).QueueID
			h.drain()
			time.Sleep(5 * time.Millisecond) // past KeepDelivered, to the millisecond
			cancel, wait := startRun(h)
			rawLen := func() int {
				_, raw, err := h.store.Get(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				return len(raw)
			}
			// A mail delivered by Run: the pruning, when there is one, has
			// had its start.
			h.ingest(message("run-second@example.org"))
			testenv.WaitFor(t, 10*time.Second, "the second mail delivered", func() bool {
				return h.api.CountByExternalID("run-second@example.org") == 1
			})
			if keep > 0 {
				testenv.WaitFor(t, 10*time.Second, "the delivered mail's raw bytes removed", func() bool { return rawLen() == 0 })
			}
			cancel()
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			if keep == 0 && rawLen() == 0 {
				t.Error("raw bytes removed with KeepDelivered 0")
			}
		})
	}
}
