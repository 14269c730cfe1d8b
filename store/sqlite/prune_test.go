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
	delivered := deliverSpooled(t, s, "delivered")
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

// A Get that read a delivered message's row just before Prune removed it
// and its spool file returns the message without raw bytes, as a Get
// after the prune does, not a lost file.
func TestGetRacingPrune(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	ctx := t.Context()
	id := deliverSpooled(t, s, "delivered")
	m, _, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	file := rowFile(t, s, id) // what Get's row read found
	if n, err := s.Prune(ctx, time.Now().Add(time.Second), 10); n != 1 || err != nil {
		t.Fatalf("Prune = %d, %v", n, err)
	}
	if raw, err := s.spooledRaw(ctx, m, file); err != nil || len(raw) != 0 {
		t.Errorf("spool read of a message pruned meanwhile: %d bytes, %v; want none, no error", len(raw), err)
	}
}

// deliverSpooled queues a message kept in a spool file under key, claims
// and delivers it, and returns its id.
func deliverSpooled(t *testing.T, s *Store, key string) int64 {
	t.Helper()
	id := enqueueOK(t, s, spoolMessage(key, spoolAbove+1))
	c, err := s.Claim(t.Context(), time.Now(), time.Minute, 1)
	if err != nil || len(c) != 1 || c[0].ID != id {
		t.Fatalf("Claim = %v, %v", c, err)
	}
	if err := s.Complete(t.Context(), id, c[0].Attempt, store.Outcome{TicketID: 1}); err != nil {
		t.Fatal(err)
	}
	return id
}
