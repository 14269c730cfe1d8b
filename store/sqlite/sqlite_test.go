package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/storetest"
)

func TestStore(t *testing.T) {
	dir := t.TempDir()
	open := func(t *testing.T, name string) store.Store {
		return openTest(t, filepath.Join(dir, name+".db"))
	}
	storetest.Run(t, open)
	storetest.RunCheckpoints(t, open)
	storetest.RunOAuthTokens(t, open)
}

// openTest opens the store at path; the caller closes it.
func openTest(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func pragma(t *testing.T, db queryer, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

// The durability promise rests on these: a commit is fsynced (synchronous
// FULL = 2) to a write-ahead log.
func TestPragmas(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	for _, tt := range []struct {
		db         queryer
		pool, name string
		want       string
	}{
		{s.c.conn, "writer", "synchronous", "2"},
		{s.c.conn, "writer", "journal_mode", "wal"},
		{s.c.conn, "writer", "foreign_keys", "1"},
		{s.c.conn, "writer", "busy_timeout", "10000"},
		{s.c.conn, "writer", "query_only", "0"},
		{s.r, "reader", "journal_mode", "wal"},
		{s.r, "reader", "busy_timeout", "10000"},
		{s.r, "reader", "query_only", "1"},
	} {
		if got := pragma(t, tt.db, tt.name); got != tt.want {
			t.Errorf("%s: PRAGMA %s = %s, want %s", tt.pool, tt.name, got, tt.want)
		}
	}
}

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s := openTest(t, path)
	want := strconv.Itoa(len(migrations))
	if got := pragma(t, s.c.conn, "user_version"); got != want {
		t.Fatalf("user_version = %s, want %s", got, want)
	}
	if _, err := s.Enqueue(t.Context(), store.NewMessage{ExternalID: "a", Raw: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Opening an up-to-date database again keeps its data.
	s = openTest(t, path)
	if _, _, err := s.Get(t.Context(), 1); err != nil {
		t.Fatalf("after reopening: %v", err)
	}
	// As if a later mailbridge had migrated it.
	if _, err := s.c.conn.ExecContext(t.Context(), "PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	_, err := Open(t.Context(), path)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema: %v, want an error", err)
	}
}

// Open creates the directory, private to the daemon's user, and takes the
// path literally even where URI syntax would read it otherwise.
func TestOpenPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool dir?x=1#frag", "100%")
	path := filepath.Join(dir, "queue.db")
	s := openTest(t, path)
	defer s.Close()
	if _, err := s.Enqueue(t.Context(), store.NewMessage{ExternalID: "a", Raw: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("directory mode %v, want 0700", perm)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the path given: %v", err)
	}
}

// Claiming must not get slower as the queue backs up: the plan walks the
// pending index in order instead of sorting the due messages.
func TestClaimPlan(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	got := queryPlan(t, s, dueQuery, sql.Named("now", 0), sql.Named("limit", 1))
	if !strings.Contains(got, "USING INDEX message_pending") || strings.Contains(got, "TEMP B-TREE") {
		t.Fatalf("claim query plan: %s", got)
	}
}

// queryPlan is SQLite's plan for query, its steps joined by "; ".
func queryPlan(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}

func TestClose(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Enqueue(t.Context(), store.NewMessage{ExternalID: "a", Raw: []byte("x")}); !errors.Is(err, errClosed) {
		t.Errorf("Enqueue after Close: %v, want %v", err, errClosed)
	}
}

// Processes opening a new database at once (the CLI beside a daemon
// starting) all get it: switching the file to WAL is retried while locked.
// Without the retry about one round in a hundred failed with SQLITE_BUSY.
func TestConcurrentOpenOfNewFile(t *testing.T) {
	for round := range 100 {
		path := filepath.Join(t.TempDir(), "queue"+strconv.Itoa(round)+".db")
		errs := make(chan error, 3)
		for range 3 {
			go func() {
				s, err := Open(context.Background(), path)
				if err == nil {
					err = s.Close()
				}
				errs <- err
			}()
		}
		for range 3 {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}

// A queue from before content digests: its messages, which have none,
// stay duplicates' records by key alone once the schema is migrated.
func TestMigrateRowsWithoutDigest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	const before = 3 // the version without digests
	for _, q := range append(migrations[:before:before],
		"PRAGMA user_version = 3",
		`INSERT INTO message (subchannel_id, external_id, message_id, subject, from_addr, state, size,
			received_at, created_at, updated_at, next_attempt_at)
		VALUES (1, 'old@example.com', '<old@example.com>', 's', 'f', 'delivered', 1, 1, 1, 1, 1)`,
		`INSERT INTO message_raw (id, raw) VALUES (1, x'78')`,
	) {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s := openTest(t, path)
	defer s.Close()
	for _, d := range []string{"one", "two"} {
		res, err := s.Enqueue(t.Context(), store.NewMessage{SubchannelID: 1, ExternalID: "old@example.com",
			Raw: []byte(d), Digest: []byte(d)})
		want := store.EnqueueResult{ID: 1, ExternalID: "old@example.com", Duplicate: true, State: store.Delivered}
		if err != nil || res != want {
			t.Fatalf("Enqueue with digest %s = %+v, %v; want %+v", d, res, err, want)
		}
	}
}

// A queued message of a version that kept a deleted ticket only in its
// last error gets it back as GoneTicketID.
func TestMigrateGoneTicketFromLastError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	const before = 4 // the version without gone_ticket_id
	insert := `INSERT INTO message (subchannel_id, external_id, message_id, subject, from_addr, state, size,
			received_at, created_at, updated_at, next_attempt_at, last_error)
		VALUES (1, '%s', '', 's', 'f', '%s', 1, 1, 1, 1, 1, '%s')`
	for _, q := range append(migrations[:before:before],
		"PRAGMA user_version = 4",
		fmt.Sprintf(insert, "gone@x", "queued", "ticket 4711 not found"),
		fmt.Sprintf(insert, "other@x", "queued", "ticket resolution: 503"),
		fmt.Sprintf(insert, "odd@x", "queued", "ticket 12ab not found"),
		fmt.Sprintf(insert, "done@x", "delivered", "ticket 5 not found"),
		`INSERT INTO message_raw (id, raw) VALUES (1, x'78'), (2, x'78'), (3, x'78'), (4, x'78')`,
	) {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s := openTest(t, path)
	defer s.Close()
	for id, want := range map[int64]int64{1: 4711, 2: 0, 3: 0, 4: 0} {
		m, _, err := s.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if m.GoneTicketID != want {
			t.Errorf("message %d (%q): GoneTicketID %d, want %d", id, m.LastError, m.GoneTicketID, want)
		}
	}
}
