package testapi

import (
	"context"
	"net"
	"net/http/httptest"
	"testing"
	"time"
)

// Server is an API listening on a TCP port.
type Server struct {
	*API
	hs *httptest.Server
}

// NewServer starts an API on Options.Addr (default: a free loopback port).
// It needs no testing.T, for programs that serve the fake to other
// processes.
func NewServer(opts Options) (*Server, error) {
	api, err := NewAPI(opts)
	if err != nil {
		return nil, err
	}
	hs := httptest.NewUnstartedServer(api)
	if opts.Addr != "" {
		hs.Listener.Close()
		if hs.Listener, err = net.Listen("tcp", opts.Addr); err != nil {
			return nil, err
		}
	}
	hs.Start()
	return &Server{API: api, hs: hs}, nil
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
func (s *Server) URL() string { return s.hs.URL + s.BasePath() }

// Close stops the server: pending injected delays end without an answer,
// then it waits for the requests in progress.
func (s *Server) Close() {
	s.shutdown()
	s.hs.Close()
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
