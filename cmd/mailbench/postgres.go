package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// benchSchema is the PostgreSQL schema a run's queue lives in, dropped and
// made again at the start of each run.
const benchSchema = "mailbench"

// storeConfig is the daemon's store: SQLite in dir, or the schema
// benchSchema of the PostgreSQL database dsn names.
func storeConfig(dir, dsn string) string {
	if dsn == "" {
		return fmt.Sprintf("store: {driver: sqlite, path: %s/queue.db}\n", dir)
	}
	return fmt.Sprintf("store: {driver: postgres, dsn: '%s'}\n", withSearchPath(dsn))
}

// withSearchPath adds search_path=benchSchema to a postgres:// URL.
func withSearchPath(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return dsn + " search_path=" + benchSchema
	}
	q := u.Query()
	q.Set("search_path", benchSchema)
	u.RawQuery = q.Encode()
	return u.String()
}

// freshSchema drops the bench schema with the last run's queue and makes it
// again, empty.
func freshSchema(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+benchSchema+" CASCADE; CREATE SCHEMA "+benchSchema)
	return err
}

// postgresCPU is the CPU time of every PostgreSQL server process on this
// machine (backends, WAL writer, checkpointer): the database's own cost,
// read from /proc. Backends that ended since the last call are not
// counted, so it is read while the daemon's connections are still open.
func postgresCPU() time.Duration {
	var total time.Duration
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		total += procUsage(pid).CPU
	}
	return total
}

// pgCounters are the server's counts of commits in the database and of
// WAL flushes (pg_stat_wal, PostgreSQL 14 and later; -1 before): how
// often each message made the server commit and wait for the disk. Other
// clients of the same server count too.
type pgCounters struct{ commits, walSyncs int64 }

// readPGCounters reads pgCounters. A backend reports its counts when it
// ends or at most once a second, so they are read after the daemons'
// connections closed.
func readPGCounters(ctx context.Context, dsn string) (pgCounters, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return pgCounters{}, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	c := pgCounters{walSyncs: -1}
	if err := conn.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&c.commits); err != nil {
		return pgCounters{}, err
	}
	if err := conn.QueryRow(ctx, `SELECT wal_sync FROM pg_stat_wal`).Scan(&c.walSyncs); err != nil {
		c.walSyncs = -1
	}
	return c, nil
}

// note says how many commits and WAL flushes the n messages cost from c0
// to c, or "" if c0 could not be read.
func (c pgCounters) note(c0 pgCounters, n int) string {
	if n == 0 || c0 == (pgCounters{}) {
		return ""
	}
	s := fmt.Sprintf("%.2f commits", float64(c.commits-c0.commits)/float64(n))
	if c.walSyncs >= 0 && c0.walSyncs >= 0 {
		s += fmt.Sprintf(", %.2f WAL flushes", float64(c.walSyncs-c0.walSyncs)/float64(n))
	}
	return s + " per msg"
}
