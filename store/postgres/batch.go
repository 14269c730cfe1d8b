package postgres

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
// once. A statement returns after the batch's commit (or once its caller's
// context ends, the batch going on for the others). A lone one is
// sent at once.
//
// Statements go in two lanes. Those of small mail or none (reports, the
// thread map, inserts below largeRaw) go one batch at a time: the batch
// under way's round trip and commit are the time in which the next one
// gathers, so the server commits and flushes its WAL once for all that
// came meanwhile, not once for every one or two. A batch that waits on a
// lock past smallStall no longer holds the lane. Inserts of large mail go
// in a lane of their own, largeBatchers batches at a time: sending one
// takes longer than a commit, so it overlaps the others', and small
// statements do not wait behind it.
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

// maxInsertBatchBytes bounds the raw mail a batch gathers (the last
// request may pass it): the batch's inserts go as one statement, whose
// array of raw mails is one value that PostgreSQL limits to 1 GB and that
// the client and the server each hold whole.
const maxInsertBatchBytes = 32 << 20

// largeRaw is the raw mail from which an insert goes in the large lane.
const largeRaw = 64 << 10

// largeBatchers is how many batches of large mail may be under way at
// once: while one waits for its commit the next gathers.
const largeBatchers = 2

// smallStall is how long a batch of the small lane holds the lane. One
// that takes longer waits on something (a lock another instance's
// transaction holds, under a key it inserts too), and the next goes
// beside it, up to smallBatchers at once: the reports and enqueues of the
// instance must not wait as long as the one statement does.
const smallStall = time.Second

// smallBatchers bounds the batches of the small lane under way at once.
const smallBatchers = 2

var errStoreClosed = errors.New("postgres: store closed")

// insertRequest is one statement for a batch: enqueueQuery with args,
// or, with exec set, the update sql. With fold set, the requests of one
// fold in a batch go as one statement (see fold).
type insertRequest struct {
	ctx  context.Context
	args pgx.NamedArgs
	exec string
	fold *fold
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
	pool *pgxpool.Pool
	// The lanes, unbuffered: a request not taken can still give up.
	small, large chan insertRequest
	closing      chan struct{}
	wg           sync.WaitGroup
	closeOnce    sync.Once
}

func startBatcher(pool *pgxpool.Pool) *batcher {
	b := &batcher{pool: pool, small: make(chan insertRequest), large: make(chan insertRequest), closing: make(chan struct{})}
	b.wg.Go(b.smallLoop)
	for range largeBatchers {
		b.wg.Go(func() { b.loop(b.large) })
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

// folded runs f's statement with args in the next batch and returns once
// that is committed: whether it changed a row.
func (b *batcher) folded(ctx context.Context, f *fold, args pgx.NamedArgs) (bool, error) {
	_, ok, err := b.send(ctx, insertRequest{ctx: ctx, args: args, exec: f.one, fold: f})
	return ok, err
}

// update runs sql with args in the next batch and returns once that is
// committed: whether it changed a row.
func (b *batcher) update(ctx context.Context, sql string, args pgx.NamedArgs) (bool, error) {
	_, ok, err := b.send(ctx, insertRequest{ctx: ctx, args: args, exec: sql})
	return ok, err
}

func (b *batcher) send(ctx context.Context, req insertRequest) (int64, bool, error) {
	req.done = make(chan insertResult, 1)
	lane := b.small
	if req.rawSize() >= largeRaw {
		lane = b.large
	}
	select {
	case lane <- req:
	case <-ctx.Done():
		return 0, false, ctx.Err()
	case <-b.closing:
		return 0, false, errStoreClosed
	}
	select {
	case r := <-req.done:
		return r.id, r.ok, r.err
	case <-ctx.Done():
		// The batch goes on while another of its callers waits, and may
		// commit the statement all the same, as a commit under way when
		// a context ends may.
		return 0, false, ctx.Err()
	}
}

// loop runs the batches of a lane, one at a time.
func (b *batcher) loop(lane chan insertRequest) {
	for {
		select {
		case first := <-lane:
			b.run(gather(first, lane))
		case <-b.closing:
			return
		}
	}
}

// smallLoop runs the batches of the small lane one at a time, but for
// those that take longer than smallStall (see there).
func (b *batcher) smallLoop() {
	slots := make(chan struct{}, smallBatchers)
	for {
		select {
		case slots <- struct{}{}:
		case <-b.closing:
			return
		}
		var first insertRequest
		select {
		case first = <-b.small:
		case <-b.closing:
			return
		}
		batch := gather(first, b.small)
		done := make(chan struct{})
		b.wg.Go(func() {
			defer func() { <-slots }()
			defer close(done)
			b.run(batch)
		})
		stall := time.NewTimer(smallStall)
		select {
		case <-done:
		case <-stall.C:
		case <-b.closing:
		}
		stall.Stop()
	}
}

// gather returns first and the requests waiting behind it, up to
// maxInsertBatch of them and about maxInsertBatchBytes of raw mail.
func gather(first insertRequest, requests <-chan insertRequest) []insertRequest {
	batch := []insertRequest{first}
	size := first.rawSize()
	for len(batch) < maxInsertBatch && size < maxInsertBatchBytes {
		select {
		case req := <-requests:
			batch = append(batch, req)
			size += req.rawSize()
		default:
			return batch
		}
	}
	return batch
}

// rawSize is the size of the raw mail an insert stores.
func (req insertRequest) rawSize() int {
	raw, _ := req.args["raw"].([]byte)
	return len(raw)
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
// transaction, and returns their results once it is committed. The
// inserts go as one statement (foldInserts), and so do the requests of
// each fold, which PostgreSQL parses, plans and sets up once for all; the
// other updates one by one after them.
func insertBatch(ctx context.Context, pool *pgxpool.Pool, batch []insertRequest) ([]insertResult, error) {
	var pb pgx.Batch
	folded, later := foldInserts(batch)
	if len(folded) > 0 {
		pb.Queue(foldedInsertQuery, foldedArgs(batch, folded))
	}
	groups := foldGroups(batch)
	for _, g := range groups {
		pb.Queue(g.fold.many, g.fold.args(batch, g.reqs))
	}
	for _, req := range batch {
		if req.exec != "" && req.fold == nil {
			pb.Queue(req.exec, req.args)
		}
	}
	br := pool.SendBatch(ctx, &pb)
	results := make([]insertResult, len(batch))
	err := func() error {
		if len(folded) > 0 {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			ids := map[insertKey]int64{}
			var k insertKey
			var id int64
			if _, err := pgx.ForEachRow(rows, []any{&k.subchannel, &k.external, &id}, func() error {
				ids[k] = id
				return nil
			}); err != nil {
				return err
			}
			for _, i := range folded {
				id, ok := ids[keyOf(batch[i])]
				results[i] = insertResult{id: id, ok: ok}
			}
		}
		for _, g := range groups {
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			for _, i := range g.reqs {
				results[i].ok = tag.RowsAffected() > 0
			}
		}
		for i, req := range batch {
			if req.exec == "" || req.fold != nil {
				continue
			}
			tag, err := br.Exec()
			if err != nil {
				return err
			}
			results[i].ok = tag.RowsAffected() > 0
		}
		return nil
	}()
	// Close reads up to the Sync: the commit.
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	// An insert under a key an earlier one of the batch took runs now, as
	// it would have after the other's commit.
	for _, i := range later {
		req := batch[i]
		id, ok, err := runOne(req.ctx, pool, req)
		results[i] = insertResult{id, ok, err}
	}
	return results, nil
}

// A fold is a statement of which a batch sends its requests as one: one is
// the statement for a request alone, with scalar arguments; many is the
// same for many requests over unnest(columns), an array per argument of
// one with an element per row, as r (see unnest). Each request of a fold
// learns whether the batch's statement changed any row.
type fold struct {
	one, many string
	columns   []column
	// spread names the argument of one that holds the rows' values of a
	// column rather than one ([]string); the others repeat on each row.
	spread string
}

// column is an argument of a fold's one statement and its SQL type.
type column struct{ name, typ string }

// unnest is the FROM item of a fold's many statement: r, with a column per
// argument named after it (quoted) and ord, the row's place.
func unnest(columns []column) string {
	var params, names []string
	for _, c := range columns {
		params = append(params, "@"+c.name+"::"+c.typ+"[]")
		names = append(names, `"`+c.name+`"`)
	}
	return `unnest(` + strings.Join(params, ", ") + `) WITH ORDINALITY AS r(` + strings.Join(names, ", ") + `, ord)`
}

// args are many's arguments for the requests reqs of batch.
func (f *fold) args(batch []insertRequest, reqs []int) pgx.NamedArgs {
	cols := make([][]any, len(f.columns))
	for _, i := range reqs {
		a := batch[i].args
		rows := 1
		var spread []string
		if f.spread != "" {
			spread, _ = a[f.spread].([]string)
			rows = len(spread)
		}
		for r := range rows {
			for c, col := range f.columns {
				v := a[col.name]
				if col.name == f.spread {
					v = spread[r]
				}
				cols[c] = append(cols[c], v)
			}
		}
	}
	args := pgx.NamedArgs{}
	for c, col := range f.columns {
		args[col.name] = cols[c]
	}
	return args
}

// foldGroup is the requests of a batch, by index, that one fold sends.
type foldGroup struct {
	fold *fold
	reqs []int
}

// foldGroups gathers the requests of batch by their fold, in the order the
// folds first appear.
func foldGroups(batch []insertRequest) []foldGroup {
	var groups []foldGroup
	for i, req := range batch {
		if req.fold == nil {
			continue
		}
		g := slices.IndexFunc(groups, func(g foldGroup) bool { return g.fold == req.fold })
		if g < 0 {
			groups = append(groups, foldGroup{fold: req.fold})
			g = len(groups) - 1
		}
		groups[g].reqs = append(groups[g].reqs, i)
	}
	return groups
}

// insertKey is the dedup key of an insert: its unique (subchannel_id,
// external_id).
type insertKey struct {
	subchannel int64
	external   string
}

func keyOf(req insertRequest) insertKey {
	sub, _ := req.args["subchannel"].(int)
	ext, _ := req.args["external"].(string)
	return insertKey{int64(sub), ext}
}

// foldInserts picks the inserts of batch that go in its one INSERT
// statement, by the index into batch in the order of their keys (so that
// two batches inserting the same keys lock them in one order rather than
// deadlock), and the inserts under a key an earlier one took, which run
// after the commit, each alone.
func foldInserts(batch []insertRequest) (folded, later []int) {
	seen := map[insertKey]bool{}
	for i, req := range batch {
		if req.exec != "" {
			continue
		}
		k := keyOf(req)
		if seen[k] {
			later = append(later, i)
			continue
		}
		seen[k] = true
		folded = append(folded, i)
	}
	slices.SortStableFunc(folded, func(a, b int) int {
		ka, kb := keyOf(batch[a]), keyOf(batch[b])
		return cmp.Or(cmp.Compare(ka.subchannel, kb.subchannel), strings.Compare(ka.external, kb.external))
	})
	return folded, later
}

// insertColumns are enqueueQuery's arguments (insertArgs) with the
// type of their column, in foldedInsertQuery's order.
var insertColumns = []column{
	{"subchannel", "bigint"}, {"external", "text"}, {"message_id", "text"}, {"subject", "text"},
	{"from", "text"}, {"size", "bigint"}, {"ticket", "bigint"}, {"origin", "bytea"}, {"raw", "bytea"},
	{"digest", "bytea"}, {"variant", "integer"}, {"variant_of", "text"}, {"received", "timestamptz"},
	{"now", "timestamptz"}, {"due", "timestamptz"},
	{"state", "text"}, {"lease_until", "timestamptz"}, {"holder", "text"}, {"attempts", "integer"},
}

// foldedInsertQuery is enqueueQuery for many messages, each argument an
// array with an element per message. Rows go in the arrays' order.
var foldedInsertQuery = `
	INSERT INTO message (subchannel_id, external_id, message_id, subject, from_addr,
		state, size, ticket_id, origin, raw, digest, variant, variant_of,
		received_at, created_at, updated_at, next_attempt_at,
		lease_until, claimed_by, attempts, claims)
	SELECT "subchannel", "external", "message_id", "subject", "from",
		"state", "size", "ticket", "origin", "raw", "digest", "variant", "variant_of",
		"received", "now", "now", "due",
		"lease_until", "holder", "attempts", "attempts"
	FROM ` + unnest(insertColumns) + `
	ORDER BY ord
	ON CONFLICT (subchannel_id, external_id) DO NOTHING
	RETURNING subchannel_id, external_id, id`

// foldedArgs are foldedInsertQuery's arguments for the inserts folded.
func foldedArgs(batch []insertRequest, folded []int) pgx.NamedArgs {
	args := pgx.NamedArgs{}
	for _, c := range insertColumns {
		col := make([]any, len(folded))
		for j, i := range folded {
			col[j] = batch[i].args[c.name]
		}
		args[c.name] = col
	}
	return args
}
