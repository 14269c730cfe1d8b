// Package postgres implements store.Store on PostgreSQL, for several
// mailbridge instances sharing one queue.
//
// Every write is one transaction that PostgreSQL has made durable when its
// commit returns (the store sets synchronous_commit=on on its connections
// unless the DSN says otherwise), which is what lets a source acknowledge
// mail as soon as Enqueue returned. Instances claim messages with
// FOR UPDATE SKIP LOCKED, so two never claim the same one; reports are
// fenced by the claim counter as in the SQLite store.
//
// The tables live in the first schema of the connection's search_path. Give
// mailbridge a database of its own, or a schema (search_path=mailbridge in
// the DSN).
package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/lease"
)

// Pool defaults, each applied unless the DSN sets it.
const (
	// defaultMaxConns covers the default 16 delivery workers and the
	// sources beside them; a connection is held for one statement or a
	// short transaction only. (pgxpool's own default is 4 on two cores.)
	defaultMaxConns = 20
	// defaultConnectTimeout bounds a connection attempt to an unreachable
	// server, which would otherwise wait for the kernel's TCP timeout.
	defaultConnectTimeout = 10 * time.Second
)

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	pool  *pgxpool.Pool
	batch *batcher // Enqueue's inserts, see batch.go
	clock dbClock
	// holder names this instance in its claims and its liveness lease;
	// announced is set once it announced itself (claimer).
	holder    string
	announced atomic.Bool
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.Checkpoints = (*Store)(nil)
	_ store.Leases      = (*Store)(nil)
	_ store.Instances   = (*Store)(nil)
)

// Open connects to the database dsn names (a URL or keyword/value
// connection string, as libpq takes) and brings its schema up to date.
// Several instances may open one database at once: the migrations run one
// instance after the other.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := poolConfig(dsn)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return open(ctx, pool, time.Now)
}

// open completes Open on pool, with now as this instance's clock.
func open(ctx context.Context, pool *pgxpool.Pool, now func() time.Time) (*Store, error) {
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{pool: pool, batch: startBatcher(pool), holder: lease.Holder()}
	if err := s.startClock(ctx, now); err != nil {
		s.batch.close()
		pool.Close()
		return nil, fmt.Errorf("postgres: read the database's clock: %w", err)
	}
	return s, nil
}

// poolConfig parses dsn and adds mailbridge's defaults where it sets none.
func poolConfig(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the DSN with the password masked.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = defaultConnectTimeout
	}
	for k, v := range map[string]string{
		// A commit must be on disk before Enqueue returns, whatever the
		// server's default.
		"synchronous_commit": "on",
		"application_name":   "mailbridge",
		// Claim must walk message_due in order and stop after its
		// limit. The queue's rows turn over faster than the planner's
		// statistics follow (a new table has none), so the planner
		// believes few messages are due and would rather read every due
		// one by a bitmap scan and sort them: a claim's cost would grow
		// with the backlog. mailbridge's other statements look rows up
		// by key or walk an index in order too.
		"enable_bitmapscan": "off",
	} {
		if _, ok := cc.RuntimeParams[k]; !ok {
			cc.RuntimeParams[k] = v
		}
	}
	return cfg, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.pool.Ping(ctx)
}

// Close waits for the statements under way and closes the connections.
// Calls after it fail.
func (s *Store) Close() error {
	s.stopClock()
	s.batch.close()
	s.pool.Close()
	return nil
}

// Describe names the database dsn connects to, for logs: user, host, port
// and database, never the password. A DSN that does not parse is
// described as such (Open reports why).
func Describe(dsn string) string {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return "(connection string does not parse)"
	}
	cc := cfg.ConnConfig
	return fmt.Sprintf("%s@%s:%d/%s", cc.User, cc.Host, cc.Port, cc.Database)
}
