package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// pruneQuery empties the raw column of up to @limit messages delivered
// before @before, oldest first, walking message_prunable. Rows another instance is
// pruning at the same moment are skipped, not waited for.
const pruneQuery = `
	UPDATE message SET raw = ''
	WHERE id IN (
		SELECT id FROM message
		WHERE state = 'delivered' AND raw <> '' AND delivered_at < @before
		ORDER BY delivered_at
		LIMIT @limit
		FOR UPDATE SKIP LOCKED)`

// Prune empties the raw column of up to limit messages delivered before
// before (see pruneQuery).
func (s *Store) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, pruneQuery, pgx.NamedArgs{"before": before, "limit": limit})
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
