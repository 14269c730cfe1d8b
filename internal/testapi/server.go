package testapi

import (
	"context"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Server is an API listening on a TCP port.
type Server struct {
	*API
	mu   sync.Mutex
	hs   *httptest.Server
	addr string // where it listens, kept across Down and Up
	url  string
}

// NewServer starts an API on Options.Addr (default: a free loopback port).
// It needs no testing.T, for programs that serve the fake to other
// processes.
func NewServer(opts Options) (*Server, error) {
	api, err := NewAPI(opts)
	if err != nil {
		return nil, err
	}
	s := &Server{API: api, addr: opts.Addr}
	if err := s.listen(); err != nil {
		return nil, err
	}
	s.url = s.hs.URL
	return s, nil
}

// listen starts serving on s.addr, or on a free port it then keeps.
func (s *Server) listen() error {
	hs := httptest.NewUnstartedServer(s.API)
	if s.addr != "" {
		hs.Listener.Close()
		var err error
		if hs.Listener, err = net.Listen("tcp", s.addr); err != nil {
			return err
		}
	}
	hs.Start()
	s.mu.Lock()
	s.hs, s.addr = hs, hs.Listener.Addr().String()
	s.mu.Unlock()
	return nil
}

// Down stops the server as a crash would: requests under way get no
// answer, new connections are refused. The API's state (tickets,
// conversations, faults) stays for Up.
func (s *Server) Down() {
	s.mu.Lock()
	hs := s.hs
	s.mu.Unlock()
	s.shutdown()
	hs.CloseClientConnections()
	hs.Close()
}

// Up starts a stopped server again on the same address, with the state
// it had: an API restarted on persistent storage.
func (s *Server) Up() error {
	s.rearm()
	// The port was just freed; another process may hold it for a moment.
	var err error
	for range 50 {
		if err = s.listen(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// New starts a Server for the test and closes it when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// URL is the base URL for the client, e.g. http://127.0.0.1:40123/api/mind.
func (s *Server) URL() string { return s.url + s.BasePath() }

// Close stops the server: pending injected delays end without an answer,
// then it waits for the requests in progress.
func (s *Server) Close() {
	s.shutdown()
	s.mu.Lock()
	hs := s.hs
	s.mu.Unlock()
	hs.Close()
}

// AssertValid fails the test for every request the fake answered 400.
func (a *API) AssertValid(t testing.TB) {
	t.Helper()
	for _, err := range a.Invalid() {
		t.Errorf("testapi: invalid request: %v", err)
	}
}

// WaitConversations waits up to timeout until at least n conversations are
// stored and returns them; it fails the test (t.Fatal: call it from the
// test's goroutine) if they are not.
func (a *API) WaitConversations(t testing.TB, n int, timeout time.Duration) []StoredConversation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := a.Wait(ctx, func(s State) bool { return len(s.Conversations) >= n })
	if err != nil {
		t.Fatalf("testapi: %d conversations stored after %v, want %d", len(s.Conversations), timeout, n)
	}
	return s.Conversations
}
