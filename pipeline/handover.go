package pipeline

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/enneo/mailbridge/store"
)

// heldClaimer is a store whose claims can leave out the raw bytes of the
// messages the caller still holds (*sqlite.Store).
type heldClaimer interface {
	ClaimHeld(ctx context.Context, now time.Time, lease time.Duration, limit int, held func(id int64) bool) ([]store.Claim, error)
}

// heldFor is how long a handed-over message is kept for a claim of this
// process. One claimed elsewhere (another instance) or left behind by a
// backlog is dropped then, and read from the queue like any other.
const heldFor = 30 * time.Second

// heldRaws keeps the raw bytes of the messages this process has just
// queued from a source that handed them over (mailbox.Message.Handover),
// for the worker that claims them: it then maps the bytes in memory
// instead of reading its own write back from the queue. The queued copy
// stays the truth: a message not held, because the bytes bound is reached
// or it waited too long, is read from the queue, as after a restart.
//
// The bound is on bytes. A backlog larger than it keeps the messages that
// came first, which the claims, oldest first, take first; each one taken
// makes room for the next one queued.
type heldRaws struct {
	mu    sync.Mutex
	byID  map[int64]*heldRaw
	fifo  []*heldRaw // in the order held; taken ones wait here to be dropped
	size  int64      // raw bytes held
	limit int64
}

type heldRaw struct {
	id    int64
	raw   []byte
	at    time.Time
	taken bool
}

func newHeldRaws(limit int64) *heldRaws {
	return &heldRaws{byID: make(map[int64]*heldRaw), limit: limit}
}

// put holds raw, the bytes queued as message id, unless the bound is
// reached.
func (h *heldRaws) put(id int64, raw []byte, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.expire(now)
	if h.size+int64(len(raw)) > h.limit || h.byID[id] != nil {
		return
	}
	e := &heldRaw{id: id, raw: raw, at: now}
	h.byID[id] = e
	h.fifo = append(h.fifo, e)
	h.size += int64(len(raw))
}

// take hands over the bytes held for message id, if any, and lets go of
// them.
func (h *heldRaws) take(id int64) ([]byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.byID[id]
	if !ok {
		return nil, false
	}
	raw := e.raw
	delete(h.byID, id)
	e.raw, e.taken = nil, true
	h.size -= int64(len(raw))
	return raw, true
}

// expire drops what was held longer than heldFor, and the taken entries
// ahead of the oldest one still held.
func (h *heldRaws) expire(now time.Time) {
	for len(h.fifo) > 0 {
		e := h.fifo[0]
		if !e.taken && now.Sub(e.at) < heldFor {
			return
		}
		if !e.taken {
			delete(h.byID, e.id)
			h.size -= int64(len(e.raw))
		}
		h.fifo[0] = nil
		h.fifo = h.fifo[1:]
	}
}

// prune lets go of what was held longer than heldFor: a claim prunes, so
// that bytes nobody claims (another instance took the messages, or the
// API is down) are not kept while no new mail comes to be held.
func (h *heldRaws) prune(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.expire(now)
}

// len is the number of messages held.
func (h *heldRaws) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.byID)
}

// claim claims up to limit due messages; those this process holds come
// with the bytes it held.
func (p *Pipeline) claim(ctx context.Context, limit int) ([]store.Claim, error) {
	hc, ok := p.store.(heldClaimer)
	if !ok || p.held == nil {
		return p.store.Claim(ctx, p.now(), p.cfg.Lease, limit)
	}
	p.held.prune(p.now())
	var taken map[int64][]byte // written by the store's transaction, read after it
	claims, err := hc.ClaimHeld(ctx, p.now(), p.cfg.Lease, limit, func(id int64) bool {
		raw, ok := p.held.take(id)
		if ok {
			if taken == nil {
				taken = make(map[int64][]byte)
			}
			taken[id] = raw
		}
		return ok
	})
	for i := range claims {
		if claims[i].Raw == nil {
			claims[i].Raw = taken[claims[i].ID]
		}
	}
	return claims, err
}

// Claims at enqueue.
//
// A worker that waits for mail would otherwise be woken by Ingest and claim
// the message Ingest just queued: a claim statement, a write transaction
// of its own, per message. Instead, while a worker waits, Ingest reserves
// it (reserveWorker) and asks the store to queue the message already
// claimed, in the enqueue's own transaction (store.NewMessage.Claim); once
// that commits, the claim goes to the waiting worker through handed
// (handOff), which runs it as a claim of one. A store that does not claim
// at enqueue returns no claim, and the message takes the ordinary way: it
// is queued, and a worker woken to claim it.
//
// idle counts the workers waiting in work's select, less the reservations
// whose claims no worker has taken yet: a reservation takes one, and a
// worker that leaves the select otherwise than with a handed claim gives
// its own back. So there are never more claims handed, or about to be,
// than workers, and handed, of that capacity, never blocks a send. A
// worker that takes a handed claim late (it left the select for a poll, a
// backlog kept it) has the attempt's lease checks, as for any claim.
//
// The claim is the row's, durable with it: a process that dies before its
// attempt leaves an inflight message whose lease runs out and which is
// then taken over as any claim (restart recovery, TakeOverDead).

// reserveWorker reserves a waiting worker for a message of size bytes
// about to be queued, if delivery would claim it at once: this instance
// may claim, the API is not held back for a pilot, the API's pace and the
// attempts' budget have room, and the message is not large.
func (p *Pipeline) reserveWorker(size int) bool {
	if p.idle.Load() <= 0 || size > largeClaim || !p.mayClaim() || p.holdingBack() || !p.limit.room() {
		return false
	}
	held := min(int64(size), p.cfg.InflightBytes)
	if !p.budget.TryAcquire(held) {
		return false
	}
	p.budget.Release(held) // attempt takes it
	for {
		n := p.idle.Load()
		if n <= 0 {
			return false
		}
		if p.idle.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// unreserve gives back a reservation whose message was not claimed.
func (p *Pipeline) unreserve() { p.idle.Add(1) }

// handOff gives claim c, made at enqueue for a reservation, to a waiting
// worker. raw is the source's; unless the source handed it over it may
// reuse the bytes once Ingest returns, so the worker gets a copy.
func (p *Pipeline) handOff(c *store.Claim, handover bool) {
	if !handover {
		c.Raw = bytes.Clone(c.Raw)
	}
	select {
	case p.handed <- c:
	default:
		// Never, by the count of reservations (see idle); should it
		// happen, the message is claimed again once its lease runs out.
		p.unreserve()
		p.log.Error("no worker for a message claimed at enqueue; it is delivered after its lease",
			"message_id", c.ExternalID, "subchannel", c.SubchannelID, "queue_id", c.ID, "lease_until", c.LeaseUntil)
	}
}

// takeHanded returns a claim handed over and not taken yet, or nil.
func (p *Pipeline) takeHanded() *store.Claim {
	select {
	case c := <-p.handed:
		return c
	default:
		return nil
	}
}

// deliverHanded runs claim c, handed over, as a claim of one.
func (p *Pipeline) deliverHanded(ctx context.Context, c *store.Claim) {
	var reports records
	p.attempt(ctx, c, &reports)
	c.Raw = nil
	reports.wg.Wait()
}

// room reports whether a call may start now: a slot under the limit, and
// no Retry-After under way.
func (l *apiLimit) room() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pausedUntil.Sub(l.now()) <= 0 && l.inflight < max(int(l.limit), 1)
}
