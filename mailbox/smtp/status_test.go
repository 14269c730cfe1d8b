package smtp

import (
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"
)

// refusals is an Observer that counts refusals by reason.
type refusals struct {
	mu sync.Mutex
	by map[Reason]int
}

func (r *refusals) Rejected(listener string, why Reason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if listener != "test" {
		why = "wrong listener " + Reason(listener)
	}
	if r.by == nil {
		r.by = map[Reason]int{}
	}
	r.by[why]++
}

func (r *refusals) get() map[Reason]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.by)
}

func TestObserverCountsRefusals(t *testing.T) {
	obs := &refusals{}
	ts := startServer(t, Options{MaxMessageBytes: 100, MaxConnectionsPerIP: 1, Observer: obs})
	c := dial(t, ts.addr)
	if err := c.SendMail("a@example.org", []string{"nobody@example.com"}, strings.NewReader(message("x", 10))); code(err) != "550 5.1.1" {
		t.Fatalf("unrouted: %v", err)
	}
	if err := c.SendMail("a@example.org", []string{"support@example.com"}, strings.NewReader(message("x", 500))); code(err) != "552 5.3.4" {
		t.Fatalf("too large: %v", err)
	}
	// The one connection this IP may have is taken.
	if got := dialRaw(t, ts.addr).reply(t); !strings.HasPrefix(got, "421 4.7.0") {
		t.Fatalf("second connection: %q", got)
	}
	want := map[Reason]int{ReasonNoRoute: 1, ReasonTooLarge: 1, ReasonTooManyConns: 1}
	if got := obs.get(); !maps.Equal(got, want) {
		t.Errorf("refusals %v, want %v", got, want)
	}

	nobody := startServer(t, Options{AllowedNetworks: []netip.Prefix{}, Observer: obs})
	if err := dial(t, nobody.addr).Mail("a@example.org", nil); code(err) != "554 5.7.1" {
		t.Fatalf("relay: %v", err)
	}
	if got := obs.get()[ReasonRelayDenied]; got != 1 {
		t.Errorf("relay_denied counted %d times, want 1", got)
	}
}

func TestStatusWhileServingAndAfter(t *testing.T) {
	ts := startServer(t, Options{})
	c := dial(t, ts.addr)
	defer c.Close()
	s := ts.srv.Status()
	if s.Name != "test" || s.Address != ts.addr || s.Mode != "smtp" || s.TLS != "none" || !s.Listening {
		t.Errorf("status while serving = %+v", s)
	}
	waitConns := func(n int) {
		t.Helper()
		testenv.WaitUntil(t, 5*time.Second, fmt.Sprintf("%d connections", n), func() (bool, string) {
			got := ts.srv.Status().Connections
			return got == n, fmt.Sprintf("%d", got)
		})
	}
	waitConns(1)
	c.Quit()
	waitConns(0)
	ts.stop(t)
	if s := ts.srv.Status(); s.Listening {
		t.Errorf("status after stop = %+v, want not listening", s)
	}
}
