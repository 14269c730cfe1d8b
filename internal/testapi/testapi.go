// Package testapi is a fake enneo API for tests: it answers the calls
// mailbridge makes, checks every stored conversation against the contract
// (internal/spec/openapi.yaml), records everything it is sent and misbehaves
// on demand: error statuses, delays, lost answers, cut connections.
//
// API is the core, an http.Handler that any server can mount; Server runs
// one on a TCP port, and New ties a Server to a test. All methods are
// safe for concurrent use while requests are being served. Values handed
// out (conversations, tickets, requests) share memory with the fake's
// records and must be treated as read-only.
package testapi

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures an API.
type Options struct {
	// Token, when set, must arrive as "Authorization: Bearer <Token>";
	// requests without it are answered 403.
	Token string
	// SpecPath is the OpenAPI contract. Empty: $MAILBRIDGE_SPEC, else the
	// copy embedded in package spec.
	SpecPath string
	// AutoCreateTickets makes a store to an unknown ticket create that
	// ticket instead of answering 404, for tests that pass arbitrary ids.
	AutoCreateTickets bool
	// Seed seeds the generator behind Fault.Rate, so that the same sequence
	// of requests meets the same faults on every run.
	Seed uint64
	// Addr is where NewServer listens; empty means a free loopback port.
	Addr string
	// Subchannels is what GET /settings/subchannel lists, as if each were
	// passed to AddSubchannel. Nil lists DefaultSubchannels instead, without
	// restricting the subchannelId of stores (see AddSubchannel).
	Subchannels []Subchannel
	// NoConversationList makes GET /ticket/{id}/conversation an unknown
	// endpoint (404 "Not found", as for any path the fake does not serve),
	// like an API that does not offer the listing.
	NoConversationList bool
}

// DefaultSubchannels is the list served while a test has registered none:
// enabled email subchannels with the ids the project's tests and example
// configurations use, so that a daemon checking its subchannels at start
// finds them.
var DefaultSubchannels = []Subchannel{
	{ID: 1, Name: "Support", Channel: "email", Enabled: true, IsDefault: true},
	{ID: 2, Name: "Sales", Channel: "email", Enabled: true},
	{ID: 4, Name: "Billing", Channel: "email", Enabled: true},
}

// API is the fake enneo API.
type API struct {
	opts Options
	spec *validator
	txID atomic.Uint64
	// inflight counts the requests being answered; peak is its highest
	// value since the last ResetPeak.
	inflight, peak atomic.Int64

	mu          sync.Mutex
	done        chan struct{} // closed on shutdown to cut injected delays short; replaced by Up
	token       string        // Options.Token, or what SetToken set
	changed     chan struct{} // closed and replaced on every change, for Wait
	rng         *rand.Rand
	faults      []*Fault
	tickets     map[int]*Ticket
	byExternal  map[string]int // externalTicketId → ticket id
	subchannels []Subchannel
	convs       []StoredConversation
	requests    []Request
	invalid     []error
	lastTicket  int
	lastConv    int
	lastEvent   int
}

// NewAPI loads the spec and returns an API with no tickets, no faults and
// the subchannels of opts. Serve it under any host; the paths it answers start with
// BasePath.
func NewAPI(opts Options) (*API, error) {
	data, source, err := specData(opts.SpecPath)
	if err != nil {
		return nil, err
	}
	spec, err := loadValidator(data, source)
	if err != nil {
		return nil, err
	}
	a := &API{
		opts:       opts,
		spec:       spec,
		done:       make(chan struct{}),
		token:      opts.Token,
		changed:    make(chan struct{}),
		rng:        rand.New(rand.NewPCG(opts.Seed, 0)),
		tickets:    map[int]*Ticket{},
		byExternal: map[string]int{},
		// Distinct ranges make a ticket id passed where a conversation id
		// belongs (or the reverse) fail loudly instead of by coincidence.
		lastTicket: 1000,
		lastConv:   50000,
		lastEvent:  900000,
	}
	for _, sc := range opts.Subchannels {
		a.AddSubchannel(sc)
	}
	return a, nil
}

// BasePath is the path prefix of every endpoint, taken from the spec's
// server URL ("/api/mind").
func (a *API) BasePath() string { return a.spec.basePath }

// shutdown ends pending delays so that a closing server does not wait them out.
func (a *API) shutdown() {
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-a.done:
	default:
		close(a.done)
	}
}

// rearm makes injected delays wait again after a shutdown (a restart).
func (a *API) rearm() {
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case <-a.done:
		a.done = make(chan struct{})
	default:
	}
}

func (a *API) doneCh() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.done
}

// SetToken replaces the token requests must carry ("" accepts any).
func (a *API) SetToken(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.token = token
}

// PeakConcurrency is the highest number of requests answered at once
// since the API started or ResetPeak.
func (a *API) PeakConcurrency() int { return int(a.peak.Load()) }

// ResetPeak starts PeakConcurrency afresh.
func (a *API) ResetPeak() { a.peak.Store(a.inflight.Load()) }

// exchange is one request on its way through the API.
type exchange struct {
	r      *http.Request
	header http.Header // a copy, kept with the records
	body   []byte
	// answerLost is decided before handling, when a fault is going to keep
	// the answer from the client.
	answerLost bool
	// stored is the index in API.convs of the conversation the request
	// stored, or -1.
	stored int
}

// ServeHTTP answers one request, unless a fault decides otherwise.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := a.inflight.Add(1)
	defer a.inflight.Add(-1)
	for p := a.peak.Load(); n > p && !a.peak.CompareAndSwap(p, n); p = a.peak.Load() {
	}
	x := &exchange{r: r, header: r.Header.Clone(), stored: -1}
	rec := Request{Method: r.Method, Path: r.URL.Path, Header: x.header}
	// Read the whole body before any fault acts, so that a dropped
	// connection shows up on the client's read of the answer, as it would
	// when a real server fails after receiving the request.
	var err error
	if x.body, err = io.ReadAll(r.Body); err != nil {
		a.record(rec) // the client went away mid-body; nobody is left to answer
		return
	}
	f := a.pickFault(r)
	if f == nil {
		f = &Fault{} // Respond with nothing to change
	} else {
		rec.Injected, rec.Fault = true, f.Kind
	}
	// A delay cut short ends without an answer: returning from the
	// handler would send an empty 200.
	if f.Kind != DelayAfterStore && !a.sleep(r, f.Delay) {
		a.record(rec)
		abort()
	}
	switch f.Kind {
	case Respond:
		if f.Status != 0 {
			rec.Status = f.Status
			a.record(rec)
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			writeJSON(w, f.Status, a.errorBody(http.StatusText(f.Status), "injected fault"))
			return
		}
	case DropBeforeStore:
		a.record(rec)
		abort()
	case DropAfterStore, HalfResponse, StoreThenFail:
		x.answerLost = true
	}

	status, answer := a.handle(x)
	switch f.Kind {
	case DropAfterStore:
		a.record(rec)
		abort()
	case HalfResponse:
		rec.Status = status
		a.record(rec)
		data, _ := json.Marshal(answer)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(status)
		w.Write(data[:len(data)/2])
		http.NewResponseController(w).Flush()
		abort()
	case DelayAfterStore:
		if !a.sleep(r, f.Delay) {
			a.markLost(x.stored)
			a.record(rec)
			abort()
		}
	case StoreThenFail:
		status = cmp.Or(f.Status, http.StatusInternalServerError)
		answer = a.errorBody(http.StatusText(status), "injected fault after the request was handled")
	}
	rec.Status = status
	a.record(rec)
	writeJSON(w, status, answer)
}

// abort closes the connection without (completing) an answer; net/http
// documents this panic as the way to do so without logging an error.
func abort() { panic(http.ErrAbortHandler) }

// sleep waits d unless the client goes away or the server shuts down
// first, and reports whether it did.
func (a *API) sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-a.doneCh():
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// handle does what enneo would do and returns the status and answer body.
func (a *API) handle(x *exchange) (int, any) {
	r := x.r
	if !a.authorized(x.header) {
		return http.StatusForbidden, a.errorBody("Unauthorized", "missing or wrong bearer token")
	}
	rest, ok := strings.CutPrefix(r.URL.Path, a.spec.basePath+"/")
	seg := strings.Split(rest, "/")
	switch {
	case !ok: // outside the API: 404 below
	case r.Method == http.MethodPost && rest == "ticket":
		return a.createTicket(x)
	case r.Method == http.MethodPost && rest == "ticket/search":
		return a.searchTickets(x)
	case r.Method == http.MethodGet && rest == "settings/subchannel":
		return http.StatusOK, a.subchannelList()
	case r.Method == http.MethodPost && len(seg) == 4 && seg[0] == "ticket" && seg[2] == "conversation" && seg[3] == "store":
		return a.storeConversation(x, seg[1])
	case r.Method == http.MethodGet && len(seg) == 3 && seg[0] == "ticket" && seg[2] == "conversation" && !a.opts.NoConversationList:
		return a.conversationList(seg[1])
	}
	return http.StatusNotFound, a.errorBody("Not found", r.Method+" "+r.URL.Path+" is not an endpoint of this fake")
}

func (a *API) authorized(h http.Header) bool {
	a.mu.Lock()
	want := a.token
	a.mu.Unlock()
	if want == "" {
		return true
	}
	scheme, token, _ := strings.Cut(h.Get("Authorization"), " ")
	return strings.EqualFold(scheme, "Bearer") && token == want
}

// errorBody is enneo's error format.
func (a *API) errorBody(msg, details string) map[string]string {
	return map[string]string{
		"error":   msg,
		"details": details,
		"txId":    fmt.Sprintf("%010x", a.txID.Add(1)),
	}
}

// reject answers 400 and records why, so that AssertValid reports it: every
// 400 of this fake is a request mailbridge should not have sent.
func (a *API) reject(x *exchange, err error) (int, any) {
	a.mu.Lock()
	a.invalid = append(a.invalid, fmt.Errorf("%s %s: %w", x.r.Method, x.r.URL.Path, err))
	a.notifyLocked()
	a.mu.Unlock()
	return http.StatusBadRequest, a.errorBody("Invalid input", err.Error())
}

func (a *API) record(rec Request) {
	a.mu.Lock()
	a.requests = append(a.requests, rec)
	a.notifyLocked()
	a.mu.Unlock()
}

// markLost flags the conversation at index i, if any, as never answered.
func (a *API) markLost(i int) {
	if i < 0 {
		return
	}
	a.mu.Lock()
	a.convs[i].AnswerLost = true
	a.notifyLocked()
	a.mu.Unlock()
}

// notifyLocked wakes every Wait.
func (a *API) notifyLocked() {
	close(a.changed)
	a.changed = make(chan struct{})
}

// knownSubchannel reports whether id may be used: any id while the test has
// registered no subchannels, else only a registered one.
func (a *API) knownSubchannel(id int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return id == 0 || len(a.subchannels) == 0 || slices.ContainsFunc(a.subchannels, func(s Subchannel) bool { return s.ID == id })
}

// enneoTime is the timestamp format of enneo's API ("2024-03-01 00:00:00").
const enneoTime = "2006-01-02 15:04:05"
