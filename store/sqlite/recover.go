package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// Hasten makes every queued message whose next attempt lies after now due
// at now, and returns how many it moved.
func (s *Store) Hasten(ctx context.Context, now time.Time) (int, error) {
	return s.update(ctx, `
		UPDATE message SET next_attempt_at = :now
		WHERE state = 'queued' AND next_attempt_at > :now`,
		sql.Named("now", unixMilli(now)))
}

// ExpireLeases ends the lease of every inflight message, so that the next
// claim takes it over as an attempt whose outcome is unknown. Only the one
// process that owns the database may call it, at its start, before it
// claims anything: every lease then belongs to a process that is gone.
func (s *Store) ExpireLeases(ctx context.Context, now time.Time) (int, error) {
	return s.update(ctx, `
		UPDATE message SET lease_until = :past
		WHERE state = 'inflight' AND lease_until > :past`,
		sql.Named("past", unixMilli(now)-1))
}

// update runs one UPDATE and returns how many rows it changed.
func (s *Store) update(ctx context.Context, query string, args ...any) (int, error) {
	var n int64
	err := s.write(ctx, func(tx wtx) error {
		res, err := tx.exec(query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
