package postgres

import (
	"context"
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
