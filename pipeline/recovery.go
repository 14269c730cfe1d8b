package pipeline

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/enneo/mailbridge/api"

	"github.com/enneo/mailbridge/store"
)

// Pinger asks the API one cheap question that needs the token; *api.Client
// and *api.DryRun implement it. Without it, an outage or a refused token
// ends only when a message's own attempt comes due and succeeds.
type Pinger interface {
	Ping(ctx context.Context) error
}

// The probe's interval while the API is down or refuses the token: from
// probeFirst, doubling up to probeMax. A short outage ends in seconds,
// and a long one costs the API one request every probeMax.
const (
	probeFirst = time.Second
	probeMax   = 5 * time.Second
)

// pilotAnyway is how often a pilot tries the API while the probe gets no
// answer: the probe's question is not the delivery's, and a stall of
// everything on it alone would be worse than one call a minute.
const pilotAnyway = time.Minute

// releaseTimeout bounds the store write that makes the waiting messages
// due.
const releaseTimeout = 30 * time.Second

// probe asks the API whether it is back while it is down or refuses the
// token: one request at a growing interval, while the workers wait
// (holdingBack). The probe's own answer (a
// read) does not end the trouble, since the API may answer it and still
// fail or refuse a store. It releases one waiting message, the oldest, as
// a pilot; the pilot's delivery, like any delivery that succeeds, ends the
// trouble, and that releases the rest (health.recovered). A pilot that
// fails again costs the API one call per interval, and the message no
// attempt. TokenChanged asks at once.
func (p *Pipeline) probe(ctx context.Context) {
	pinger, ok := p.api.(Pinger)
	if !ok {
		return
	}
	for {
		forced := false
		select {
		case <-ctx.Done():
			return
		case <-p.health.troubled:
		case <-p.probeNow:
			forced = true
		}
		wait := probeFirst
		lastPilot := time.Now()
		for {
			if !forced {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				case <-p.probeNow:
					t.Stop()
					forced = true
				}
				wait = min(2*wait, probeMax)
			}
			troubled := p.health.troubledNow()
			if !troubled && !forced {
				break
			}
			err := pinger.Ping(ctx)
			if ctx.Err() != nil {
				return
			}
			answered := answers(err)
			if troubled {
				p.probeAnswered.Store(answered)
			}
			if troubled && !answered && time.Since(lastPilot) >= pilotAnyway {
				// The probe's question may fail where stores work (a
				// broken listing): now and then a pilot tries anyway.
				answered = true
			}
			if answered {
				switch {
				case troubled:
					lastPilot = time.Now()
					p.pilot(ctx)
				default:
					// A reload brought a new token with no trouble known
					// here: mail a refused token held back before (another
					// run of the daemon) may be waiting.
					p.release(ctx, "the API accepts the new token")
				}
			}
			if !troubled {
				break
			}
			forced = false
		}
		p.probeAnswered.Store(false) // the next trouble starts unasked
	}
}

// answers reports whether a probe's err says the API is there and takes
// the token: an answer, or a 4xx other than a refusal or a 429.
func answers(err error) bool {
	if err == nil {
		return true
	}
	ae, ok := errors.AsType[*api.Error](err)
	if !ok || ae.Status < 400 || ae.Status >= 500 {
		return false
	}
	return ae.Class != api.Auth && ae.Status != http.StatusTooManyRequests
}

// pilot makes the oldest waiting message due now, so that its delivery
// tells whether the API is back. With no message waiting and none queued
// or in flight, there is nothing to tell it, and the probe's answer ends
// the trouble.
func (p *Pipeline) pilot(ctx context.Context) {
	n, err := p.store.Hasten(ctx, p.now(), 1)
	if err != nil {
		p.log.Debug("could not release a pilot message", "err", err)
		return
	}
	if n == 0 {
		st, err := p.store.Stats(ctx)
		if err != nil {
			return
		}
		if st.Counts[store.Queued]+st.Counts[store.Inflight] == 0 {
			p.health.observe(nil, nil)
			return
		}
		// Mail queued during the trouble and never tried yet is due
		// already: the pilot is the oldest due message, whichever.
	}
	p.log.Debug("one waiting message is due now to try the API")
	p.pilots.Store(1)
	p.wakeAll()
}

// holdingBack reports whether the workers wait for the probe's pilot: the
// API is down or refuses the token, and the probe has not had an answer
// since. Once the probe gets one, the API is there, and the failures may
// be some messages' own (a mail the API fails on every time would
// otherwise be the pilot for ever, and hold back all the others): each
// message goes on its own retries again, besides the pilots. Without a
// probe, each message's own retry is what tries again.
func (p *Pipeline) holdingBack() bool {
	if _, ok := p.api.(Pinger); !ok {
		return false
	}
	return p.health.troubledNow() && !p.probeAnswered.Load()
}

// takePilot takes the pilot's claim, if the probe released one.
func (p *Pipeline) takePilot() bool {
	for {
		n := p.pilots.Load()
		if n <= 0 {
			return false
		}
		if p.pilots.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// TokenChanged tells delivery that the API token was replaced (a reload):
// the API is asked at once, and if it takes the token, the mail a refused
// token held back is due at once.
func (p *Pipeline) TokenChanged() {
	select {
	case p.probeNow <- struct{}{}:
	default:
	}
}

// release makes every message waiting for its next attempt due now, and
// wakes the workers: whatever scheduled those attempts (an outage, a
// refused token) is over. A message the API itself told to wait
// (Retry-After) keeps waiting. The workers then take the backlog oldest
// first, at most Workers at a time, which is the pace the API is given at
// any time. The messages are in the store, so the other instances sharing
// it find them at their next poll too.
func (p *Pipeline) release(ctx context.Context, why string) {
	// The wall clock, which the stores stamp a claim's UpdatedAt with.
	p.releasedAt.Store(time.Now().UnixNano())
	p.hasten(ctx, why)
}

// hasten is release without noting the time: for an attempt that missed
// one.
func (p *Pipeline) hasten(ctx context.Context, why string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	n, err := p.store.Hasten(ctx, p.now(), 0)
	if err != nil {
		p.log.Error("could not make the waiting messages due; they are attempted when their retries come due", "why", why, "err", err)
		return
	}
	if n > 0 {
		p.log.Info("waiting messages are due now", "why", why, "messages", n)
	}
	p.wakeAll()
}

// wakeAll wakes every idle worker.
func (p *Pipeline) wakeAll() {
	for range p.cfg.Workers {
		select {
		case p.wake <- struct{}{}:
		default:
			return
		}
	}
}

// The liveness of an instance on a shared store (store.Instances): it
// announces itself every announceEvery for instanceTTL, and takes over
// the claims of instances whose announcement ran out. An instance that
// cannot announce itself for claimMargin stops claiming, well before the
// others may take its claims over.
const (
	instanceTTL   = 15 * time.Second
	announceEvery = 3 * time.Second
	claimMargin   = instanceTTL - 2*announceEvery
)

// announce runs the liveness of this instance until ctx is done. The first
// announcement is made before it returns ready, so that no claim of this
// instance is ever without one.
func (p *Pipeline) announce(ctx context.Context, in store.Instances, ready chan<- struct{}) {
	failing := false
	beat := func() {
		at := time.Now()
		actx, cancel := context.WithTimeout(ctx, announceEvery)
		defer cancel()
		if err := in.Announce(actx, instanceTTL); err != nil {
			if ctx.Err() == nil && !failing {
				failing = true
				p.log.Error("could not announce this instance in the store; it stops claiming messages if this lasts", "err", err)
			}
			return
		}
		if failing {
			failing = false
			p.log.Info("this instance is announced in the store again")
		}
		if until := p.aliveUntil.Load(); until > 1 && at.UnixNano() >= until {
			// The announcement ran out: the claims made before may be
			// others' now (stillOurs). Stored before aliveUntil, so that
			// an attempt that finds this instance alive again sees it.
			p.lapsedAt.Store(at.UnixNano())
		}
		p.aliveUntil.Store(at.Add(claimMargin).UnixNano())
		if n, err := in.TakeOverDead(actx, p.cfg.CallTimeout); err != nil {
			p.log.Debug("could not look for the claims of dead instances", "err", err)
		} else if n > 0 {
			p.log.Warn("taking over the claims of an instance that stopped announcing itself: after api.timeout, and their earlier attempts are checked at the API before posting again",
				"messages", n, "after", p.cfg.CallTimeout)
		}
	}
	beat()
	close(ready)
	t := time.NewTicker(announceEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeReportTimeout)
			if err := in.Withdraw(wctx); err != nil {
				p.log.Debug("could not withdraw this instance's announcement", "err", err)
			}
			cancel()
			return
		case <-t.C:
			beat()
		}
	}
}

// mayClaim reports whether this instance may claim messages: on a shared
// store, only while its announcement is fresh.
func (p *Pipeline) mayClaim() bool {
	until := p.aliveUntil.Load()
	return until == 0 || time.Now().UnixNano() < until
}
