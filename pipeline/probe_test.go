package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/store"
)

// runHarness runs h's pipeline with the wall clock until the test ends.
func runHarness(t *testing.T, h *harness) {
	t.Helper()
	h.p.now = time.Now
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// slowBackoff makes a retry wait long enough that a test sees the mail
// delivered only if something pulled the retry forward.
func slowBackoff() Config {
	cfg := testConfig()
	cfg.BackoffInitial, cfg.BackoffMax = 10*time.Minute, time.Hour
	cfg.MaxAttempts = 25
	return cfg
}

// Mail that failed during an outage is delivered as soon as the API
// answers again, although its retries are scheduled minutes ahead: the
// probe notices, and the waiting retries are pulled forward.
func TestOutageEndReleasesWaitingMail(t *testing.T) {
	h := newHarnessConfig(t, slowBackoff())
	h.api.Inject(testapi.Fault{Status: http.StatusServiceUnavailable})
	runHarness(t, h)
	const n = 8
	for i := range n {
		h.ingest(message(fmt.Sprintf("outage%d@example.org", i)))
	}
	testenv.WaitFor(t, 20*time.Second, "the API to count as down", func() bool { return h.p.health.troubledNow() })
	testenv.WaitFor(t, 20*time.Second, "every mail to fail once", func() bool {
		st, err := h.store.Stats(context.Background())
		return err == nil && st.Counts[store.Queued] == n
	})
	h.api.ClearFaults()
	h.api.WaitConversations(t, n, 15*time.Second)
	if !strings.Contains(h.logs.String(), "waiting messages are due now") {
		t.Errorf("no line about the released mail:\n%s", h.logs)
	}
}

// A token the API refuses holds mail back; TokenChanged with the right
// token delivers it at once, not after AuthRetry.
func TestTokenChangedReleasesHeldMail(t *testing.T) {
	h := newHarnessConfig(t, slowBackoff())
	h.api.SetToken("rotated")
	runHarness(t, h)
	const n = 5
	for i := range n {
		h.ingest(message(fmt.Sprintf("held%d@example.org", i)))
	}
	testenv.WaitFor(t, 20*time.Second, "every mail to be refused", func() bool {
		st, err := h.store.Stats(context.Background())
		return err == nil && st.Counts[store.Queued] == n && h.p.health.troubledNow()
	})
	h.p.api.(tokenSetter).SetToken("rotated")
	h.p.TokenChanged()
	h.api.WaitConversations(t, n, 5*time.Second)
}

type tokenSetter interface{ SetToken(string) }
