package postgres

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// The database's clock.
//
// Instances compare each other's times: an instance claims a message
// whose lease another set, or whose retry another scheduled. Stamped with
// each instance's own clock, an instance whose clock ran ahead would take
// over messages still being delivered, and one whose clock lagged would
// retry too early. So the times the queue compares are kept on the
// database's clock: each instance measures how far its own clock is off
// the database's and shifts the times it writes and compares by that
// much. The caller's times stay in the caller's frame: a claim's
// LeaseUntil, which the worker's deadline derives from, is returned on the
// instance's clock.
//
// Offsets within clockDeadband count as none: the measurement is only as
// good as half a round trip, and on a shared clock (the same host, or
// both kept by NTP) a shift of a few milliseconds would only blur times
// that agree. The deadband is far below the lease's safety margin (a
// tenth of the lease, 30 s by default).

const (
	clockDeadband = 100 * time.Millisecond
	clockRefresh  = time.Minute
	clockSamples  = 3
)

type dbClock struct {
	now    func() time.Time // this instance's clock
	offset atomic.Int64     // database minus instance, ns; 0 within the deadband
	stop   context.CancelFunc
	done   sync.WaitGroup
}

// toDB is instance time t on the database's clock.
func (c *dbClock) toDB(t time.Time) time.Time {
	return t.Add(time.Duration(c.offset.Load()))
}

// start measures the offset and keeps measuring it every clockRefresh
// until stopped: clocks drift, and NTP may set the instance's meanwhile.
func (s *Store) startClock(ctx context.Context, now func() time.Time) error {
	s.clock.now = now
	if err := s.measureClock(ctx); err != nil {
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
				// A failure keeps the last offset; the database being
				// away shows in the statements that need it.
				_ = s.measureClock(ctx)
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

// measureClock reads the database's clock clockSamples times and keeps
// the reading with the shortest round trip, assumed to be taken half-way.
func (s *Store) measureClock(ctx context.Context) error {
	var best, offset time.Duration
	for i := range clockSamples {
		var db time.Time
		t0 := s.clock.now()
		if err := s.pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&db); err != nil {
			return err
		}
		rtt := s.clock.now().Sub(t0)
		if i == 0 || rtt < best {
			best, offset = rtt, db.Sub(t0.Add(rtt/2))
		}
	}
	if offset > -clockDeadband && offset < clockDeadband {
		offset = 0
	}
	s.clock.offset.Store(int64(offset))
	return nil
}
