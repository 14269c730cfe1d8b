package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"
)

// newHolder names this instance: host, process id and a random part, so
// that a restarted process is another instance.
func newHolder() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%08x", host, os.Getpid(), rand.Uint32())
}

// instanceLease is the name of holder's liveness lease.
func instanceLease(holder string) string { return "instance:" + holder }

// Announce records that this instance is alive for ttl from now, by the
// database's clock, in the lease table.
func (s *Store) Announce(ctx context.Context, ttl time.Duration) error {
	_, err := s.TakeLease(ctx, instanceLease(s.holder), s.holder, ttl)
	return err
}

// Withdraw ends this instance's liveness lease (a clean shutdown).
func (s *Store) Withdraw(ctx context.Context) error {
	return s.DropLease(ctx, instanceLease(s.holder), s.holder)
}

// TakeOverDead ends the leases of the inflight messages whose claimer has
// no live liveness lease, so that the next claim, of any instance, takes
// them over as uncertain attempts. Claims made before instances announced
// themselves (claimed_by NULL) wait for their leases as before.
func (s *Store) TakeOverDead(ctx context.Context) (int, error) {
	tag, err := s.pool.Exec(ctx, `
		UPDATE message SET lease_until = clock_timestamp() - interval '1 millisecond'
		WHERE state = 'inflight' AND lease_until > clock_timestamp()
			AND claimed_by IS NOT NULL
			AND NOT EXISTS (
				SELECT 1 FROM lease
				WHERE lease.name = 'instance:' || message.claimed_by
					AND lease.expires_at > clock_timestamp())`)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// Hasten makes every queued message whose next attempt lies after now due
// at now, and returns how many it moved.
func (s *Store) Hasten(ctx context.Context, now time.Time) (int, error) {
	due := s.clock.toDB(now)
	tag, err := s.pool.Exec(ctx, `
		UPDATE message SET next_attempt_at = $1
		WHERE state = 'queued' AND next_attempt_at > $1`, due)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
