package sqlite

import (
	"database/sql"
	"fmt"
	"os"
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

// A spool file Prune cannot remove is reported, with the message counted
// as pruned: its row is gone, its raw bytes with it, and the next start's
// sweep removes the file. The other messages of the batch are pruned.
func TestPruneReportsLeftFile(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	ctx := t.Context()
	stuck := deliverSpooled(t, s, "stuck")
	other := deliverSpooled(t, s, "other")
	// A directory that is not empty cannot be removed, even by root.
	path := s.spool.path(rowFile(t, s, stuck))
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
		t.Fatal(err)
	}

	n, err := s.Prune(ctx, time.Now().Add(time.Second), 10)
	if n != 2 || err == nil || !strings.Contains(err.Error(), "1 of their spool files are left") {
		t.Fatalf("Prune = %d, %v; want 2 and an error naming the file left", n, err)
	}
	for _, id := range []int64{stuck, other} {
		if _, raw, err := s.Get(ctx, id); err != nil || len(raw) != 0 {
			t.Errorf("Get(%d) after Prune: %d raw bytes, %v; want none", id, len(raw), err)
		}
	}
	if files := spoolFiles(t, s); len(files) != 1 {
		t.Errorf("spool entries after Prune: %v, want only the one left", files)
	}
}

// Pruning must not get slower with the queue's history, nor with the mail
// kept for store.keepDelivered or parked: the plan walks message_prunable
// up to the cut-off, in order, and reads no raw bytes.
func TestPrunePlan(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	got := queryPlan(t, s, pruneQuery, 0, 1)
	if got != "SEARCH message USING COVERING INDEX message_prunable (delivered_at<?)" {
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

// A database of the version before message_prunable keeps the raw bytes
// of all its delivered mail; once migrated, Prune removes those of the
// mail delivered before its cut-off and of no other.
func TestPruneMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	const before = 11 // the version without message_prunable
	now := time.Now()
	queries := append(migrations[:before:before], fmt.Sprintf("PRAGMA user_version = %d", before))
	for i, m := range []struct {
		state       string
		deliveredAt time.Time
	}{{"delivered", now.Add(-30 * 24 * time.Hour)}, {"delivered", now}, {"dead", time.Time{}}} {
		queries = append(queries, fmt.Sprintf(`INSERT INTO message (id, subchannel_id, external_id, message_id, subject, from_addr,
				state, size, received_at, created_at, updated_at, next_attempt_at, delivered_at)
			VALUES (%[1]d, 1, 'm%[1]d', '', '', '', '%[2]s', 1, 0, 0, 0, 0, %[3]d);
			INSERT INTO message_raw (id, raw) VALUES (%[1]d, x'78')`, i+1, m.state, unixMilli(m.deliveredAt)))
	}
	for _, q := range queries {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s := openTest(t, path)
	defer s.Close()
	if n, err := s.Prune(t.Context(), now.Add(-24*time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("Prune after the migration = %d, %v; want 1", n, err)
	}
	for id := int64(1); id <= 3; id++ {
		_, raw, err := s.Get(t.Context(), id)
		if err != nil || (len(raw) == 0) != (id == 1) {
			t.Errorf("message %d after Prune: %d raw bytes, %v", id, len(raw), err)
		}
	}
}
