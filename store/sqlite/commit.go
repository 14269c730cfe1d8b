package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"
)

// Group commit.
//
// A durable commit costs an fsync, which takes longer than the work in most
// transactions. So writes are not committed one by one: a committer
// goroutine takes all the writes waiting when it starts a transaction, runs
// each in a savepoint of its own, commits once and reports to each. A lone
// write is committed at once; writes that arrive during an fsync share the
// next one. No write returns before the commit that holds it is on disk.
//
// Under load the committer also lingers: when the last transaction held
// several writes, it waits up to linger for more before it commits, until
// the batch is as large as the largest recent one (target, which decays
// by one a transaction). The writers are then the IMAP pollers', the
// delivery workers' and the SMTP sessions' goroutines, each blocked on its
// previous commit and back with the next write a moment after it; without
// the wait, many commits would hold a single write and pay an fsync each.
// Where writers come back at once, with no work between their writes, a
// full linger would be pure waiting; ending it at the recent batch size
// serves both kinds of load. Longer lingers hold writers back longer than
// they save. docs/benchmarks.md has the figures (mailbench imap and
// BenchmarkEnqueueClaimCompleteParallel).
//
// The Go runtime rounds a wait under 1 ms up to 1 ms when nothing else
// runs, so an idle committer's linger is nearer 1 ms. After a transaction
// of one write the committer does not linger: a lone writer, as on a
// quiet SMTP listener, waits at most for the first commit after a busy
// spell.
//
// The committer owns the write connection, so it also keeps that
// connection's prepared statements: parsing would otherwise be a good part
// of the cost of the queue's small statements. It runs BEGIN and COMMIT as
// statements of their own, because a database/sql Tx would prepare every
// statement again.

// maxBatch bounds the writes in one transaction.
const maxBatch = 128

// linger is how long the committer waits for more writes under load.
const linger = 500 * time.Microsecond

var errClosed = errors.New("sqlite: store closed")

// request is a write waiting for the committer.
type request struct {
	ctx  context.Context
	fn   func(tx wtx) error
	done chan error
	// spooled: fn's rows name a spool file its writer created, whose
	// directory entry must be durable before the commit.
	spooled bool
}

type committer struct {
	db    *sql.DB // a pool of one connection, conn
	conn  *sql.Conn
	stmts map[string]*sql.Stmt // by query; only the committer goroutine uses it

	requests  chan request  // unbuffered: a write not taken yet can still fail
	syncSpool func() error  // fsyncs the spool directory
	linger    time.Duration // see the package comment on group commit
	lingering *time.Timer   // only the committer goroutine uses it
	last      int           // writes in the last transaction
	target    int           // the largest recent transaction, decaying by one a transaction
	closing   chan struct{} // closed by close
	stopped   chan struct{} // closed when the committer returned
	closeOnce sync.Once
	closeErr  error
}

// startCommitter takes over db's connection and starts committing writes.
// syncSpool makes the spool's new files durable, before the commit of a
// transaction with spooled requests.
func startCommitter(ctx context.Context, db *sql.DB, syncSpool func() error) (*committer, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	c := &committer{
		db:        db,
		conn:      conn,
		stmts:     make(map[string]*sql.Stmt),
		requests:  make(chan request),
		syncSpool: syncSpool,
		linger:    linger,
		closing:   make(chan struct{}),
		stopped:   make(chan struct{}),
	}
	go c.loop()
	return c, nil
}

// close waits for the batch under way and closes the connection. Writes
// not yet taken fail.
func (c *committer) close() error {
	c.closeOnce.Do(func() {
		close(c.closing)
		<-c.stopped
		var errs []error
		for _, st := range c.stmts {
			errs = append(errs, st.Close())
		}
		c.closeErr = errors.Join(append(errs, c.conn.Close(), c.db.Close())...)
	})
	return c.closeErr
}

// write runs fn in a write transaction and returns once that is committed,
// fsync included, or fn failed. fn's changes are all committed or none; fn
// must not keep tx.
func (c *committer) write(ctx context.Context, fn func(tx wtx) error) error {
	return c.submit(request{ctx: ctx, fn: fn})
}

// writeSpooled is write for fn whose rows name a new spool file: the
// commit waits for the spool directory's fsync.
func (c *committer) writeSpooled(ctx context.Context, fn func(tx wtx) error) error {
	return c.submit(request{ctx: ctx, fn: fn, spooled: true})
}

func (c *committer) submit(req request) error {
	ctx := req.ctx
	req.done = make(chan error, 1)
	select {
	case c.requests <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closing:
		return errClosed
	}
	return <-req.done
}

func (c *committer) loop() {
	defer close(c.stopped)
	for {
		select {
		case req := <-c.requests:
			c.commit(c.gather(req))
		case <-c.closing:
			return
		}
	}
}

// gather returns first and the requests waiting behind it, up to maxBatch.
// After a transaction of several writes it also takes those arriving
// within c.linger, until the batch reaches c.target.
func (c *committer) gather(first request) []request {
	batch := []request{first}
	defer func() {
		c.last = len(batch)
		c.target = max(len(batch), c.target-1)
	}()
	var timeout <-chan time.Time
	for len(batch) < maxBatch {
		select {
		case req := <-c.requests:
			batch = append(batch, req)
			continue
		default:
		}
		if c.last < 2 || c.linger <= 0 || len(batch) >= c.target {
			return batch
		}
		if timeout == nil {
			timeout = c.startLinger()
		}
		select {
		case req := <-c.requests:
			batch = append(batch, req)
		case <-timeout:
			return batch
		case <-c.closing:
			return batch
		}
	}
	return batch
}

// startLinger starts the linger timer. Since Go 1.23 a Reset timer never
// delivers a time from before the Reset, so an earlier linger that ended
// otherwise needs no Stop.
func (c *committer) startLinger() <-chan time.Time {
	if c.lingering == nil {
		c.lingering = time.NewTimer(c.linger)
	} else {
		c.lingering.Reset(c.linger)
	}
	return c.lingering.C
}

// commit runs batch in one transaction and reports to each request: its own
// error, or else the transaction's. Before the commit, one fsync of the
// spool directory covers the files of all the requests that wrote one.
func (c *committer) commit(batch []request) {
	errs := make([]error, len(batch))
	err := c.transact(func() error {
		spooled := false
		for i, req := range batch {
			var broken error
			errs[i], broken = c.run(req)
			if broken != nil {
				return broken
			}
			spooled = spooled || req.spooled && errs[i] == nil
		}
		if spooled {
			return c.syncSpool()
		}
		return nil
	})
	for i, req := range batch {
		if errs[i] == nil {
			errs[i] = err
		}
		req.done <- errs[i]
	}
}

// transact runs fn in a transaction and commits it. BEGIN IMMEDIATE takes
// the write lock up front, so that another process holding it makes BEGIN
// wait in the busy handler rather than a later statement fail.
func (c *committer) transact(fn func() error) error {
	ctx := context.Background()
	if _, err := c.exec(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	err := fn()
	if err == nil {
		_, err = c.exec(ctx, "COMMIT")
	}
	if err != nil {
		// Some errors end the transaction in SQLite already; then there
		// is nothing to roll back and ROLLBACK's error says just that.
		c.exec(ctx, "ROLLBACK")
	}
	return err
}

// run runs req in a savepoint, so that a failed request leaves nothing
// behind and the others can still commit. It returns req's error, and
// broken if the transaction cannot go on (SQLite rolls back the whole
// transaction on some errors, such as a full disk).
func (c *committer) run(req request) (reqErr, broken error) {
	if err := req.ctx.Err(); err != nil {
		return err, nil
	}
	tx := wtx{ctx: context.WithoutCancel(req.ctx), c: c}
	if _, err := tx.exec("SAVEPOINT request"); err != nil {
		return err, err
	}
	reqErr = req.fn(tx)
	if reqErr != nil {
		if _, err := tx.exec("ROLLBACK TO request"); err != nil {
			return reqErr, err
		}
	}
	if _, err := tx.exec("RELEASE request"); err != nil {
		return reqErr, err
	}
	return reqErr, nil
}

// stmt returns query prepared on the write connection.
func (c *committer) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	st, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = st
	return st, nil
}

func (c *committer) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// wtx is the write transaction as one request sees it. Its statements run
// without the request's cancellation: interrupting a write statement can
// roll back the whole transaction, other requests' writes included.
type wtx struct {
	ctx context.Context
	c   *committer
}

func (t wtx) exec(query string, args ...any) (sql.Result, error) {
	return t.c.exec(t.ctx, query, args...)
}

func (t wtx) query(query string, args ...any) (*sql.Rows, error) {
	st, err := t.c.stmt(t.ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(t.ctx, args...)
}

func (t wtx) queryRow(query string, args ...any) *sql.Row {
	st, err := t.c.stmt(t.ctx, query)
	if err != nil {
		// Unprepared, the query fails again, and the Row carries the error.
		return t.c.conn.QueryRowContext(t.ctx, query, args...)
	}
	return st.QueryRowContext(t.ctx, args...)
}
