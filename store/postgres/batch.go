package postgres

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Group commit of enqueues and reports.
//
// Each Enqueue of a new key is one INSERT, each report of an attempt
// (Complete, Retry, Postpone, Bury) one UPDATE, and each write of the
// thread map (LinkThread, AddParticipants) one INSERT; as a transaction of
// its own each costs PostgreSQL a commit and the store a round trip.
// Concurrent sources (SMTP sessions, IMAP pollers) and delivery workers
// instead hand these statements to a few batchers: a batcher takes the
// statements waiting when it starts and sends them as one pgx batch, which
// the server runs in one implicit transaction (a single Sync) and commits
// once. A statement returns only after the batch's commit. A lone one is
// sent at once.
//
// Within a batch the statements are the same as alone, in the order they
// came: a later insert under a key an earlier one of the batch took finds
// it taken (ON CONFLICT sees its own transaction's rows) and returns no
// id, as it would a moment after the other's commit; each report updates
// the row of its own claim, which no other statement of the batch
// touches. A batch that fails as a whole (one statement's error aborts the
// transaction) is sent again statement by statement, so that each caller
// gets its own answer.

// maxInsertBatch bounds the statements of one transaction.
const maxInsertBatch = 64

// insertBatchers is how many batches may be under way at once: while one
// waits for its commit the next gathers.
const insertBatchers = 2

var errStoreClosed = errors.New("postgres: store closed")

// insertRequest is one statement for a batch: enqueueQuery with args,
// or, with exec set, the update sql.
type insertRequest struct {
	ctx  context.Context
	args pgx.NamedArgs
	exec string
	done chan insertResult // buffered
}

// insertResult is an insert's new id, or ok false if its key was taken;
// for an update, ok is whether it changed a row.
type insertResult struct {
	id  int64
	ok  bool
	err error
}

type batcher struct {
	pool      *pgxpool.Pool
	requests  chan insertRequest // unbuffered: a request not taken can still give up
	closing   chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

func startBatcher(pool *pgxpool.Pool) *batcher {
	b := &batcher{pool: pool, requests: make(chan insertRequest), closing: make(chan struct{})}
	for range insertBatchers {
		b.wg.Go(b.loop)
	}
	return b
}

// close waits for the batches under way; inserts not yet taken fail.
func (b *batcher) close() {
	b.closeOnce.Do(func() {
		close(b.closing)
		b.wg.Wait()
	})
}

// insert runs enqueueQuery with args in the next batch and returns once
// that is committed: the new row's id, or ok false if the key is taken.
func (b *batcher) insert(ctx context.Context, args pgx.NamedArgs) (int64, bool, error) {
	return b.send(ctx, insertRequest{ctx: ctx, args: args})
}

// update runs sql with args in the next batch and returns once that is
// committed: whether it changed a row.
func (b *batcher) update(ctx context.Context, sql string, args pgx.NamedArgs) (bool, error) {
	_, ok, err := b.send(ctx, insertRequest{ctx: ctx, args: args, exec: sql})
	return ok, err
}

func (b *batcher) send(ctx context.Context, req insertRequest) (int64, bool, error) {
	req.done = make(chan insertResult, 1)
	select {
	case b.requests <- req:
	case <-ctx.Done():
		return 0, false, ctx.Err()
	case <-b.closing:
		return 0, false, errStoreClosed
	}
	r := <-req.done
	return r.id, r.ok, r.err
}

func (b *batcher) loop() {
	for {
		select {
		case first := <-b.requests:
			batch := []insertRequest{first}
		gather:
			for len(batch) < maxInsertBatch {
				select {
				case req := <-b.requests:
					batch = append(batch, req)
				default:
					break gather
				}
			}
			b.run(batch)
		case <-b.closing:
			return
		}
	}
}

// run commits batch and answers each request.
func (b *batcher) run(batch []insertRequest) {
	if len(batch) == 1 {
		req := batch[0]
		id, ok, err := runOne(req.ctx, b.pool, req)
		req.done <- insertResult{id, ok, err}
		return
	}
	ctx, cancel := batchContext(batch)
	results, err := insertBatch(ctx, b.pool, batch)
	cancel()
	if err != nil {
		// Nothing of the batch is committed if a statement failed;
		// if the connection broke at the commit, the inserts now find
		// their keys taken and the callers decide on what is there.
		for _, req := range batch {
			id, ok, err := runOne(req.ctx, b.pool, req)
			req.done <- insertResult{id, ok, err}
		}
		return
	}
	for i, req := range batch {
		req.done <- results[i]
	}
}

// batchContext ends when every request's context has ended: a batch is
// still wanted while any of its callers waits.
func batchContext(batch []insertRequest) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	var left atomic.Int32
	left.Store(int32(len(batch)))
	stops := make([]func() bool, len(batch))
	for i, req := range batch {
		stops[i] = context.AfterFunc(req.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// runOne runs req's statement alone, a transaction of its own.
func runOne(ctx context.Context, pool *pgxpool.Pool, req insertRequest) (id int64, ok bool, err error) {
	if req.exec != "" {
		tag, err := pool.Exec(ctx, req.exec, req.args)
		return 0, err == nil && tag.RowsAffected() > 0, err
	}
	err = pool.QueryRow(ctx, enqueueQuery, req.args).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// insertBatch sends the batch's statements in one round trip and one
// transaction, and returns their results once it is committed.
func insertBatch(ctx context.Context, pool *pgxpool.Pool, batch []insertRequest) ([]insertResult, error) {
	var pb pgx.Batch
	for _, req := range batch {
		if req.exec != "" {
			pb.Queue(req.exec, req.args)
		} else {
			pb.Queue(enqueueQuery, req.args)
		}
	}
	br := pool.SendBatch(ctx, &pb)
	results := make([]insertResult, len(batch))
	var err error
	for i, req := range batch {
		if req.exec != "" {
			tag, e := br.Exec()
			results[i].ok, err = e == nil && tag.RowsAffected() > 0, e
			if err != nil {
				break
			}
			continue
		}
		var id int64
		switch e := br.QueryRow().Scan(&id); {
		case errors.Is(e, pgx.ErrNoRows):
		case e != nil:
			err = e
		default:
			results[i] = insertResult{id: id, ok: true}
		}
		if err != nil {
			break
		}
	}
	// Close reads up to the Sync: the commit.
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return results, nil
}
