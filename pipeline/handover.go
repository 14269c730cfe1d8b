package pipeline

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
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
// A worker would otherwise claim each message Ingest queues: a claim
// statement, a write transaction of its own, which under a steady flow of
// mail finds one or two messages, or none. Instead, while the workers keep
// up, Ingest reserves a place in handed, a queue in memory of at most
// handOffPerWorker claims per worker (reserveHandOff), and asks the store
// to queue the message already claimed, in the enqueue's own transaction
// (store.NewMessage.Claim). Once that commits, the claim goes to handed
// (handOff): a waiting worker takes it at once, a busy one before its next
// claim from the store (the claims waiting so before it), and runs each
// as a claim of one. A store that does not claim at enqueue returns no
// claim, and the message takes the ordinary way: it is queued, and a
// worker woken to claim it. So does
// mail that finds handed full: the workers are behind, and claim the
// backlog from the queue, oldest first, many at a time.
//
// handedCount counts the places reserved, whose claims no worker has
// taken yet, so a send on handed never blocks; handedBytes bounds the raw
// bytes they hold. A worker that takes a claim late has the attempt's
// lease checks, as for any claim (attempt starves a claim that waited
// past half its lease).
//
// The claim is the row's, durable with it: a process that dies before its
// attempt leaves an inflight message whose lease runs out and which is
// then taken over as any claim (restart recovery, TakeOverDead).
//
// handOffPerWorker is the places in handed per worker. One each leaves
// most of a PostgreSQL queue's mail under load to the claims, whose
// statements cost the database more than the few claims waiting in memory
// for the workers cost the process.
const handOffPerWorker = 4

// reserveHandOff reserves a place in handed for a message of size bytes
// about to be queued, if delivery would claim it now: the workers run, no
// due mail waits in the queue (the new one would overtake it, and a reply
// delivered before the mail it answers finds no ticket to join), this
// instance may claim, the API is not held back for a pilot or paused by a
// Retry-After, the held bytes have room, and the message is not large.
func (p *Pipeline) reserveHandOff(size int) bool {
	if !p.running.Load() || size > largeClaim || p.drainedSeq.Load() < p.queuedSeq.Load() ||
		!p.mayClaim() || p.holdingBack() || p.limit.paused() {
		return false
	}
	if p.handedBytes.Add(int64(size)) > p.cfg.InflightBytes/2 {
		p.handedBytes.Add(-int64(size))
		return false
	}
	for {
		n := p.handedCount.Load()
		if n >= int32(cap(p.handed)) {
			p.handedBytes.Add(-int64(size))
			return false
		}
		if p.handedCount.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// unreserve gives back a reservation for size bytes whose message was not
// claimed, or whose claim a worker took.
func (p *Pipeline) unreserve(size int) {
	p.handedCount.Add(-1)
	p.handedBytes.Add(-int64(size))
}

// handOff gives claim c, made at enqueue for a reservation, to the
// workers. Unless the source handed its raw bytes over it may reuse them
// once Ingest returns, so the claim gets a copy.
func (p *Pipeline) handOff(ctx context.Context, c *store.Claim, handover bool) {
	if !handover {
		c.Raw = bytes.Clone(c.Raw)
	}
	select {
	case p.handed <- c:
		if !p.running.Load() {
			// The workers stopped while the message was queued, and
			// Run gave back the claims in handed before this one came
			// (a source finishes the mail it accepted after them): it
			// goes back to the queue here.
			p.returnHanded(ctx)
		}
	default:
		// Never, by the count of reservations; should it happen, the
		// message is claimed again once its lease runs out.
		p.unreserve(len(c.Raw))
		p.log.Error("no room for a message claimed at enqueue; it is delivered after its lease",
			"message_id", c.ExternalID, "subchannel", c.SubchannelID, "queue_id", c.ID, "lease_until", c.LeaseUntil)
	}
}

// takeHanded returns a claim handed over and not taken yet, or nil.
func (p *Pipeline) takeHanded() *store.Claim {
	select {
	case c := <-p.handed:
		p.unreserve(len(c.Raw))
		return c
	default:
		return nil
	}
}

// deliverHanded runs claim c, handed over, as the next message of a claim
// whose records are reports: a worker's claims made at enqueue are one
// claim that never ends, whose records are written while it waits for and
// runs the next message. Once none is under way, reports starts afresh;
// it waits for them when it knows of maxHandedRecords.
func (p *Pipeline) deliverHanded(ctx context.Context, c *store.Claim, reports *records) {
	if len(reports.ids) >= maxHandedRecords {
		reports.wg.Wait()
	}
	if reports.pending.Load() == 0 {
		reports.ids, reports.tickets = nil, nil
	}
	p.attempt(ctx, c, reports)
	c.Raw = nil
}

// maxHandedRecords bounds the deliveries a worker's records of claims made
// at enqueue remember (records.ids).
const maxHandedRecords = 64

// paused reports whether the API's Retry-After holds every call back.
func (l *apiLimit) paused() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pausedUntil.After(l.now())
}

// returnHanded gives the claims made at enqueue that no worker took back
// to the queue once the workers stopped, rather than leave them to their
// lease. A source's Ingest still under way may hand one over later;
// handOff gives that one back itself.
func (p *Pipeline) returnHanded(ctx context.Context) {
	for {
		c := p.takeHanded()
		if c == nil {
			return
		}
		p.starved(context.WithoutCancel(ctx), c, errShutdown)
	}
}

// errShutdown is why a claim a worker never took goes back to the queue.
var errShutdown = errors.New("the delivery workers stopped")

// storeMax sets v to n unless it is already larger.
func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if old >= n || v.CompareAndSwap(old, n) {
			return
		}
	}
}
