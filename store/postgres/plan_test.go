package postgres

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/store"
)

// A claim walks message_due in order and stops after its limit: it neither
// reads every due message and sorts them, nor passes over the messages
// under lease. The table is young, without statistics, as a new queue's
// is, where the planner would otherwise pick a bitmap scan and a sort.
func TestClaimPlanWalksDueIndex(t *testing.T) {
	s := openTest(t, testenv.UsePostgres(t).Schema(t, "plan"))
	defer s.Close()
	ctx := t.Context()
	now := time.Now()
	for i := range 300 {
		key := fmt.Sprintf("m%d", i)
		m := store.NewMessage{SubchannelID: 1, ExternalID: key, Raw: []byte("raw " + key), ReceivedAt: now}
		if _, err := s.Enqueue(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// The oldest messages are under lease, at the head of the queue.
	if claims, err := s.Claim(ctx, now.Add(time.Second), time.Hour, 40); err != nil || len(claims) != 40 {
		t.Fatalf("Claim = %d, %v; want 40", len(claims), err)
	}

	plan := explain(t, s, claimQuery, pgx.NamedArgs{
		"now":         s.clock.toDB(now.Add(time.Second)),
		"limit":       4,
		"lease_until": s.clock.toDB(now.Add(time.Minute)),
		"wall":        now,
		"holder":      "",
		"claim_raw":   store.ClaimRaw,
	})
	if got := queryString(t, s, "SHOW enable_bitmapscan"); got != "off" {
		t.Errorf("enable_bitmapscan = %s, want off", got)
	}
	// The one sort is of the claim's own rows, at most limit of them,
	// for the raw bytes it reads (store.ClaimRaw).
	if !strings.Contains(plan, "Index Scan using message_due") ||
		strings.Count(plan, "Sort Key") != strings.Count(plan, "Sort Key: locked.next_attempt_at, locked.id") ||
		strings.Contains(plan, "Bitmap") || strings.Contains(plan, "Rows Removed by Filter") {
		t.Fatalf("claim plan:\n%s", plan)
	}

	// A report finds its message by the primary key, not by a walk of
	// the pending messages.
	plan = explain(t, s, reportQuery("state = 'delivered'"), pgx.NamedArgs{"id": 1, "attempt": 1, "now": now})
	if !strings.Contains(plan, "Index Scan using message_pkey") {
		t.Fatalf("report plan:\n%s", plan)
	}
}

// explain runs EXPLAIN ANALYZE of sql with args and returns the plan.
func explain(t *testing.T, s *Store, sql string, args pgx.NamedArgs) string {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), "EXPLAIN (ANALYZE, BUFFERS) "+sql, args)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// Raw mail is compressed with lz4 where the server has it (PostgreSQL 14
// and later, built with lz4, as Debian's is).
func TestRawCompression(t *testing.T) {
	s := openTest(t, testenv.UsePostgres(t).Schema(t, "lz4"))
	defer s.Close()
	if queryString(t, s, "SELECT (current_setting('server_version_num')::int >= 140000)::text") != "true" {
		t.Skip("PostgreSQL before 14 compresses with pglz only")
	}
	if got := queryString(t, s, `SELECT attcompression::text FROM pg_attribute
		WHERE attrelid = 'message'::regclass AND attname = 'raw'`); got != "l" {
		t.Fatalf("raw column compression %q, want l (lz4)", got)
	}
}

// The lookups by state walk indexes that hold only the messages in the
// states they ask for: TakeOverDead the announced claims, List the dead
// ones. Neither reads the delivered history, with or without statistics;
// no index takes an entry for every message's state.
func TestStatePlansWalkPartialIndexes(t *testing.T) {
	s, _ := openSeeded(t, "stateplan")
	defer s.Close()
	ctx := t.Context()
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO message (subchannel_id, external_id, message_id, subject, from_addr, state, size,
			received_at, created_at, updated_at, next_attempt_at, lease_until, claimed_by, raw)
		SELECT subchannel_id, 'm' || g, message_id, subject, from_addr,
			CASE WHEN g % 1000 = 0 THEN 'dead' WHEN g % 1000 = 1 THEN 'inflight' ELSE 'delivered' END, size,
			received_at, created_at, updated_at, next_attempt_at,
			CASE WHEN g % 1000 = 1 THEN now() + interval '1 hour' END,
			CASE WHEN g % 1000 = 1 THEN 'gone' END, raw
		FROM message, generate_series(1, 50000) AS g WHERE external_id = 'seed'`); err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, s, `SELECT count(*)::text FROM pg_indexes
		WHERE tablename = 'message' AND schemaname = current_schema() AND indexdef NOT LIKE '% WHERE %'`); got != "2" {
		t.Errorf("%s indexes on message without a predicate, want 2 (the primary key and the dedup key)", got)
	}
	check := func(stats string) {
		t.Helper()
		list, args := listQuery(store.Filter{States: []store.State{store.Dead}, Limit: 10})
		for _, q := range []struct {
			name, sql, index string
			args             []any
		}{
			{"TakeOverDead", takeOverQuery, "message_claimed", []any{int64(0)}},
			{"List(dead)", list, "message_parked", []any{args}},
		} {
			rows, err := s.pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q.sql, q.args...)
			if err != nil {
				t.Fatal(err)
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			plan := strings.Join(lines, "\n")
			if !strings.Contains(plan, "using "+q.index) || strings.Contains(plan, "Seq Scan on message") {
				t.Errorf("%s plan %s:\n%s", q.name, stats, plan)
			}
		}
	}
	check("without statistics")
	if _, err := s.pool.Exec(ctx, `ANALYZE message`); err != nil {
		t.Fatal(err)
	}
	check("with statistics")
}

// openSeeded opens a store on a new schema with one queued message,
// external id "seed", received at now, for a test to copy into a history.
func openSeeded(t *testing.T, schema string) (s *Store, now time.Time) {
	t.Helper()
	s = openTest(t, testenv.UsePostgres(t).Schema(t, schema))
	now = time.Now()
	if _, err := s.Enqueue(t.Context(), store.NewMessage{SubchannelID: 1, ExternalID: "seed", Raw: []byte("raw"), ReceivedAt: now}); err != nil {
		s.Close()
		t.Fatal(err)
	}
	return s, now
}
