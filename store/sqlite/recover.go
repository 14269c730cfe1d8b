package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// Hasten makes queued messages whose next attempt lies after now due at
// now, oldest first, up to limit (0: all), and returns how many it moved.
func (s *Store) Hasten(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = -1 // SQLite's "no limit"
	}
	return s.update(ctx, `
		UPDATE message SET next_attempt_at = :now
		WHERE id IN (
			SELECT id FROM message
			WHERE state = 'queued' AND next_attempt_at > :now AND not_before <= :now
			ORDER BY next_attempt_at, id
			LIMIT :limit)`,
		sql.Named("now", unixMilli(now)), sql.Named("limit", limit))
}

// ExpireLeases shortens the lease of every inflight message to grace from
// now, so that a claim then takes it over as an attempt whose outcome is
// unknown; the grace lets a request the dead process sent last finish at
// the API first. Only the one process that owns the database may call it,
// at its start, before it claims anything: every lease then belongs to a
// process that is gone.
func (s *Store) ExpireLeases(ctx context.Context, now time.Time, grace time.Duration) (int, error) {
	return s.update(ctx, `
		UPDATE message SET lease_until = :until
		WHERE state = 'inflight' AND lease_until > :until`,
		sql.Named("until", unixMilli(now.Add(grace))))
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
