package testapi

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// Kind is how a fault treats the request it hits.
type Kind int

const (
	// Respond answers Fault.Status with an enneo error body instead of
	// handling the request; with Status 0 the request is handled normally,
	// which with Delay makes a slow server.
	Respond Kind = iota
	// DropBeforeStore closes the connection without handling the request:
	// nothing is stored, the client gets a transport error.
	DropBeforeStore
	// DropAfterStore handles the request (a conversation is stored, a
	// ticket created), then closes the connection without answering: the
	// lost answer that makes a retrying client send a duplicate.
	DropAfterStore
	// HalfResponse handles the request, then sends the status line, the
	// headers and half the body before closing the connection.
	HalfResponse
	// DelayAfterStore handles the request, then waits Delay before
	// answering: a client that times out meanwhile has lost the answer to
	// a request that took effect.
	DelayAfterStore
	// StoreThenFail handles the request (a conversation is stored), then
	// answers Fault.Status (a 5xx) with an enneo error body instead of
	// the real answer: the API failing after its write, e.g. in the AI
	// step that process=realtime runs before answering.
	StoreThenFail
)

// Fault describes a misbehaviour. The zero Fault hits every request and
// changes nothing about it; set at least Status, Delay or Kind.
type Fault struct {
	Method string // "" hits every method
	Path   string // substring of the request path; "" hits every path
	Kind   Kind
	// Status and RetryAfter are the answer of a Respond or StoreThenFail
	// fault.
	Status     int
	RetryAfter string // Retry-After header, e.g. "2"
	// Delay precedes whatever Kind does (DelayAfterStore: follows the
	// handling); it ends early, without an answer, when the client goes
	// away or the server closes.
	Delay time.Duration
	// Times is how many requests the fault hits before it is removed;
	// 0 keeps it until ClearFaults.
	Times int
	// Rate is the probability that a matching request is hit, drawn from
	// the generator seeded with Options.Seed; 0 hits every one.
	Rate float64
}

// Inject adds a fault. Faults are tried in the order they were injected;
// the first that matches a request and wins its Rate draw acts on it.
func (a *API) Inject(f Fault) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.faults = append(a.faults, &f)
}

// FailRate makes every request fail with status at the given rate, until
// ClearFaults.
func (a *API) FailRate(rate float64, status int) {
	a.Inject(Fault{Status: status, Rate: rate})
}

// ClearFaults removes all faults.
func (a *API) ClearFaults() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.faults = nil
}

// pickFault returns the fault that acts on r, if any, and counts the hit.
func (a *API) pickFault(r *http.Request) *Fault {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, f := range a.faults {
		if f.Method != "" && !strings.EqualFold(f.Method, r.Method) || !strings.Contains(r.URL.Path, f.Path) {
			continue
		}
		if f.Rate > 0 && a.rng.Float64() >= f.Rate {
			continue
		}
		hit := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				a.faults = slices.Delete(a.faults, i, i+1)
			}
		}
		return &hit
	}
	return nil
}
