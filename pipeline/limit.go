package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/store"
)

// Delivery at the API's pace.
//
// The workers' calls to the API pass an AIMD limit on how many may be
// under way at once. The limit grows by one per limit's worth of answers
// while the calls fill it (additive increase; until its first cut, by one
// per answer, doubling each round trip as TCP's slow start). When the API
// answers 429 the limit drops to the calls still under way, which the API
// took: the API's own limit of calls at a time, found within one answer.
// The slot the 429 freed is not taken again until another call ends,
// and the limit grows past that level again only after the 429's
// Retry-After (at least a round trip): a probe beyond the API's limit
// costs one 429 per Retry-After. When
// the answers slow down, the recent latency (a fast moving average) more
// than twice the usual one (a slow moving average) and more than
// latencySlack above it, the limit is cut by a tenth (multiplicative
// decrease), and then not again for the usual latency (at least
// minCutInterval), so that one overload counts once. The message a 429
// refused waits for its Retry-After; every new call waits for it too (at
// most maxPause) once pauseAfter calls in a row were refused and none is
// under way: the API then refuses whatever the concurrency (a quota),
// where a limit of calls at a time refuses calls only beside others it
// took. An API that is slow by nature (a synchronous AI step) soon
// counts as usual, and only a rise shrinks the limit. The limit ranges
// from 1 to delivery.workers and starts at min(workers, initialAPILimit).
//
// A call refused by the limit (a 429, or a wait for a slot the attempt's
// lease does not leave time for) is postponed, not failed: it does not
// count as an attempt, so the API's pace never turns mail into dead
// letters. A 429 postpones the message for its Retry-After (the backoff
// without one), a wait that ran out not at all.

// initialAPILimit is where the limit starts: the former fixed pool size.
const initialAPILimit = 16

const (
	limitBackoff = 0.9 // the cut on a latency rise
	// latencyRise and latencySlack: how much slower than usual the recent
	// answers are for the limit to shrink, as a ratio and in time, so
	// that a loopback API's jitter of a few milliseconds is no rise.
	latencyRise  = 2
	latencySlack = 50 * time.Millisecond
	// recentWeight and usualWeight are one answer's weight in the recent
	// and the usual latency.
	recentWeight   = 0.25
	usualWeight    = 0.02
	minCutInterval = 100 * time.Millisecond
	// maxPause bounds the hold of all calls after a Retry-After; the
	// message that got it waits the whole time. pauseAfter is the fewest
	// 429s in a row that hold all calls, so that one message's 429 does
	// not hold the others of a small pool.
	maxPause   = time.Minute
	pauseAfter = 4
)

// apiLimit is the AIMD limit on concurrent API calls.
type apiLimit struct {
	mu       sync.Mutex
	limit    float64
	max      float64
	inflight int
	// recent and usual are moving averages of answered calls' latency,
	// a fast one and a slow one.
	recent, usual time.Duration
	// lastCut is when the limit was last cut; pausedUntil is the end of
	// the API's Retry-After; refused counts the 429s since the last
	// answer that was not one.
	lastCut, pausedUntil time.Time
	refused              int
	// refusedAt is the limit after the last 429; it grows past that
	// level again only after probeAfter, the 429's Retry-After (at least
	// the usual latency), so that a probe of the API's limit costs one
	// 429 per Retry-After, not one per round trip.
	refusedAt  float64
	probeAfter time.Time
	// cutOnce is set at the first cut, which ends the slow start.
	cutOnce bool
	// changed is closed and replaced when a slot frees or the limit
	// grows.
	changed chan struct{}
	now     func() time.Time
	log     *slog.Logger
}

func newAPILimit(workers int, now func() time.Time, log *slog.Logger) *apiLimit {
	return &apiLimit{
		limit:   float64(min(workers, initialAPILimit)),
		max:     float64(max(workers, 1)),
		changed: make(chan struct{}),
		now:     now,
		log:     log,
	}
}

// errThrottled is a call the limit did not let through in time.
var errThrottled = errors.New("waiting for the API's pace")

// acquire waits for a slot under the limit and past any Retry-After.
func (l *apiLimit) acquire(ctx context.Context) error {
	for {
		l.mu.Lock()
		wait := l.pausedUntil.Sub(l.now())
		if wait <= 0 && l.inflight < max(int(l.limit), 1) {
			l.inflight++
			l.mu.Unlock()
			return nil
		}
		changed := l.changed
		l.mu.Unlock()
		var timer *time.Timer
		var expired <-chan time.Time
		if wait > 0 {
			timer = time.NewTimer(wait)
			expired = timer.C
		}
		select {
		case <-changed:
		case <-expired:
		case <-ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", errThrottled, ctx.Err())
		}
	}
}

// release frees the slot of a call that began at start and ended with
// err, and adjusts the limit to its answer.
func (l *apiLimit) release(start time.Time, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	took := now.Sub(start)
	full := l.inflight >= int(l.limit)
	l.inflight--
	var ae *api.Error
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests:
		// The API holds as many calls as it takes: those still under
		// way. The limit drops to them, no further, so the slot the 429
		// freed stays free until an answer frees one at the API too.
		l.refused++
		if n := max(float64(l.inflight), 1); n < l.limit {
			l.limit = n
			l.log.Debug("concurrent API calls limited", "limit", int(l.limit), "why", "the API answered 429")
		}
		l.cutOnce = true
		l.refusedAt = l.limit
		l.probeAfter = now.Add(min(max(ae.RetryAfter, l.usual), maxPause))
		if until := now.Add(min(ae.RetryAfter, maxPause)); l.refused >= pauseAfter && l.inflight == 0 && until.After(l.pausedUntil) {
			l.pausedUntil = until
		}
	case err != nil && (ae == nil || ae.Status == 0):
		// No answer (a timeout, a refused connection): says nothing of
		// the API's pace.
	default:
		l.refused = 0
		if l.usual == 0 {
			l.recent, l.usual = took, took
		}
		l.recent += time.Duration(recentWeight * float64(took-l.recent))
		l.usual += time.Duration(usualWeight * float64(took-l.usual))
		switch {
		case l.recent > latencyRise*l.usual && l.recent-l.usual > latencySlack:
			l.cut(now, "the API's answers slowed down")
		case full && !l.cutOnce:
			l.grow(now, 1)
		case full:
			l.grow(now, 1/l.limit)
		}
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// grow raises the limit by by, up to delivery.workers, and not past the
// level of the last 429 before probeAfter.
func (l *apiLimit) grow(now time.Time, by float64) {
	grown := min(l.limit+by, l.max)
	if now.Before(l.probeAfter) {
		grown = min(grown, max(l.refusedAt, l.limit))
	}
	l.limit = grown
}

// cut shrinks the limit, once per usual latency.
func (l *apiLimit) cut(now time.Time, why string) {
	if now.Sub(l.lastCut) < max(l.usual, minCutInterval) {
		return
	}
	l.lastCut, l.cutOnce = now, true
	l.limit = max(l.limit*limitBackoff, 1)
	l.log.Debug("concurrent API calls limited", "limit", int(l.limit), "why", why, "usual_latency", l.usual)
}

// current is the limit as a whole number of calls.
func (l *apiLimit) current() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(int(l.limit), 1)
}

// limitedAPI passes each call of an API through the limit. api returns
// the API at the time of the call.
type limitedAPI struct {
	api   func() Conversations
	limit *apiLimit
}

func (a *limitedAPI) StoreConversation(ctx context.Context, ticketID int64, c *api.Conversation) (*api.StoreResult, error) {
	if err := a.limit.acquire(ctx); err != nil {
		return nil, err
	}
	start := a.limit.now()
	out, err := a.api().StoreConversation(ctx, ticketID, c)
	a.limit.release(start, err)
	return out, err
}

func (a *limitedAPI) CreateTicket(ctx context.Context, t *api.NewTicket) (int64, error) {
	if err := a.limit.acquire(ctx); err != nil {
		return 0, err
	}
	start := a.limit.now()
	id, err := a.api().CreateTicket(ctx, t)
	a.limit.release(start, err)
	return id, err
}

func (a *limitedAPI) FindConversation(ctx context.Context, ticketID int64, externalID string) (*api.StoreResult, bool, error) {
	if err := a.limit.acquire(ctx); err != nil {
		return nil, false, err
	}
	start := a.limit.now()
	out, found, err := a.api().FindConversation(ctx, ticketID, externalID)
	a.limit.release(start, err)
	return out, found, err
}

// limitedSearchAPI is limitedAPI of an API that searches tickets.
type limitedSearchAPI struct {
	*limitedAPI
	search TicketSearcher
}

func (a limitedSearchAPI) SearchTickets(ctx context.Context, s api.TicketSearch) ([]api.FoundTicket, error) {
	if err := a.limit.acquire(ctx); err != nil {
		return nil, err
	}
	start := a.limit.now()
	found, err := a.search.SearchTickets(ctx, s)
	a.limit.release(start, err)
	return found, err
}

// limitAPI wraps the API c returns in limit, keeping the ticket search of
// the API it returns now if that has one.
func limitAPI(c func() Conversations, limit *apiLimit) Conversations {
	l := &limitedAPI{api: c, limit: limit}
	if s, ok := c().(TicketSearcher); ok {
		return limitedSearchAPI{l, s}
	}
	return l
}

// throttled reports whether err says the API's pace, not the message, was
// the trouble: a 429, or a wait for the limit that ran out.
func throttled(err error) bool {
	var ae *api.Error
	return errors.Is(err, errThrottled) || (errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests)
}

// heldBack puts a message whose attempt the API's pace stopped back in the
// queue without counting the attempt: until the API's Retry-After, or
// after the backoff if it gave none. A message that only waited for the
// limit is due again at once.
func (p *Pipeline) heldBack(ctx context.Context, log *slog.Logger, c *store.Claim, msg string, err error) {
	f := store.Failure{At: p.now(), Error: msg}
	var ae *api.Error
	switch {
	case errors.As(err, &ae) && ae.RetryAfter > 0:
		// The API's own wait: no release brings it forward.
		f.At = f.At.Add(ae.RetryAfter)
		f.NotBefore = f.At
	case ae != nil:
		f.At = f.At.Add(p.backoff(c.Attempts))
	}
	log.Debug("the API's pace held the message back; it stays queued", "err", err, "retry_in", f.At.Sub(p.now()))
	p.retry(ctx, log, c, f, false)
}
