package postgres

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/store"
)

// runBatch commits reqs as one batch, as the batcher does with the
// inserts waiting together, and returns their results in order.
func runBatch(s *Store, reqs []insertRequest) []insertResult {
	for i := range reqs {
		reqs[i].done = make(chan insertResult, 1)
	}
	s.batch.run(reqs)
	out := make([]insertResult, len(reqs))
	for i, r := range reqs {
		out[i] = <-r.done
	}
	return out
}

func TestInsertBatch(t *testing.T) {
	s := openTest(t, testenv.UsePostgres(t).Schema(t, "batch"))
	defer s.Close()
	ctx := t.Context()
	req := func(ctx context.Context, key string) insertRequest {
		m := store.NewMessage{SubchannelID: 1, ExternalID: key, Raw: []byte("raw " + key)}
		return insertRequest{ctx: ctx, args: s.insertArgs(m, key, 1, nil)}
	}
	wantRaw := func(r insertResult, key string) {
		t.Helper()
		if r.err != nil || !r.ok {
			t.Fatalf("insert %s = %+v, want a new row", key, r)
		}
		_, raw, err := s.Get(ctx, r.id)
		if err != nil || string(raw) != "raw "+key {
			t.Fatalf("Get(%d) = %q, %v; want %q", r.id, raw, err, "raw "+key)
		}
	}

	// A key taken earlier in the same batch is taken, as after a commit.
	got := runBatch(s, []insertRequest{req(ctx, "a"), req(ctx, "a"), req(ctx, "b")})
	wantRaw(got[0], "a")
	if got[1].ok || got[1].err != nil {
		t.Errorf("second insert of a = %+v, want the key taken", got[1])
	}
	wantRaw(got[2], "b")

	// One failing insert fails the transaction; the others are committed
	// one by one and the failure is its caller's alone.
	bad := req(ctx, "bad")
	bad.args["size"] = "not a number"
	got = runBatch(s, []insertRequest{req(ctx, "c"), bad, req(ctx, "d")})
	wantRaw(got[0], "c")
	if got[1].err == nil {
		t.Errorf("bad insert = %+v, want an error", got[1])
	}
	wantRaw(got[2], "d")

	// A caller that gave up does not cancel the batch of those waiting.
	gone, cancel := context.WithCancel(ctx)
	cancel()
	got = runBatch(s, []insertRequest{req(gone, "e"), req(ctx, "f")})
	wantRaw(got[0], "e")
	wantRaw(got[1], "f")

	msgs, err := s.List(ctx, store.Filter{})
	if err != nil || len(msgs) != 6 {
		t.Fatalf("List = %d messages, %v; want 6", len(msgs), err)
	}

	// Reports go in batches too, each with its own fence.
	claims, err := s.Claim(ctx, time.Now().Add(time.Hour), time.Minute, 2)
	if err != nil || len(claims) != 2 {
		t.Fatalf("Claim = %d, %v; want 2", len(claims), err)
	}
	report := func(c store.Claim, attempt int) insertRequest {
		return insertRequest{ctx: ctx, exec: `UPDATE message SET state = 'delivered', lease_until = NULL
			WHERE id = @id AND state = 'inflight' AND claims = @attempt`,
			args: pgx.NamedArgs{"id": c.ID, "attempt": attempt}}
	}
	got = runBatch(s, []insertRequest{report(claims[0], claims[0].Attempt), report(claims[1], claims[1].Attempt+1), req(ctx, "g")})
	if !got[0].ok || got[0].err != nil || got[1].ok || got[1].err != nil {
		t.Fatalf("reports = %+v, %+v; want the first to change its row and the stale one not", got[0], got[1])
	}
	wantRaw(got[2], "g")
	if m, _, err := s.Get(ctx, claims[0].ID); err != nil || m.State != store.Delivered {
		t.Errorf("reported message = %+v, %v; want delivered", m, err)
	}
	if m, _, err := s.Get(ctx, claims[1].ID); err != nil || m.State != store.Inflight {
		t.Errorf("message of the stale report = %+v, %v; want still inflight", m, err)
	}
}

// The participants of a batch go as one statement, beside the reports,
// with the answers each would have had alone.
func TestFoldedBatch(t *testing.T) {
	s := openTest(t, testenv.UsePostgres(t).Schema(t, "foldbatch"))
	defer s.Close()
	ctx := t.Context()
	for i := range 3 {
		key := string(rune('a' + i))
		if _, err := s.Enqueue(ctx, store.NewMessage{SubchannelID: 1, ExternalID: key, Raw: []byte(key)}); err != nil {
			t.Fatal(err)
		}
	}
	claims, err := s.Claim(ctx, time.Now().Add(time.Hour), time.Minute, 3)
	if err != nil || len(claims) != 3 {
		t.Fatalf("Claim = %d, %v; want 3", len(claims), err)
	}
	now := time.Now()
	complete := func(c store.Claim, attempt int, ticket int64) insertRequest {
		return insertRequest{ctx: ctx, exec: reportQuery(`state = 'delivered', lease_until = NULL,
			ticket_id = @ticket, conversation_id = @conversation`), args: pgx.NamedArgs{
			"id": c.ID, "attempt": attempt, "ticket": ticket, "conversation": ticket + 100, "now": now}}
	}
	participants := func(ticket int64, addresses ...string) insertRequest {
		return insertRequest{ctx: ctx, exec: participantsFold.one, fold: participantsFold, args: pgx.NamedArgs{
			"subchannel": 1, "ticket": ticket, "addresses": addresses, "now": now}}
	}
	got := runBatch(s, []insertRequest{
		complete(claims[0], claims[0].Attempt, 7),
		participants(7, "a@x", "b@x"),
		complete(claims[1], claims[1].Attempt+1, 8), // stale
		complete(claims[0], claims[0].Attempt, 9),   // the same claim again
		participants(8, "a@x"),
		complete(claims[2], claims[2].Attempt, 10),
		participants(7, "b@x", "c@x"),
	})
	for i, want := range []bool{true, true, false, false, true, true, true} {
		if got[i].err != nil || got[i].ok != want {
			t.Errorf("request %d = %+v, want ok %v", i, got[i], want)
		}
	}
	for _, w := range []struct {
		c      store.Claim
		state  store.State
		ticket int64
	}{{claims[0], store.Delivered, 7}, {claims[1], store.Inflight, 0}, {claims[2], store.Delivered, 10}} {
		m, _, err := s.Get(ctx, w.c.ID)
		if err != nil || m.State != w.state || m.TicketID != w.ticket || (w.ticket != 0 && m.ConversationID != w.ticket+100) {
			t.Errorf("message %d = %+v, %v; want %s on ticket %d", w.c.ID, m, err, w.state, w.ticket)
		}
	}
	for ticket, want := range map[int64]string{7: "a@x b@x c@x", 8: "a@x"} {
		got, err := s.Participants(ctx, 1, ticket)
		slices.Sort(got)
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("Participants(%d) = %v, %v; want %s", ticket, got, err, want)
		}
	}
}

func TestGatherBoundsBytes(t *testing.T) {
	requests := make(chan insertRequest, 100)
	mail := func(n int) insertRequest { return insertRequest{args: pgx.NamedArgs{"raw": make([]byte, n)}} }
	for range 10 {
		requests <- mail(10 << 20)
	}
	var sizes []int
	for len(requests) > 0 {
		sizes = append(sizes, len(gather(<-requests, requests)))
	}
	// 10 MiB mails: a batch stops at the one that reaches 32 MiB.
	if want := []int{4, 4, 2}; !slices.Equal(sizes, want) {
		t.Errorf("batches of 10 MiB mails = %v, want %v", sizes, want)
	}

	for range maxInsertBatch + 3 {
		requests <- mail(100)
	}
	updates := []int{len(gather(<-requests, requests)), len(gather(<-requests, requests))}
	if want := []int{maxInsertBatch, 3}; !slices.Equal(updates, want) {
		t.Errorf("batches of small mails = %v, want %v", updates, want)
	}
}

// Small statements go one batch at a time, so that those arriving while
// one is under way are committed together after it; an insert of large
// mail does not wait behind them.
func TestBatchLanes(t *testing.T) {
	s := openTest(t, testenv.UsePostgres(t).Schema(t, "lanes"))
	defer s.Close()
	ctx := t.Context()
	insert := func(key string, size int) int64 {
		t.Helper()
		m := store.NewMessage{SubchannelID: 1, ExternalID: key, Raw: bytes.Repeat([]byte("x"), size)}
		id, ok, err := s.batch.insert(ctx, s.insertArgs(m, key, 1, nil))
		if err != nil || !ok {
			t.Fatalf("insert %s = %v, %v", key, ok, err)
		}
		return id
	}
	blocked, other := insert("blocked", 100), insert("other", 100)

	// A transaction of the test's own holds the row the first batch updates.
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // released below
	var holder int
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid() FROM message WHERE id = $1 FOR UPDATE`, blocked).Scan(&holder); err != nil {
		t.Fatal(err)
	}
	update := func(id int64, note string) <-chan error {
		done := make(chan error, 1)
		go func() {
			ok, err := s.batch.update(ctx, `UPDATE message SET last_error = @note WHERE id = @id`,
				pgx.NamedArgs{"id": id, "note": note})
			if err == nil && !ok {
				err = errors.New("no row changed")
			}
			done <- err
		}()
		return done
	}
	sent := time.Now()
	first := update(blocked, "first")
	waitBlockedBy(t, s, holder, "the first batch never waited for the row lock")

	// A large insert goes while the small batch waits.
	large := make(chan int64, 1)
	go func() { large <- insert("large", largeRaw) }()
	select {
	case <-large:
	case <-time.After(20 * time.Second):
		t.Fatal("an insert of large mail waited for the small batch under way")
	}

	// A small statement waits for the batch under way, as long as that
	// holds the lane (smallStall from its start, which came after sent).
	second := update(other, "second")
	select {
	case err := <-second:
		if time.Since(sent) < smallStall {
			t.Fatalf("a small statement was committed (%v) while the batch before it waited", err)
		}
		if err != nil {
			t.Fatalf("second update: %v", err)
		}
		second = nil
	case <-time.After(min(300*time.Millisecond, time.Until(sent.Add(smallStall)))):
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for name, done := range map[string]<-chan error{"first": first, "second": second} {
		if done == nil {
			continue
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s update: %v", name, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s update not committed after the lock was let go", name)
		}
	}
}

// A small batch that waits long on a lock, here another instance's
// insert under the same key that does not commit, holds the lane only for
// smallStall: the instance's reports go on meanwhile.
func TestSmallLaneStall(t *testing.T) {
	s := openTest(t, testenv.UsePostgres(t).Schema(t, "stall"))
	defer s.Close()
	ctx := t.Context()
	if _, err := s.Enqueue(ctx, store.NewMessage{SubchannelID: 1, ExternalID: "other", Raw: []byte("other")}); err != nil {
		t.Fatal(err)
	}
	claims, err := s.Claim(ctx, time.Now(), time.Minute, 1)
	if err != nil || len(claims) != 1 {
		t.Fatalf("Claim = %v, %v", claims, err)
	}

	// The other instance's insert, under way.
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // released below
	stuck := store.NewMessage{SubchannelID: 1, ExternalID: "stuck", Raw: []byte("stuck")}
	if _, err := tx.Exec(ctx, enqueueQuery, s.insertArgs(stuck, "stuck", 1, nil)); err != nil {
		t.Fatal(err)
	}
	var holder int
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&holder); err != nil {
		t.Fatal(err)
	}
	// An IMAP poller's Enqueue, whose context has no deadline.
	enqueued := make(chan error, 1)
	go func() {
		_, err := s.Enqueue(ctx, stuck)
		enqueued <- err
	}()
	waitBlockedBy(t, s, holder, "the enqueue never waited for the other insert")

	// A delivery's record, with its bound.
	rctx, cancel := context.WithTimeout(ctx, 10*smallStall)
	defer cancel()
	if err := s.Complete(rctx, claims[0].ID, claims[0].Attempt, store.Outcome{TicketID: 1}); err != nil {
		t.Fatalf("Complete while a batch waits on a lock: %v", err)
	}

	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-enqueued:
		if err != nil {
			t.Fatalf("Enqueue after the other insert rolled back: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Enqueue not done after the other insert rolled back")
	}
}

// A caller whose context ends while its batch is under way returns then:
// the batch goes on for the callers that still wait (batchContext), which
// may be as long as the lock it waits on is held, and a caller's own
// bound (a delivery's record, an SMTP transaction) is its own.
func TestSendEndsWithItsContext(t *testing.T) {
	b := &batcher{small: make(chan insertRequest), large: make(chan insertRequest), closing: make(chan struct{})}
	taken := make(chan insertRequest, 1)
	go func() { taken <- <-b.small }() // a batch that does not answer yet
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := b.update(ctx, `UPDATE message SET last_error = '' WHERE id = 1`, pgx.NamedArgs{})
		done <- err
	}()
	req := <-taken
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("update = %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("update waited for its batch past its context")
	}
	req.done <- insertResult{ok: true} // the batch's answer, come later, is dropped
}

// waitBlockedBy waits, at most 20 s, until a session waits on a lock of
// the backend holder, else fails with never. Only holder's waiters count:
// the server's other sessions (another run of the test among them) may
// wait on locks of their own.
func waitBlockedBy(t *testing.T, s *Store, holder int, never string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for waiting := 0; waiting == 0; {
		if err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE $1::integer = ANY(pg_blocking_pids(pid))`, holder).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal(never)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
