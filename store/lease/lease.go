// Package lease runs a piece of work on one of several instances at a
// time, under a store.Leases lease: the daemon polls each IMAP folder this
// way when instances share a PostgreSQL store.
package lease

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/enneo/mailbridge/store"
)

// Defaults: a holder that dies leaves its lease to expire within TTL, and
// the others try every Renew, so the work moves within TTL + Renew
// (25 s). A holder that cannot renew stops its work at least a Renew
// before its lease can expire, so two instances never do it at once.
const (
	DefaultTTL   = 20 * time.Second
	DefaultRenew = 5 * time.Second
)

// Config describes one lease.
type Config struct {
	Leases store.Leases
	Name   string // what is leased, e.g. imap:support/INBOX
	Holder string // this instance (Holder())
	TTL    time.Duration
	Renew  time.Duration
	Log    *slog.Logger
}

// Holder returns a name for this process that no other instance shares:
// host, process id and a random part.
func Holder() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%08x", host, os.Getpid(), rand.Uint32())
}

// Run runs work whenever this instance holds the lease, until ctx is done.
// work's context ends when the lease is lost (another instance took it
// after a renewal failed for too long); work must return then, and is run
// again once the lease is back. Run returns nil when ctx is done, after
// giving the lease up, or work's error if it fails with ctx still live.
func Run(ctx context.Context, c Config, work func(ctx context.Context) error) error {
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.Renew <= 0 {
		c.Renew = DefaultRenew
	}
	log := c.Log.With("lease", c.Name)
	waiting := false
	for {
		// The lease runs from when the database granted it, which is after
		// the request left: counting from here errs on the safe side.
		asked := time.Now()
		held, err := c.Leases.TakeLease(ctx, c.Name, c.Holder, c.TTL)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			log.Warn("cannot take the lease; trying again", "err", err, "retry_in", c.Renew)
		case !held && !waiting:
			log.Info("another instance holds the lease; waiting for it")
			waiting = true
		case held:
			waiting = false
			log.Info("lease taken; starting")
			err := c.hold(ctx, log, asked, work)
			if ctx.Err() != nil {
				c.drop(log)
				return nil
			}
			if err != nil {
				return err
			}
		}
		if !sleep(ctx, c.Renew) {
			return nil
		}
	}
}

// hold runs work, renewing the lease every Renew, until work returns or
// the lease is lost: another holder has it, or renewals failed until the
// lease could expire.
func (c Config) hold(ctx context.Context, log *slog.Logger, renewed time.Time, work func(ctx context.Context) error) error {
	workCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- work(workCtx) }()
	tick := time.NewTicker(c.Renew)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
		}
		// Work must stop 2*Renew before the lease could expire, so that it
		// has stopped when another instance may take over; a renewal stuck
		// on a dead connection must not hold it beyond that point.
		start := time.Now()
		rctx, rcancel := context.WithDeadline(ctx, renewed.Add(c.TTL-2*c.Renew))
		held, err := c.Leases.TakeLease(rctx, c.Name, c.Holder, c.TTL)
		rcancel()
		switch {
		case err == nil && held:
			renewed = start
			continue
		case err == nil:
			log.Warn("lease lost to another instance; stopping")
		case time.Since(renewed)+2*c.Renew < c.TTL:
			log.Warn("cannot renew the lease; trying again", "err", err)
			continue
		default:
			log.Warn("cannot renew the lease before it expires; stopping", "err", err)
		}
		cancel()
		<-done
		return nil
	}
}

// drop gives the lease up so that another instance takes over at once
// rather than after it expired.
func (c Config) drop(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Leases.DropLease(ctx, c.Name, c.Holder); err != nil {
		log.Warn("cannot give the lease up; it expires by itself", "err", err)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
