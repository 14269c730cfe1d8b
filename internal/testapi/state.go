package testapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
)

// Request is one request the fake received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	// Status is the status sent; 0 if the connection was closed (or the
	// client left) before one was.
	Status int
	// Injected is set when a fault acted on the request, and Fault is
	// that fault's Kind.
	Injected bool
	Fault    Kind
}

// State is a snapshot of everything the fake has recorded.
type State struct {
	Conversations []StoredConversation // in the order they were stored
	Tickets       []Ticket             // by id
	Requests      []Request            // in the order they were answered
	Invalid       []error
}

// LostAnswers counts the stored conversations whose answer the client
// never received: a client that retries may have stored each again, so
// duplicates beyond this count are the client's fault.
func (s State) LostAnswers() int {
	n := 0
	for _, c := range s.Conversations {
		if c.AnswerLost {
			n++
		}
	}
	return n
}

// CountByExternalID counts the stored conversations with this
// externalConversationId; above 1 means duplicates.
func (s State) CountByExternalID(id string) int {
	n := 0
	for _, c := range s.Conversations {
		if c.Payload.ExternalConversationID == id {
			n++
		}
	}
	return n
}

// CountRequests counts the requests with this method ("" for any) whose
// path contains pathPart.
func (s State) CountRequests(method, pathPart string) int {
	n := 0
	for _, r := range s.Requests {
		if (method == "" || r.Method == method) && strings.Contains(r.Path, pathPart) {
			n++
		}
	}
	return n
}

// State returns a snapshot of the records.
func (a *API) State() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stateLocked()
}

func (a *API) stateLocked() State {
	tickets := make([]Ticket, 0, len(a.tickets))
	for _, t := range a.tickets {
		tickets = append(tickets, *t)
	}
	slices.SortFunc(tickets, func(x, y Ticket) int { return x.ID - y.ID })
	return State{
		Conversations: slices.Clone(a.convs),
		Tickets:       tickets,
		Requests:      slices.Clone(a.requests),
		Invalid:       slices.Clone(a.invalid),
	}
}

// Conversations returns the stored conversations in the order they were stored.
func (a *API) Conversations() []StoredConversation { return a.State().Conversations }

// Tickets returns the tickets by id.
func (a *API) Tickets() []Ticket { return a.State().Tickets }

// Requests returns the requests received, in the order they were answered.
func (a *API) Requests() []Request { return a.State().Requests }

// Invalid returns why each request answered 400 was rejected: schema
// violations of stored conversations, malformed ticket calls, search
// filters the fake does not support.
func (a *API) Invalid() []error { return a.State().Invalid }

// LostAnswers is State.LostAnswers of the current state.
func (a *API) LostAnswers() int { return a.State().LostAnswers() }

// CountByExternalID is State.CountByExternalID of the current state.
func (a *API) CountByExternalID(id string) int { return a.State().CountByExternalID(id) }

// CountRequests is State.CountRequests of the current state.
func (a *API) CountRequests(method, pathPart string) int {
	return a.State().CountRequests(method, pathPart)
}

// Wait blocks until cond holds for the state, re-checking after every
// change, and returns that state; or, when ctx ends first, the last state
// seen and ctx's error.
func (a *API) Wait(ctx context.Context, cond func(State) bool) (State, error) {
	for {
		a.mu.Lock()
		s := a.stateLocked()
		changed := a.changed
		a.mu.Unlock()
		if cond(s) {
			return s, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return s, ctx.Err()
		}
	}
}
