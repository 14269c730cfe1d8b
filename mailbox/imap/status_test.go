package imap

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/enneo/mailbridge/internal/testenv"
)

// runPoller runs a poller for cfg until the test ends and returns it.
func runPoller(t *testing.T, cfg Config) *Poller {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return p
}

func TestStatusConnectedAndPolled(t *testing.T) {
	srv := newMemServer(t, imap.CapIdle)
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := srv.config(q, cp, log)
	cfg.IDLE = true
	before := time.Now()
	p := runPoller(t, cfg)
	testenv.WaitFor(t, 5*time.Second, "connected and polled", func() bool {
		s := p.Status()
		return s.State == Connected && !s.LastPoll.IsZero()
	})
	s := p.Status()
	if s.Mailbox != "support" || s.Folder != "INBOX" || !s.IDLE || s.Errors != 0 || s.LastError != "" ||
		s.Since.Before(before) || s.LastPoll.Before(s.Since) {
		t.Errorf("status = %+v, want support/INBOX connected in IDLE, polled, no errors", s)
	}
}

func TestStatusReportsTheFailure(t *testing.T) {
	srv := newMemServer(t)
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := srv.config(q, cp, log)
	cfg.Password = "wrong"
	p := runPoller(t, cfg)
	testenv.WaitFor(t, 5*time.Second, "two failed sessions", func() bool { return p.Status().Errors >= 2 })
	s := p.Status()
	if s.State == Connected || !s.LastPoll.IsZero() || !strings.Contains(s.LastError, "login") || s.LastErrorAt.IsZero() {
		t.Errorf("status = %+v, want not connected, never polled, the login error", s)
	}
	if strings.Contains(s.LastError, "wrong") {
		t.Errorf("password in the status: %q", s.LastError)
	}
}
