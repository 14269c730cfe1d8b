package pipeline

import (
	"slices"
	"sync"
	"time"
)

// loopKeys bounds how many senders the loop breaker tracks at once. Past
// it, senders with nothing left in their window are forgotten first, then
// any: forgetting a sender only lets its mail through, never holds it.
const loopKeys = 10000

// loopBreaker holds mail from a sender who writes to one subchannel more
// than limit times within window: two auto-responders answering each other
// through the ticket system do, people do not. Its counts live in memory
// and start afresh with each process; with several processes each counts
// the mail it delivers.
type loopBreaker struct {
	limit  int
	window time.Duration

	mu      sync.Mutex
	senders map[loopKey]*loopCount
	newest  time.Time // latest message time seen, for forgetting senders
}

type loopKey struct {
	subchannel int
	sender     string
}

type loopCount struct {
	// times holds the newest limit message times of the sender, ascending:
	// enough to tell whether limit of them fall within one window.
	times []time.Time
	// engaged is set while the sender's mail is held, so that the episode
	// is logged once rather than per message.
	engaged bool
}

func newLoopBreaker(limit int, window time.Duration) *loopBreaker {
	if limit <= 0 || window <= 0 {
		return nil
	}
	return &loopBreaker{limit: limit, window: window, senders: map[loopKey]*loopCount{}}
}

// check counts a message from sender to subchannel at time at and reports
// whether it is to be held, and whether it is the first one held since
// the sender last fell below the limit. Held messages count too, so a
// loop that goes on stays held.
func (b *loopBreaker) check(subchannel int, sender string, at time.Time) (hold, first bool) {
	if b == nil || sender == "" {
		return false, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if at.After(b.newest) {
		b.newest = at
	}
	k := loopKey{subchannel, sender}
	c := b.senders[k]
	if c == nil {
		if len(b.senders) >= loopKeys {
			b.forget()
		}
		c = &loopCount{}
		b.senders[k] = c
	}
	from := at.Add(-b.window)
	n := 0
	for _, t := range c.times {
		if t.After(from) && !t.After(at) {
			n++
		}
	}
	hold = n >= b.limit
	first = hold && !c.engaged
	c.engaged = hold

	// Workers deliver in parallel, so times arrive nearly, not exactly, in
	// order: insert in place and keep the newest limit.
	i, _ := slices.BinarySearchFunc(c.times, at, func(t, at time.Time) int { return t.Compare(at) })
	c.times = slices.Insert(c.times, i, at)
	if len(c.times) > b.limit {
		c.times = slices.Delete(c.times, 0, len(c.times)-b.limit)
	}
	return hold, first
}

// forget drops the senders whose last message is out of every current
// window, and if that frees nothing, about a tenth of the rest.
func (b *loopBreaker) forget() {
	from := b.newest.Add(-b.window)
	for k, c := range b.senders {
		if len(c.times) == 0 || !c.times[len(c.times)-1].After(from) {
			delete(b.senders, k)
		}
	}
	for k := range b.senders {
		if len(b.senders) < loopKeys*9/10 {
			break
		}
		delete(b.senders, k)
	}
}
