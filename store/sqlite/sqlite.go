// Package sqlite implements store.Store on a single SQLite database file.
//
// The database runs in WAL mode with synchronous=FULL: a transaction is on
// disk, fsync included, when its commit returns. That is what lets a source
// acknowledge mail as soon as Enqueue returned. Concurrent writes share
// commits, and so fsyncs (see commit.go).
//
// Raw messages live in their own table, so that claiming and listing scan
// only the small metadata rows; large ones live in files beside the
// database, which the table names (see spool.go).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/enneo/mailbridge/store"

	driver "modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// readers is the size of the read pool: operator commands and health
// checks, whose queries are short.
const readers = 4

// Pragmas applied to every connection. busy_timeout comes into play when
// another process (the CLI next to the daemon) holds the write lock.
var connPragmas = []string{
	"busy_timeout(10000)",
	"synchronous(FULL)",
	"foreign_keys(ON)",
}

// Store is a store.Store on a SQLite file.
//
// SQLite lets one connection write at a time. Several pooled writers would
// contend for the file lock: the losers sleep in the busy handler's coarse
// backoff, and a transaction that read before writing can fail with
// SQLITE_BUSY outright. So all writes go through one connection, owned by a
// committer goroutine that also batches them (see commit.go). Reads use a
// pool of their own: in WAL mode they neither block the writer nor wait for
// it, so Get, List and Stats do not queue behind claims.
type Store struct {
	c    *committer // all writes
	r    *sql.DB    // read-only connections
	path string     // the database file, absolute
	// spool holds the raw messages larger than spoolAbove.
	spool *spool
	log   *slog.Logger
	// owner is the lock file held by the daemon that owns the database
	// (Own); nil in other processes.
	owner *os.File
}

var _ store.Store = (*Store)(nil)

// Open opens the database at path, creating it (and its directory) if
// needed, and brings its schema up to date.
func Open(ctx context.Context, path string) (*Store, error) {
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}

	w, err := openWriter(ctx, dsn(path, url.Values{
		"_pragma": {"journal_mode(WAL)"},
		// migrate's transaction takes the write lock at BEGIN, so that
		// processes opening a new database migrate it one after the other.
		"_txlock": {"immediate"},
	}))
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	sp, err := openSpool(ctx, path)
	if err != nil {
		w.Close()
		return nil, err
	}
	// query_only guards against a write slipping into the read pool.
	r, err := openPool(ctx, dsn(path, url.Values{"_pragma": {"query_only(1)"}}), readers)
	if err != nil {
		sp.close()
		w.Close()
		return nil, err
	}
	c, err := startCommitter(ctx, w, func() error { return sp.syncDir() })
	if err != nil {
		r.Close()
		sp.close()
		w.Close()
		return nil, err
	}
	return &Store{c: c, r: r, path: path, spool: sp, log: slog.Default()}, nil
}

// SetLogger sets the logger of the lines the store writes itself: a
// message whose raw bytes cannot be read, the spool's sweep. It is
// slog.Default() until then.
func (s *Store) SetLogger(log *slog.Logger) { s.log = log }

// dsn returns the data source name for the database file at the absolute
// path, with the connection pragmas added to params. They come first:
// the driver applies pragmas in order, and busy_timeout must be in force
// before journal_mode(WAL), which needs a lock another process opening
// the file at the same moment may hold.
func dsn(path string, params url.Values) string {
	params["_pragma"] = append(append([]string{}, connPragmas...), params["_pragma"]...)
	u := url.URL{Scheme: "file", Path: path, RawQuery: params.Encode()}
	return u.String()
}

// openWriter opens the write pool, retrying while the file is locked.
// Switching a new file to WAL takes a lock that SQLite does not wait for
// whatever busy_timeout says, so two processes opening a new database at
// once (the CLI beside a daemon starting) could fail with SQLITE_BUSY: 1
// open in 300 when three raced. The retries last as long as
// busy_timeout's wait would.
func openWriter(ctx context.Context, dsn string) (*sql.DB, error) {
	deadline := time.Now().Add(openRetryFor)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		db, err := openPool(ctx, dsn, 1)
		var se *driver.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return db, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// openRetryFor is how long openWriter retries, busy_timeout's 10 s.
const openRetryFor = 10 * time.Second

func openPool(ctx context.Context, dsn string, conns int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open (pool of %d): %w", conns, err)
	}
	return db, nil
}

// Ping checks that the database file can be read.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	return s.r.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n)
}

// Close waits for the writes under way and closes the database. Writes
// that had not started fail.
func (s *Store) Close() error {
	err := errors.Join(s.c.close(), s.r.Close(), s.spool.close())
	if s.owner != nil {
		err = errors.Join(err, s.owner.Close()) // closing releases the lock
	}
	return err
}

// transact runs fn in a transaction on db and commits it.
func transact(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// write runs fn in the committer's next transaction (see committer.write).
func (s *Store) write(ctx context.Context, fn func(tx wtx) error) error {
	return s.c.write(ctx, fn)
}
