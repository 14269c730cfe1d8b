package postgres

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/internal/sqlrow"
)

// The database's clock.
//
// Instances compare each other's times: an instance claims a message
// whose lease another set, or whose retry another scheduled. Stamped with
// each instance's own clock, an instance whose clock ran ahead would take
// over messages still being delivered, and one whose clock lagged would
// retry too early. So lease_until and next_attempt_at are kept on the
// database's clock: each instance reads the database's clock and shifts
// the times it writes and compares by how far its own is off. What the
// store returns is on the caller's clock again: a claim's LeaseUntil,
// which the worker's deadline derives from, and NextAttemptAt. The other
// stamps (created, updated, delivered) are the writing instance's own, as
// the age limit compares CreatedAt with the same instance's clock.
//
// The reading is anchored to the monotonic clock: the offset is the
// database's time at the reading, plus the monotonic time since, minus
// this instance's wall clock now. So when NTP steps the instance's clock,
// the offset follows at once rather than at the next reading, which only
// catches the drift between the two clocks (every clockRefresh).
//
// Offsets within clockDeadband count as none: a reading is only as good
// as half a round trip, and on a shared clock (the same host, or both kept
// by NTP) a shift of a few milliseconds would only blur times that agree.
// The deadband is far below the lease's safety margin (a tenth of the
// lease, 30 s by default).

const (
	clockDeadband = 100 * time.Millisecond
	clockRefresh  = time.Minute
	clockSamples  = 3
)

type dbClock struct {
	now     func() time.Time // this instance's wall clock
	reading atomic.Pointer[clockReading]
	stop    context.CancelFunc
	done    sync.WaitGroup
}

// clockReading is the database's time db at the instant mono, a
// time.Now() of this process (monotonic reading included).
type clockReading struct {
	db, mono time.Time
}

// offset is how far the database's clock is ahead of this instance's now;
// 0 within the deadband.
func (c *dbClock) offset() time.Duration {
	r := c.reading.Load()
	off := r.db.Add(time.Since(r.mono)).Sub(c.now())
	if off > -clockDeadband && off < clockDeadband {
		return 0
	}
	return off
}

// toDB is instance time t on the database's clock.
func (c *dbClock) toDB(t time.Time) time.Time {
	return t.Add(c.offset())
}

// toDBOrNil is toDB for a column where the zero time is NULL.
func (c *dbClock) toDBOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return c.toDB(t)
}

// fromDB puts m's database-clock times on the instance's clock.
func (c *dbClock) fromDB(m *store.Message) {
	off := c.offset()
	for _, t := range []*time.Time{&m.NextAttemptAt, &m.LeaseUntil} {
		if !t.IsZero() {
			*t = t.Add(-off)
		}
	}
}

// startClock reads the database's clock and keeps reading it every
// clockRefresh until stopped.
func (s *Store) startClock(ctx context.Context, now func() time.Time) error {
	s.clock.now = now
	if err := s.readClock(ctx); err != nil {
		return err
	}
	ctx, s.clock.stop = context.WithCancel(context.WithoutCancel(ctx))
	s.clock.done.Go(func() {
		t := time.NewTicker(clockRefresh)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// A failure keeps the last reading; the database being
				// away shows in the statements that need it.
				_ = s.readClock(ctx)
			}
		}
	})
	return nil
}

func (s *Store) stopClock() {
	if s.clock.stop != nil {
		s.clock.stop()
	}
	s.clock.done.Wait()
}

// readClock reads the database's clock clockSamples times and keeps the
// reading with the shortest round trip, assumed to be taken half-way.
func (s *Store) readClock(ctx context.Context) error {
	var best *clockReading
	var bestRTT time.Duration
	for range clockSamples {
		var db time.Time
		t0 := time.Now()
		if err := s.pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&db); err != nil {
			return err
		}
		rtt := time.Since(t0)
		if best == nil || rtt < bestRTT {
			best, bestRTT = &clockReading{db: db, mono: t0.Add(rtt / 2)}, rtt
		}
	}
	s.clock.reading.Store(best)
	return nil
}

// scanMessage is the package's scanMessage with the times on the
// instance's clock.
func (s *Store) scanMessage(sc sqlrow.Scanner, extra ...any) (store.Message, error) {
	m, err := scanMessage(sc, extra...)
	if err == nil {
		s.clock.fromDB(&m)
	}
	return m, err
}
