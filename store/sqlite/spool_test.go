package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// spoolMessage is a message of size raw bytes under key.
func spoolMessage(key string, size int) store.NewMessage {
	raw := make([]byte, size)
	for i := range raw {
		raw[i] = "abcdefghijklmnopqrstuvwxyz\r\n"[i%28]
	}
	return store.NewMessage{SubchannelID: 1, ExternalID: key, Digest: []byte(key), Raw: raw, ReceivedAt: time.Now()}
}

// spoolFiles lists the spool files in s's spool directory.
func spoolFiles(t *testing.T, s *Store) []string {
	t.Helper()
	entries, err := os.ReadDir(s.spool.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if isSpoolFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names
}

// rowFile is the spool file message id's row names, "" for none.
func rowFile(t *testing.T, s *Store, id int64) string {
	t.Helper()
	var f sql.NullString
	if err := s.r.QueryRowContext(t.Context(), `SELECT file FROM message_raw WHERE id = ?`, id).Scan(&f); err != nil {
		t.Fatal(err)
	}
	return f.String
}

func enqueueOK(t *testing.T, s *Store, m store.NewMessage) int64 {
	t.Helper()
	res, err := s.Enqueue(t.Context(), m)
	if err != nil || res.Duplicate {
		t.Fatalf("Enqueue(%s) = %+v, %v", m.ExternalID, res, err)
	}
	return res.ID
}

// Messages up to spoolAbove stay in the table; larger ones go to a file of
// the database's permissions, there when Enqueue returns, and come back
// byte for byte.
func TestSpoolThreshold(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	for _, tt := range []struct {
		size    int
		spooled bool
	}{
		{spoolAbove - 1, false},
		{spoolAbove, false},
		{spoolAbove + 1, true},
		{1 << 20, true},
	} {
		m := spoolMessage(fmt.Sprintf("size-%d", tt.size), tt.size)
		id := enqueueOK(t, s, m)
		file := rowFile(t, s, id)
		if (file != "") != tt.spooled {
			t.Fatalf("%d bytes: spool file %q, want spooled %v", tt.size, file, tt.spooled)
		}
		_, raw, err := s.Get(t.Context(), id)
		if err != nil || !bytes.Equal(raw, m.Raw) {
			t.Fatalf("%d bytes: Get returned %d bytes, %v", tt.size, len(raw), err)
		}
		if !tt.spooled {
			continue
		}
		fi, err := os.Stat(s.spool.path(file))
		if err != nil {
			t.Fatalf("%d bytes: %v", tt.size, err)
		}
		if fi.Size() != int64(tt.size) || fi.Mode().Perm() != 0o600 {
			t.Errorf("%d bytes: file of %d bytes, mode %v; want %d bytes, 0600", tt.size, fi.Size(), fi.Mode().Perm(), tt.size)
		}
	}
	if fi, err := os.Stat(s.spool.dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("spool directory: %v, %v; want mode 0700", fi.Mode().Perm(), err)
	}
	if n := len(spoolFiles(t, s)); n != 2 {
		t.Errorf("%d spool files, want 2", n)
	}
}

// When the committer syncs the spool directory, the file is complete on
// disk and its row not yet committed; one sync serves every spooled write
// of a transaction.
func TestSpoolSyncedBeforeCommit(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	m := spoolMessage("a", 2*spoolAbove)
	var syncs int
	var seen []string
	s.spool.syncDir = func() error {
		syncs++
		var rows int
		if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM message_raw`).Scan(&rows); err != nil {
			return err
		}
		for _, name := range spoolFiles(t, s) {
			b, err := os.ReadFile(s.spool.path(name))
			if err != nil || !bytes.Equal(b, m.Raw) {
				return fmt.Errorf("file %s at the directory sync: %d bytes, %v", name, len(b), err)
			}
			seen = append(seen, name)
		}
		if rows != 0 {
			return fmt.Errorf("%d rows committed before the directory sync", rows)
		}
		return s.spool.fsyncDir()
	}

	// Two spooled writes and a plain one in one transaction, as the
	// committer gathers them; the committer goroutine is idle.
	var files [2]string
	batch := make([]request, 3)
	for i := range 2 {
		name, err := s.spool.put(m.Raw)
		if err != nil {
			t.Fatal(err)
		}
		files[i] = name
		mi := m
		mi.ExternalID = fmt.Sprintf("spooled-%d", i)
		batch[i] = request{ctx: t.Context(), spooled: true, fn: func(tx wtx) error {
			_, err := enqueue(tx, mi, name)
			return err
		}}
	}
	batch[2] = request{ctx: t.Context(), fn: func(tx wtx) error {
		_, err := enqueue(tx, spoolMessage("small", 10), "")
		return err
	}}
	for i := range batch {
		batch[i].done = make(chan error, 1)
	}
	s.c.commit(batch)
	for _, req := range batch {
		if err := <-req.done; err != nil {
			t.Fatal(err)
		}
	}
	if syncs != 1 || len(seen) != 2 {
		t.Fatalf("%d directory syncs seeing %d files, want 1 seeing 2", syncs, len(seen))
	}
	slices.Sort(seen)
	want := files[:]
	slices.Sort(want)
	if !slices.Equal(seen, want) {
		t.Errorf("sync saw %v, want %v", seen, want)
	}

	// Through Enqueue: the sync comes before the row.
	syncs, seen = 0, nil
	if _, err := s.Enqueue(t.Context(), spoolMessage("b", 10)); err != nil || syncs != 0 {
		t.Fatalf("a small message: %v, %d directory syncs", err, syncs)
	}
	s.spool.syncDir = func() error {
		syncs++
		var rows int
		if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM message WHERE external_id = 'c'`).Scan(&rows); err != nil || rows != 0 {
			return fmt.Errorf("row committed before the directory sync (%d, %v)", rows, err)
		}
		return s.spool.fsyncDir()
	}
	c := m
	c.ExternalID = "c"
	if _, err := s.Enqueue(t.Context(), c); err != nil || syncs != 1 {
		t.Fatalf("Enqueue: %v, %d directory syncs", err, syncs)
	}
}

// A commit that fails after the file was written leaves no row and an
// orphan file, which the next owner of the database removes; the sweep
// leaves files of other names alone.
func TestSpoolFailedCommitSwept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s := openTest(t, path)
	keep := enqueueOK(t, s, spoolMessage("keep", 3*spoolAbove))
	s.spool.syncDir = func() error { return errors.New("injected: the directory sync failed") }
	if _, err := s.Enqueue(t.Context(), spoolMessage("lost", 3*spoolAbove)); err == nil {
		t.Fatal("Enqueue succeeded with the directory sync failing")
	}
	if msgs, err := s.List(t.Context(), store.Filter{}); err != nil || len(msgs) != 1 {
		t.Fatalf("List after the failed commit: %d messages, %v; want 1", len(msgs), err)
	}
	if n := len(spoolFiles(t, s)); n != 2 {
		t.Fatalf("%d spool files after the failed commit, want 2 (one orphan)", n)
	}
	other := filepath.Join(s.spool.dir, "README")
	if err := os.WriteFile(other, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openTest(t, path)
	defer s.Close()
	if _, err := s.Own(t.Context(), time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	if got, want := spoolFiles(t, s), []string{rowFile(t, s, keep)}; !slices.Equal(got, want) {
		t.Fatalf("spool files after the sweep: %v, want %v", got, want)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("the sweep removed a file of another name: %v", err)
	}
	if _, raw, err := s.Get(t.Context(), keep); err != nil || len(raw) != 3*spoolAbove {
		t.Errorf("Get after the sweep: %d bytes, %v", len(raw), err)
	}
}

// A deleted row's file is removed by the sweep, as is a file a crash left
// before its transaction committed.
func TestSpoolSweep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s := openTest(t, path)
	gone := enqueueOK(t, s, spoolMessage("gone", 2*spoolAbove))
	stays := enqueueOK(t, s, spoolMessage("stays", 2*spoolAbove))
	if _, err := s.c.conn.ExecContext(t.Context(), `DELETE FROM message WHERE id = ?`, gone); err != nil {
		t.Fatal(err)
	}
	crashed, err := s.spool.put(spoolMessage("crashed", 2*spoolAbove).Raw)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openTest(t, path)
	defer s.Close()
	var log bytes.Buffer
	s.SetLogger(slog.New(slog.NewTextHandler(&log, nil)))
	if _, err := s.Own(t.Context(), time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	if got, want := spoolFiles(t, s), []string{rowFile(t, s, stays)}; !slices.Equal(got, want) {
		t.Fatalf("spool files after the sweep: %v, want %v (the crashed one was %s)", got, want, crashed)
	}
	if !strings.Contains(log.String(), "files=2") {
		t.Errorf("the sweep's log does not count 2 files: %s", log.String())
	}
}

// While another process has the database open (it may be between writing
// a file and committing its row), the owner does not sweep; the next owner
// that has the database to itself does.
func TestSpoolSweepWaitsForOthers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	other := openTest(t, path) // the CLI's open store
	orphan, err := other.spool.put(spoolMessage("x", 2*spoolAbove).Raw)
	if err != nil {
		t.Fatal(err)
	}
	daemon := openTest(t, path)
	if _, err := daemon.Own(t.Context(), time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	if got := spoolFiles(t, daemon); !slices.Equal(got, []string{orphan}) {
		t.Fatalf("spool files with another process's store open: %v, want [%s]", got, orphan)
	}
	// The other store still writes: the sweep gave its lock back.
	id := enqueueOK(t, other, spoolMessage("y", 2*spoolAbove))
	other.Close()
	daemon.Close()

	s := openTest(t, path)
	defer s.Close()
	if _, err := s.Own(t.Context(), time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	if got, want := spoolFiles(t, s), []string{rowFile(t, s, id)}; !slices.Equal(got, want) {
		t.Fatalf("spool files after the sweep: %v, want %v", got, want)
	}
}

// Within the process, a sweep waits for the enqueues between their file
// and their commit.
func TestSpoolSweepSparesEnqueuesUnderWay(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	swept := make(chan error, 1)
	var once sync.Once
	s.spool.syncDir = func() error {
		// The file is written, its row not committed: a sweep now
		// must not take the file.
		once.Do(func() {
			go func() {
				_, _, err := s.sweep(t.Context())
				swept <- err
			}()
		})
		return s.spool.fsyncDir()
	}
	res, err := s.Enqueue(t.Context(), spoolMessage("a", 2*spoolAbove))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-swept; err != nil {
		t.Fatal(err)
	}
	if _, raw, err := s.Get(t.Context(), res.ID); err != nil || len(raw) != 2*spoolAbove {
		t.Fatalf("Get after a sweep during the enqueue: %d bytes, %v", len(raw), err)
	}
}

// A duplicate's file is removed at once.
func TestSpoolDuplicate(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	m := spoolMessage("a", 2*spoolAbove)
	id := enqueueOK(t, s, m)
	res, err := s.Enqueue(t.Context(), m)
	if err != nil || !res.Duplicate || res.ID != id {
		t.Fatalf("Enqueue again = %+v, %v", res, err)
	}
	if got, want := spoolFiles(t, s), []string{rowFile(t, s, id)}; !slices.Equal(got, want) {
		t.Fatalf("spool files: %v, want %v", got, want)
	}
}

// A spool file that is missing or cut short is an error naming the
// message and the file: Get fails, and Claim dead-letters the message,
// logging its ids, instead of handing out a mail without its bytes.
func TestSpoolLostFile(t *testing.T) {
	for _, tt := range []struct {
		name   string
		damage func(path string) error
		want   string
	}{
		{"missing", os.Remove, "is missing"},
		{"short", func(path string) error { return os.Truncate(path, spoolAbove) }, fmt.Sprintf("holds %d bytes, want %d", spoolAbove, 2*spoolAbove)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
			defer s.Close()
			var log bytes.Buffer
			s.SetLogger(slog.New(slog.NewTextHandler(&log, nil)))
			id := enqueueOK(t, s, spoolMessage("lost@example.com", 2*spoolAbove))
			other := enqueueOK(t, s, spoolMessage("fine@example.com", 2*spoolAbove))
			path := s.spool.path(rowFile(t, s, id))
			if err := tt.damage(path); err != nil {
				t.Fatal(err)
			}

			_, _, err := s.Get(t.Context(), id)
			if err == nil || !errors.Is(err, errRawLost) || !strings.Contains(err.Error(), fmt.Sprintf("message %d:", id)) ||
				!strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Get = %v, want an error naming message %d, %s and %q", err, id, path, tt.want)
			}
			claims, err := s.Claim(t.Context(), time.Now(), time.Minute, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(claims) != 1 || claims[0].ID != other || len(claims[0].Raw) != 2*spoolAbove {
				t.Fatalf("Claim handed out %v, want only message %d with its bytes", claimIDs(claims), other)
			}
			m, _, _ := s.Get(t.Context(), other)
			lost := getMessage(t, s, id)
			if lost.State != store.Dead || !strings.Contains(lost.LastError, tt.want) {
				t.Fatalf("message with a lost file: %s, %q; want dead with the reason", lost.State, lost.LastError)
			}
			if m.State != store.Inflight {
				t.Errorf("the other message is %s, want inflight", m.State)
			}
			for _, want := range []string{"level=ERROR", "message_id=lost@example.com", fmt.Sprintf("queue_id=%d", id), tt.want} {
				if !strings.Contains(log.String(), want) {
					t.Errorf("log lacks %q: %s", want, log.String())
				}
			}
		})
	}
}

// A spool file that cannot be read for another reason than loss puts the
// message back in the queue for a while, its attempt not counted.
func TestSpoolUnreadableFile(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	s.SetLogger(slog.New(slog.DiscardHandler))
	id := enqueueOK(t, s, spoolMessage("a", 2*spoolAbove))
	makeUnreadable(t, s.spool.path(rowFile(t, s, id)))
	now := time.Now()
	if claims, err := s.Claim(t.Context(), now, time.Minute, 10); err != nil || len(claims) != 0 {
		t.Fatalf("Claim = %v, %v; want nothing handed out", claimIDs(claims), err)
	}
	m := getMessage(t, s, id)
	if m.State != store.Queued || m.Attempts != 0 || m.NextAttemptAt.Before(now.Add(rawRetry/2)) || m.LastError == "" {
		t.Fatalf("message after an unreadable file: %s, %d attempts, next %v, error %q; want queued for %v",
			m.State, m.Attempts, m.NextAttemptAt, m.LastError, rawRetry)
	}
}

// getMessage reads message id's row without its raw bytes.
func getMessage(t *testing.T, s *Store, id int64) store.Message {
	t.Helper()
	msgs, err := s.List(t.Context(), store.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.ID == id {
			return m
		}
	}
	t.Fatalf("message %d not listed", id)
	return store.Message{}
}

func claimIDs(claims []store.Claim) []int64 {
	var ids []int64
	for _, c := range claims {
		ids = append(ids, c.ID)
	}
	return ids
}

// A database from before the spool keeps its raw messages, large ones
// included, in the table, and takes new ones in files.
func TestSpoolMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	const before = 10 // the version without the spool
	for _, m := range migrations[:before] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	old := spoolMessage("old", 2*spoolAbove)
	if _, err := db.Exec(fmt.Sprintf(`PRAGMA user_version = %d;
		INSERT INTO message (id, subchannel_id, external_id, message_id, subject, from_addr, state, size,
			received_at, created_at, updated_at, next_attempt_at)
		VALUES (1, 1, 'old', '', '', '', 'queued', %d, 0, 0, 0, 0)`, before, len(old.Raw))); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO message_raw (id, raw) VALUES (1, ?)`, old.Raw); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openTest(t, path)
	defer s.Close()
	id := enqueueOK(t, s, spoolMessage("new", 2*spoolAbove))
	claims, err := s.Claim(t.Context(), time.Now(), time.Minute, 10)
	if err != nil || len(claims) != 2 {
		t.Fatalf("Claim: %v, %v", claimIDs(claims), err)
	}
	for _, c := range claims {
		if len(c.Raw) != 2*spoolAbove {
			t.Errorf("message %d claimed with %d bytes", c.ID, len(c.Raw))
		}
	}
	if rowFile(t, s, 1) != "" || rowFile(t, s, id) == "" {
		t.Errorf("old message's file %q, new one's %q; want none and one", rowFile(t, s, 1), rowFile(t, s, id))
	}
}

// The sweep reads the spooled rows through their index, not the table.
func TestSpoolSweepQueryPlan(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	var id, parent, unused int
	var detail string
	if err := s.r.QueryRowContext(context.Background(), `EXPLAIN QUERY PLAN SELECT file FROM message_raw WHERE file IS NOT NULL`).
		Scan(&id, &parent, &unused, &detail); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(detail, "COVERING INDEX message_raw_file") {
		t.Fatalf("sweep query plan: %s", detail)
	}
}
