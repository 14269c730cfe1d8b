package sqlite

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// Prune removes a pruned message's spool file once the deletion of its row
// committed, and leaves the files of the mail it keeps.
func TestPruneRemovesSpoolFiles(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	ctx := t.Context()
	delivered := enqueueOK(t, s, spoolMessage("delivered", spoolAbove+1))
	c, err := s.Claim(ctx, time.Now(), time.Minute, 1)
	if err != nil || len(c) != 1 || c[0].ID != delivered {
		t.Fatalf("Claim = %v, %v", c, err)
	}
	if err := s.Complete(ctx, delivered, c[0].Attempt, store.Outcome{TicketID: 1}); err != nil {
		t.Fatal(err)
	}
	gone := rowFile(t, s, delivered)
	kept := rowFile(t, s, enqueueOK(t, s, spoolMessage("queued", spoolAbove+1)))

	n, err := s.Prune(ctx, time.Now().Add(time.Second), 10)
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	if files := spoolFiles(t, s); !slices.Equal(files, []string{kept}) {
		t.Errorf("spool files after Prune: %v, want only %s (not %s)", files, kept, gone)
	}
	m, raw, err := s.Get(ctx, delivered)
	if err != nil || m.State != store.Delivered || len(raw) != 0 {
		t.Errorf("Get(pruned) = %s, %d raw bytes, %v; want delivered, none", m.State, len(raw), err)
	}
}

// Pruning must not get slower with the queue's history: the plan walks the
// rows that still hold raw bytes, not every delivered message.
func TestPrunePlan(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	got := queryPlan(t, s, pruneQuery, 0, 1)
	if !strings.HasPrefix(got, "SCAN message_raw") || strings.Contains(got, "message_state") {
		t.Fatalf("prune query plan: %s", got)
	}
}
