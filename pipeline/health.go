package pipeline

import (
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/store"
)

// APIObserver is told what delivery learns of the API: whether it answers
// (up) and whether it takes the token (authOK). An Observer that
// implements it gets each change, and the state at start (both true).
type APIObserver interface {
	APIState(up, authOK bool)
}

// downAfter is how many API calls in a row must fail (5xx, no answer)
// before the API counts as down. One failure is no outage, and the lines
// of the calls before the change are per mail, so it stays small.
const downAfter = 5

// summaryEvery is how often an outage, or a refused token, is summed up in
// the log while attempts keep failing.
const summaryEvery = time.Minute

// apiHealth follows the API through the answers delivery attempts get. An
// outage or a refused token fails every attempt of every message: the log
// says so when the state changes, then once per summaryEvery with the
// attempts that failed meanwhile, while each mail's own line goes to debug.
type apiHealth struct {
	log *slog.Logger
	obs APIObserver // nil: nobody to tell
	now func() time.Time

	mu        sync.Mutex
	failed    int // calls failed in a row
	down      trouble
	refused   trouble
	lastUp    bool // what obs was told last
	lastAuthz bool
	// troubled receives a value when the API goes down or refuses the
	// token, which starts the probe (see probe.go).
	troubled chan struct{}
	// recovered is called, without the lock, when an outage or a refused
	// token ends.
	recovered func()
}

// trouble is one bad state (down, token refused) while it lasts.
type trouble struct {
	on    bool
	since time.Time
	total int // attempts failed since it began
	// Since the last line about it:
	count   int
	oldest  time.Time // when the oldest message among them was queued
	lastErr string
	logged  time.Time
}

func newAPIHealth(log *slog.Logger, obs Observer, now func() time.Time) *apiHealth {
	h := &apiHealth{log: log, now: now, lastUp: true, lastAuthz: true, troubled: make(chan struct{}, 1)}
	if o, ok := obs.(APIObserver); ok {
		h.obs = o
		o.APIState(true, true)
	}
	return h
}

// observe takes in the outcome of an API call made for claim c (nil: a
// call made for no message). err nil is an answered call; an error that
// is not the API's (the store, a shutdown) tells nothing of the API.
func (h *apiHealth) observe(err error, c *store.Claim) {
	var ae *api.Error
	if err != nil && !errors.As(err, &ae) {
		return
	}
	h.mu.Lock()
	recovered := false
	defer func() {
		h.mu.Unlock()
		if recovered && h.recovered != nil {
			h.recovered()
		}
	}()
	now := h.now()
	switch {
	case ae == nil:
		recovered = h.answered(now, true)
	case ae.Class == api.Auth:
		recovered = h.answered(now, false)
		if !h.refused.on {
			h.refused = trouble{on: true, since: now, logged: now}
			h.log.Error("API REJECTS THE TOKEN: check api.token; messages stay queued until the token is accepted (the API is asked again at a growing interval; a reload with a new token asks at once)",
				append(errAttrs(err), "err", err)...)
			h.signalTrouble()
		}
		h.refused.add(c, err)
		h.summary(&h.refused, now, "API still rejects the token")
	case outage(err):
		h.failed++
		if h.failed >= downAfter && !h.down.on {
			h.down = trouble{on: true, since: now, logged: now}
			h.log.Error("API DOWN: delivery attempts fail; messages stay queued, and all are due again as soon as the API answers",
				append(errAttrs(err), "failed_calls_in_a_row", h.failed, "err", err)...)
			h.signalTrouble()
		}
		if h.down.on {
			h.down.add(c, err)
			h.summary(&h.down, now, "API still down")
		}
	case ae.Status == http.StatusTooManyRequests:
		// The API is there but sheds load: neither the outage's end nor
		// a failure of its own.
	default:
		// A 4xx: the API is there, and the token passed.
		recovered = h.answered(now, true)
	}
	h.tell()
}

func (h *apiHealth) signalTrouble() {
	select {
	case h.troubled <- struct{}{}:
	default:
	}
}

// troubledNow reports whether the API is down or refuses the token.
func (h *apiHealth) troubledNow() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.down.on || h.refused.on
}

// quiet reports whether the log line of an attempt that failed with err is
// redundant: the API is down or refuses the token, err is that failure,
// and the summary covers it.
func (h *apiHealth) quiet(err error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case api.Classify(err) == api.Auth:
		return h.refused.on
	case outage(err):
		return h.down.on
	}
	return false
}

// outage reports whether err is a failure that an API down would cause:
// a 5xx, or no answer.
func outage(err error) bool {
	ae, ok := errors.AsType[*api.Error](err)
	return ok && (ae.Status >= 500 || ae.Status == 0 && ae.Class == api.Retryable)
}

// answered records a call the API answered (not with a 5xx); authOK is
// false for 401/403. It reports whether that ended an outage or a refused
// token.
func (h *apiHealth) answered(now time.Time, authOK bool) (ended bool) {
	h.failed = 0
	if h.down.on {
		ended = true
		h.log.Info("API answers again: delivery resumed", "down_for", now.Sub(h.down.since).Round(time.Second),
			"failed_attempts", h.down.total)
		h.down = trouble{}
	}
	if authOK && h.refused.on {
		ended = true
		h.log.Info("API accepts the token again: delivery resumed", "refused_for", now.Sub(h.refused.since).Round(time.Second),
			"failed_attempts", h.refused.total)
		h.refused = trouble{}
	}
	return ended
}

func (t *trouble) add(c *store.Claim, err error) {
	t.total++
	t.count++
	t.lastErr = err.Error()
	if c != nil && (t.oldest.IsZero() || c.CreatedAt.Before(t.oldest)) {
		t.oldest = c.CreatedAt
	}
}

// summary logs what failed since the last line about t, once per
// summaryEvery.
func (h *apiHealth) summary(t *trouble, now time.Time, msg string) {
	if now.Sub(t.logged) < summaryEvery {
		return
	}
	attrs := []any{"since", t.since.UTC().Format(time.RFC3339), "for", now.Sub(t.since).Round(time.Second),
		"failed_attempts", t.count, "last_err", t.lastErr}
	if !t.oldest.IsZero() {
		attrs = append(attrs, "oldest_queued_at", t.oldest.UTC().Format(time.RFC3339),
			"oldest_waiting", now.Sub(t.oldest).Round(time.Second))
	}
	h.log.Warn(msg, attrs...)
	t.count, t.oldest, t.logged = 0, time.Time{}, now
}

// tell passes a changed state on to the observer.
func (h *apiHealth) tell() {
	up, authOK := !h.down.on, !h.refused.on
	if h.obs == nil || up == h.lastUp && authOK == h.lastAuthz {
		return
	}
	h.lastUp, h.lastAuthz = up, authOK
	h.obs.APIState(up, authOK)
}
