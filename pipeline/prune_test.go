package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/store"
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

// A worker that let its claim's raw bytes go (waiting for the budget) and
// reads them again, after its claim was taken over, delivered by the
// other claim and pruned, finds the message delivered and without raw
// bytes: it posts nothing, and logs no dead letter that is none.
func TestRereadAfterPrune(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.ingest(message("reread@example.org")).QueueID
	now := h.clock.Now()
	lost, err := h.store.Claim(ctx, now, time.Minute, 1)
	if err != nil || len(lost) != 1 || lost[0].ID != id {
		t.Fatalf("Claim = %v, %v", lost, err)
	}
	// The lease runs out; another claim delivers the message.
	other, err := h.store.Claim(ctx, now.Add(2*time.Minute), time.Minute, 1)
	if err != nil || len(other) != 1 {
		t.Fatalf("Claim after the lease = %v, %v", other, err)
	}
	if err := h.store.Complete(ctx, id, other[0].Attempt, store.Outcome{TicketID: 1, ConversationID: 2}); err != nil {
		t.Fatal(err)
	}
	if n, err := h.store.Prune(ctx, time.Now().Add(time.Second), 10); n != 1 || err != nil {
		t.Fatalf("Prune = %d, %v", n, err)
	}

	c := lost[0]
	c.Raw = nil // let go while waiting for the budget
	c.LeaseUntil = time.Now().Add(h.cfg.Lease)
	var reports records
	h.p.attempt(ctx, &c, &reports)
	reports.wg.Wait()
	if n := h.api.CountByExternalID("reread@example.org"); n != 0 {
		t.Errorf("the attempt whose message was delivered and pruned meanwhile posted %d times", n)
	}
	if logs := h.logs.String(); strings.Contains(logs, "dead letters") || !strings.Contains(logs, "claim lost") {
		t.Errorf("log of the lost attempt:\n%s", logs)
	}
	if m := h.get(id); m.State != store.Delivered || m.ConversationID != 2 {
		t.Errorf("message after the lost attempt: %s, conversation %d; want delivered, 2", m.State, m.ConversationID)
	}
}

// failingPrune is a store whose Prune fails while err is set.
type failingPrune struct {
	store.Store
	err error
}

func (s *failingPrune) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	return s.Store.Prune(ctx, before, limit)
}

// A pruner that keeps failing warns once, not every minute, and says when
// it works again; while the store is down, the claims' outage line says
// it all and pruning adds no warning of its own.
func TestPruneFailureLoggedOnce(t *testing.T) {
	h := newHarness(t)
	fs := &failingPrune{Store: h.p.store, err: errors.New("disk on fire")}
	h.p.store = fs
	ctx := context.Background()
	const warn = `level=WARN msg="removing the raw bytes of delivered mail failed`
	for range 3 {
		h.p.pruneRound(ctx, time.Now())
	}
	if got := strings.Count(h.logs.String(), warn); got != 1 {
		t.Fatalf("%d warnings over three failed rounds, want 1:\n%s", got, h.logs.String())
	}
	fs.err = nil
	h.p.pruneRound(ctx, time.Now())
	if !strings.Contains(h.logs.String(), "removing the raw bytes of delivered mail works again") {
		t.Errorf("no line for the pruning that works again:\n%s", h.logs.String())
	}

	// The store is down: the claims say so.
	h.p.storeDown.Store(true)
	fs.err = errors.New("connection refused")
	h.p.pruneRound(ctx, time.Now())
	if got := strings.Count(h.logs.String(), warn); got != 1 {
		t.Errorf("pruning warned while the store is down:\n%s", h.logs.String())
	}
}

// leavingFiles is a store whose Prune prunes n messages (a whole batch
// on its first full calls) and fails to remove their files while err is
// set, and finds nothing to prune while empty is set.
type leavingFiles struct {
	store.Store
	n     int
	err   error
	empty bool
	full  int // the first full calls prune a whole batch
	calls int
}

func (s *leavingFiles) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	if s.empty {
		return 0, nil
	}
	s.calls++
	if s.calls <= s.full {
		return limit, s.err
	}
	return s.n, s.err
}

// A batch that pruned its messages but left spool files does not end the
// round: the next batch's messages are others, whose files may go.
func TestPruneGoesOnPastLeftFiles(t *testing.T) {
	h := newHarness(t)
	fs := &leavingFiles{Store: h.p.store, n: 3, full: 2, err: errors.New("remove spool/x.eml: permission denied")}
	h.p.store = fs
	if got := h.p.pruneRound(context.Background(), time.Now()); got != 2*pruneBatch+3 || fs.calls != 3 {
		t.Errorf("round pruned %d in %d batches, want %d in 3", got, fs.calls, 2*pruneBatch+3)
	}
	if got := strings.Count(h.logs.String(), `level=WARN msg="removing the raw bytes of delivered mail failed`); got != 1 {
		t.Errorf("%d warnings, want 1:\n%s", got, h.logs.String())
	}
}

// A round with nothing to prune says nothing of the spool files a
// failing round could not remove: pruning does not "work again" by it,
// and the next round that fails to remove files adds no warning.
func TestPruneLeftFilesNotWorkingByEmptyRound(t *testing.T) {
	h := newHarness(t)
	fs := &leavingFiles{Store: h.p.store, n: 3, err: errors.New("remove spool/x.eml: permission denied")}
	h.p.store = fs
	ctx := context.Background()
	h.p.pruneRound(ctx, time.Now())
	fs.empty = true
	h.p.pruneRound(ctx, time.Now())
	fs.empty = false
	h.p.pruneRound(ctx, time.Now())
	logs := h.logs.String()
	if strings.Contains(logs, "works again") {
		t.Errorf("a round with nothing to prune said pruning works again:\n%s", logs)
	}
	if got := strings.Count(logs, `level=WARN msg="removing the raw bytes of delivered mail failed`); got != 1 {
		t.Errorf("%d warnings, want 1:\n%s", got, logs)
	}
	// A round that removes files does work again.
	fs.err = nil
	h.p.pruneRound(ctx, time.Now())
	if !strings.Contains(h.logs.String(), "works again") {
		t.Errorf("no line for the pruning that works again:\n%s", h.logs.String())
	}
}
