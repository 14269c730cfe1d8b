package postgres

import (
	"context"
	"time"
)

// instanceLease is the name of holder's liveness lease.
func instanceLease(holder string) string { return "instance:" + holder }

// Announce records that this instance is alive for ttl from now, by the
// database's clock, in the lease table. From the first announcement on,
// this instance's claims carry its name (see claimer).
func (s *Store) Announce(ctx context.Context, ttl time.Duration) error {
	if _, err := s.TakeLease(ctx, instanceLease(s.holder), s.holder, ttl); err != nil {
		return err
	}
	s.announced.Store(true)
	return nil
}

// claimer is the name a claim carries: this instance's once it announced
// itself, none before. A process that never announces itself (mailbridge
// deliver) leaves its claims to their leases, or every daemon would take
// them over at once.
func (s *Store) claimer() string {
	if s.announced.Load() {
		return s.holder
	}
	return ""
}

// Withdraw ends this instance's liveness lease (a clean shutdown).
func (s *Store) Withdraw(ctx context.Context) error {
	return s.DropLease(ctx, instanceLease(s.holder), s.holder)
}

// instanceRowsKept is how long the liveness row of an instance that died
// stays in the lease table.
const instanceRowsKept = time.Hour

// TakeOverDead shortens to grace from now the leases of the inflight
// messages whose claimer has no live liveness lease, so that a claim, of
// any instance, then takes them over as uncertain attempts. Claims made
// without an announcement (claimed_by NULL) wait for their leases. It
// also deletes the liveness rows of instances dead for long.
func (s *Store) TakeOverDead(ctx context.Context, grace time.Duration) (int, error) {
	tag, err := s.pool.Exec(ctx, takeOverQuery, grace.Milliseconds())
	if err != nil {
		return 0, err
	}
	if _, err := s.pool.Exec(ctx, `
		DELETE FROM lease WHERE name LIKE 'instance:%'
			AND expires_at < clock_timestamp() - $1 * interval '1 millisecond'`, instanceRowsKept.Milliseconds()); err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// takeOverQuery shortens to $1 ms from now the leases of the announced
// claims whose claimer has no live liveness lease. It walks message_claimed
// (schema.go) from the new lease end on: the time is a subquery's, which
// an index scan takes as a bound, where clock_timestamp() itself would be
// evaluated row by row.
const takeOverQuery = `
	UPDATE message SET lease_until = t.until
	FROM (SELECT clock_timestamp() + $1 * interval '1 millisecond' AS until) AS t
	WHERE state = 'inflight' AND claimed_by IS NOT NULL AND lease_until > t.until
		AND NOT EXISTS (
			SELECT 1 FROM lease
			WHERE lease.name = 'instance:' || message.claimed_by
				AND lease.expires_at > clock_timestamp())`

// hastenQuery makes up to $2 (NULL: all) queued messages due after $1 due
// at $1 and not held back past it, oldest first. A queued message's due
// time (dueAt) is its next_attempt_at: the walk takes message_due in order,
// as Claim does, passing over only the few messages under lease.
const hastenQuery = `
	UPDATE message SET next_attempt_at = $1
	WHERE id IN (
		SELECT id FROM message
		WHERE state IN ('queued', 'inflight') AND next_attempt_at IS NOT NULL
			AND ` + dueAt + ` > $1 AND state = 'queued'
			AND (not_before IS NULL OR not_before <= $1)
		ORDER BY ` + dueAt + `, id
		LIMIT $2)`

// Hasten makes queued messages whose next attempt lies after now due at
// now, oldest first, up to limit (0: all), and returns how many it moved.
func (s *Store) Hasten(ctx context.Context, now time.Time, limit int) (int, error) {
	due := s.clock.toDB(now)
	var lim any
	if limit > 0 {
		lim = limit
	}
	tag, err := s.pool.Exec(ctx, hastenQuery, due, lim)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
