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
	})
	if got := queryString(t, s, "SHOW enable_bitmapscan"); got != "off" {
		t.Errorf("enable_bitmapscan = %s, want off", got)
	}
	if !strings.Contains(plan, "Index Scan using message_due") || strings.Contains(plan, "Sort") ||
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
