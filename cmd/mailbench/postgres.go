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
