package postgres

import (
	"context"
	"time"
)

// Prune empties the raw column of up to limit messages delivered before
// before, oldest first, walking message_prunable. Rows another instance
// is pruning at the same moment are skipped, not waited for.
func (s *Store) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE message SET raw = ''
		WHERE id IN (
			SELECT id FROM message
			WHERE state = 'delivered' AND raw <> '' AND delivered_at < $1
			ORDER BY delivered_at
			LIMIT $2
			FOR UPDATE SKIP LOCKED)`, before, limit)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
