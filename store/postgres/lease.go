package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// TakeLease takes or renews the lease on name. Expiry is by the database's
// clock, so the instances' clocks need not agree.
func (s *Store) TakeLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	var got string
	err := s.pool.QueryRow(ctx, `
		INSERT INTO lease (name, holder, expires_at)
		VALUES ($1, $2, clock_timestamp() + $3 * interval '1 millisecond')
		ON CONFLICT (name) DO UPDATE SET
			holder = excluded.holder,
			expires_at = excluded.expires_at
		WHERE lease.holder = excluded.holder OR lease.expires_at <= clock_timestamp()
		RETURNING holder`, text(name), text(holder), ttl.Milliseconds()).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// DropLease ends holder's lease on name.
func (s *Store) DropLease(ctx context.Context, name, holder string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM lease WHERE name = $1 AND holder = $2`, text(name), text(holder))
	return err
}
