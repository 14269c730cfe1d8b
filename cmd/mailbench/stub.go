package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// stubAPI is the enneo API as cheap as it can be: it opens tickets and
// stores conversations without keeping or validating them, and notes when
// each benchmark message arrived. The project's validating test API
// (internal/testapi) keeps every request for its assertions, which would
// make the load generator, not mailbridge, the thing measured.
type stubAPI struct {
	srv   *http.Server
	url   string
	start time.Time

	// arrived[n] is when message n was stored, in ns since start; 0 until
	// then. Messages are numbered by the load generator from 0.
	arrived    []atomic.Int64
	stored     atomic.Int64 // conversations of benchmark messages
	duplicates atomic.Int64 // benchmark messages stored more than once
	foreign    atomic.Int64 // conversations without a benchmark Message-ID
	tickets    atomic.Int64

	// pace is the API's latency and its limit of calls at a time.
	pace     apiPace
	inflight atomic.Int64
	peak     atomic.Int64 // calls at a time, refused ones included
	refused  atomic.Int64 // calls answered 429

	// down makes the API answer every call 503 at once, as in an outage;
	// unavailable counts those answers.
	down        atomic.Bool
	unavailable atomic.Int64

	bufs sync.Pool
}

// apiPace makes the stub an API with a pace: each call takes latency, and
// a call beyond limit at a time is answered 429 at once, with
// Retry-After: 1. Zero values: no wait, no limit.
type apiPace struct {
	latency time.Duration
	limit   int
}

// capacity is the calls per second the paced API completes at most.
func (p apiPace) capacity() float64 {
	if p.limit <= 0 || p.latency <= 0 {
		return 0
	}
	return float64(p.limit) / p.latency.Seconds()
}

// name describes the pace in a benchmark's name: "" without one.
func (p apiPace) name() string {
	if p == (apiPace{}) {
		return ""
	}
	name := fmt.Sprintf(", API %s", p.latency)
	if p.limit > 0 {
		name += fmt.Sprintf(" and %d calls at a time", p.limit)
	}
	return name
}

// messageIDPrefix starts the local part of every benchmark Message-ID,
// followed by the message's number: <mb-42.run@mailbench>.
const messageIDPrefix = "mb-"

func startStub(messages int, start time.Time, pace apiPace) (*stubAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &stubAPI{url: "http://" + ln.Addr().String(), start: start, arrived: make([]atomic.Int64, messages), pace: pace}
	s.bufs.New = func() any { return new(bytes.Buffer) }
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *stubAPI) close() { _ = s.srv.Close() }

func (s *stubAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.down.Load() {
		s.unavailable.Add(1)
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	if s.pace.limit > 0 && n > int64(s.pace.limit) {
		s.refused.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"error":"too many requests at a time"}`)
		return
	}
	time.Sleep(s.pace.latency)
	buf := s.bufs.Get().(*bytes.Buffer)
	defer s.bufs.Put(buf)
	buf.Reset()
	if _, err := io.Copy(buf, r.Body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/ticket":
		id := s.tickets.Add(1)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%d}`, id)
	case strings.HasSuffix(r.URL.Path, "/conversation/store"):
		s.note(buf.Bytes())
		id := s.stored.Load() + s.foreign.Load()
		ticket := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/ticket/"), "/conversation/store")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"success":true,"conversationId":%d,"ticketId":%s,"eventId":%d}`, id, ticket, id)
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

// note records the arrival of the benchmark message whose Message-ID is
// the body's externalConversationId.
func (s *stubAPI) note(body []byte) {
	now := time.Since(s.start).Nanoseconds()
	n, ok := messageNumber(body)
	if !ok || n >= len(s.arrived) {
		s.foreign.Add(1)
		return
	}
	if !s.arrived[n].CompareAndSwap(0, now) {
		s.duplicates.Add(1)
		return
	}
	s.stored.Add(1)
}

// messageNumber finds n in "externalConversationId":"...mb-n.…" without
// decoding the JSON: a full decode would cost the stub more CPU than the
// daemon spends on some of its steps.
func messageNumber(body []byte) (int, bool) {
	_, rest, ok := bytes.Cut(body, []byte(`"externalConversationId":"`))
	if !ok {
		return 0, false
	}
	if end := bytes.IndexByte(rest, '"'); end >= 0 {
		rest = rest[:end]
	}
	_, rest, ok = bytes.Cut(rest, []byte(messageIDPrefix))
	if !ok {
		return 0, false
	}
	digits, _, _ := bytes.Cut(rest, []byte("."))
	n, err := strconv.Atoi(string(digits))
	return n, err == nil && n >= 0
}
