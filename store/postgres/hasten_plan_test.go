package postgres

import (
	"strings"
	"testing"
)

// The pilot's Hasten(1), run at every probe while the API is down, walks
// the waiting messages in order and stops after the first, rather than
// reading every message (delivered ones included) and sorting the queued
// ones: an outage is when the queue is long.
func TestHastenPlanWalksAnIndex(t *testing.T) {
	s, now := openSeeded(t, "hastenplan")
	defer s.Close()
	ctx := t.Context()
	// A history of delivered mail and a backlog waiting for its retry.
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO message (subchannel_id, external_id, message_id, subject, from_addr, state, size,
			received_at, created_at, updated_at, next_attempt_at, raw)
		SELECT subchannel_id, 'm' || g, message_id, subject, from_addr,
			CASE WHEN g % 10 = 0 THEN 'queued' ELSE 'delivered' END, size,
			received_at, created_at, updated_at, next_attempt_at + g * interval '1 second', raw
		FROM message, generate_series(1, 50000) AS g WHERE external_id = 'seed'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE message`); err != nil {
		t.Fatal(err)
	}
	due := s.clock.toDB(now)
	rows, err := s.pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+hastenQuery, due, 1)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	if strings.Contains(plan, "Seq Scan on message") || strings.Contains(plan, "Sort") {
		t.Fatalf("Hasten(1) plan:\n%s", plan)
	}
}
