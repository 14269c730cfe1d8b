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

// Prune walks message_prunable, which holds only the delivered messages
// that still have raw bytes: a long pruned history costs it nothing, with
// or without statistics.
func TestPrunePlanWalksPrunableIndex(t *testing.T) {
	s, now := openSeeded(t, "pruneplan")
	defer s.Close()
	ctx := t.Context()
	// 50000 delivered messages, all but the last 100 pruned, and a few
	// queued ones with their raw bytes.
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO message (subchannel_id, external_id, message_id, subject, from_addr, state, size,
			received_at, created_at, updated_at, next_attempt_at, delivered_at, raw)
		SELECT subchannel_id, 'm' || g, message_id, subject, from_addr,
			CASE WHEN g % 1000 = 0 THEN 'queued' ELSE 'delivered' END, size,
			received_at, created_at, updated_at, next_attempt_at,
			CASE WHEN g % 1000 <> 0 THEN $1::timestamptz - (50001 - g) * interval '1 second' END,
			CASE WHEN g > 49900 OR g % 1000 = 0 THEN raw ELSE '' END
		FROM message, generate_series(1, 50000) AS g WHERE external_id = 'seed'`, now); err != nil {
		t.Fatal(err)
	}
	check := func(stats string) {
		t.Helper()
		// EXPLAIN ANALYZE runs the statement: each check prunes 10.
		plan := explain(t, s, pruneQuery, pgx.NamedArgs{"before": now, "limit": 10})
		if !strings.Contains(plan, "using message_prunable") || strings.Contains(plan, "Seq Scan on message") ||
			strings.Contains(plan, "Sort") {
			t.Errorf("prune plan %s:\n%s", stats, plan)
		}
	}
	check("without statistics")
	if _, err := s.pool.Exec(ctx, `ANALYZE message`); err != nil {
		t.Fatal(err)
	}
	check("with statistics")
	if n, err := s.Prune(ctx, now.Add(time.Second), 1000); err != nil || n != 99-20 {
		t.Errorf("Prune = %d, %v; want the %d delivered messages left with raw bytes", n, err, 99-20)
	}
}

// A queue of the version before message_prunable keeps the raw bytes of
// all its delivered mail; once migrated, Prune removes those of the mail
// delivered before its cut-off and of no other.
func TestMigratePrunable(t *testing.T) {
	dsn := testenv.UsePostgres(t).Schema(t, "migrateprunable")
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	const before = 13 // the version without message_prunable
	insert := `INSERT INTO message (subchannel_id, external_id, message_id, subject, from_addr, state, size,
			received_at, created_at, updated_at, next_attempt_at, delivered_at, raw)
		VALUES (1, '%s', '', 's', 'f', '%s', 1, now(), now(), now(), now(), %s, 'x')`
	for _, q := range append(migrations[:before:before],
		`CREATE TABLE schema_version (version integer NOT NULL)`,
		`INSERT INTO schema_version VALUES (13)`,
		fmt.Sprintf(insert, "old@x", "delivered", "now() - interval '30 days'"),
		fmt.Sprintf(insert, "new@x", "delivered", "now()"),
		fmt.Sprintf(insert, "dead@x", "dead", "NULL"),
	) {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close(t.Context())

	s := openTest(t, dsn)
	defer s.Close()
	if n, err := s.Prune(t.Context(), time.Now().Add(-24*time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("Prune after the migration = %d, %v; want 1", n, err)
	}
	msgs, err := s.List(t.Context(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		_, raw, err := s.Get(t.Context(), m.ID)
		if err != nil || (len(raw) == 0) != (m.ExternalID == "old@x") {
			t.Errorf("%s after Prune: %d raw bytes, %v", m.ExternalID, len(raw), err)
		}
	}
}
