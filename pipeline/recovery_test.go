package pipeline

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/store"
)

// recoveryConfig gives a message enough attempts that the check's own
// bound, not maxAttempts, decides when it is posted unchecked.
func recoveryConfig() Config {
	cfg := testConfig()
	cfg.MaxAttempts = 25
	return cfg
}

// A store answered 500 after the API stored the conversation is found by
// the next attempt's check and not posted again.
func TestStoredThen500IsNotPostedAgain(t *testing.T) {
	h := newHarness(t)
	h.api.Inject(testapi.Fault{Path: "conversation/store", Kind: testapi.StoreThenFail, Status: http.StatusInternalServerError, Times: 1})
	r := h.ingest(message("stored500@example.org"))
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Queued || m.Uncertain != 1 {
		t.Fatalf("after stored-then-500: %+v, want queued with 1 uncertain attempt", m)
	}
	h.clock.Add(2 * time.Second)
	h.drain()
	m := h.get(r.QueueID)
	if m.State != store.Delivered || m.ConversationID == 0 {
		t.Fatalf("after the check: %+v, want delivered with the stored conversation's id", m)
	}
	if n := h.api.CountByExternalID("stored500@example.org"); n != 1 {
		t.Errorf("stored %d times, want 1 (0 duplicates)", n)
	}
	if n := h.api.CountRequests("POST", "conversation/store"); n != 1 {
		t.Errorf("%d store calls, want 1", n)
	}
	if !strings.Contains(h.logs.String(), "not posted again") {
		t.Errorf("no line about the earlier store:\n%s", h.logs)
	}
}

// A 500 without a store is checked too, and the API's "not there" lets the
// message be posted again, once.
func TestFailed500WithoutStoreIsPostedAgainOnce(t *testing.T) {
	h := newHarness(t)
	h.api.Inject(testapi.Fault{Path: "conversation/store", Status: http.StatusInternalServerError, Times: 1})
	r := h.ingest(message("plain500@example.org"))
	h.drain()
	h.clock.Add(2 * time.Second)
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Delivered {
		t.Fatalf("row = %+v", m)
	}
	if n := h.api.CountByExternalID("plain500@example.org"); n != 1 {
		t.Errorf("stored %d times, want 1", n)
	}
	if n := h.api.CountRequests("POST", "conversation/store"); n != 2 {
		t.Errorf("%d store calls, want 2 (the failed one and one more)", n)
	}
	if n := h.api.CountRequests("GET", "/conversation"); n != 1 {
		t.Errorf("%d checks, want 1", n)
	}
}

// A check that fails is retried with backoff instead of a blind post;
// only the message's last attempt posts, with a warning.
func TestFailingCheckIsRetriedThenPostedOnTheLastAttempt(t *testing.T) {
	cfg := recoveryConfig()
	cfg.MaxAttempts = 8
	// The attempt whose answer was lost, the failed checks, and the last
	// attempt, which posts.
	checks := cfg.MaxAttempts - 1
	h := newHarnessConfig(t, cfg)
	h.api.Inject(testapi.Fault{Path: "conversation/store", Kind: testapi.DropAfterStore, Times: 1})
	h.api.Inject(testapi.Fault{Method: "GET", Path: "/conversation", Status: http.StatusServiceUnavailable})
	r := h.ingest(message("checkfails@example.org"))
	h.drain() // the store's answer is lost
	for i := 1; i < checks; i++ {
		h.clock.Add(2 * time.Minute)
		h.drain()
		m := h.get(r.QueueID)
		if m.State != store.Queued || failedChecks(m.LastError) != i {
			t.Fatalf("after failed check %d: %+v", i, m)
		}
		if n := h.api.CountRequests("POST", "conversation/store"); n != 1 {
			t.Fatalf("after failed check %d: %d store calls, want 1 (no blind post)", i, n)
		}
		if wait := m.NextAttemptAt.Sub(h.clock.Now()); wait <= 0 {
			t.Fatalf("after failed check %d: next attempt in %s, want a backoff", i, wait)
		}
	}
	h.clock.Add(2 * time.Minute)
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Delivered {
		t.Fatalf("after %d failed checks: %+v, want delivered", checks, m)
	}
	if n := h.api.CountRequests("GET", "/conversation"); n != checks {
		t.Errorf("%d checks, want %d", n, checks)
	}
	// The lost answer's conversation and the one posted unchecked.
	if n := h.api.CountByExternalID("checkfails@example.org"); n != 2 {
		t.Errorf("stored %d times, want 2", n)
	}
	if !strings.Contains(h.logs.String(), "posting it, which may store it twice") {
		t.Errorf("no warning about the unchecked post:\n%s", h.logs)
	}
}

// A check that answers in time after failing lets no duplicate through.
func TestCheckThatRecoversFindsTheConversation(t *testing.T) {
	h := newHarnessConfig(t, recoveryConfig())
	h.api.Inject(testapi.Fault{Path: "conversation/store", Kind: testapi.StoreThenFail, Status: http.StatusBadGateway, Times: 1})
	h.api.Inject(testapi.Fault{Method: "GET", Path: "/conversation", Status: http.StatusServiceUnavailable, Times: 2})
	r := h.ingest(message("recovers@example.org"))
	for range 4 {
		h.drain()
		h.clock.Add(2 * time.Minute)
	}
	if m := h.get(r.QueueID); m.State != store.Delivered {
		t.Fatalf("row = %+v", m)
	}
	if n := h.api.CountByExternalID("recovers@example.org"); n != 1 {
		t.Errorf("stored %d times, want 1", n)
	}
}

// An API without the listing cannot be asked: the message is posted again
// as it would be without the check, and that is said once.
func TestAPIWithoutListingFallsBackToPosting(t *testing.T) {
	h := newHarnessAPI(t, testConfig(), testapi.Options{NoConversationList: true})
	h.api.Inject(testapi.Fault{Path: "conversation/store", Kind: testapi.StoreThenFail, Status: http.StatusInternalServerError, Times: 2})
	a := h.ingest(message("nolist1@example.org"))
	b := h.ingest(message("nolist2@example.org"))
	h.drain()
	h.clock.Add(2 * time.Second)
	h.drain()
	for _, id := range []int64{a.QueueID, b.QueueID} {
		if m := h.get(id); m.State != store.Delivered {
			t.Fatalf("row = %+v", m)
		}
	}
	// Each was stored by the failed call and again by the retry.
	if n := len(h.api.Conversations()); n != 4 {
		t.Errorf("%d conversations, want 4 (a duplicate each)", n)
	}
	if n := strings.Count(h.logs.String(), "does not list a ticket's conversations"); n != 1 {
		t.Errorf("%d warnings about the missing listing, want 1", n)
	}
}

// apiStates records what an APIObserver is told.
type apiStates struct {
	NopObserver
	mu     sync.Mutex
	states []string
}

func (o *apiStates) APIState(up, authOK bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.states = append(o.states, fmt.Sprintf("up=%v auth=%v", up, authOK))
}

func (o *apiStates) list() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.states, ", ")
}

var _ interface {
	Observer
	APIObserver
} = (*apiStates)(nil)

// The log lines of warning level and above.
var loudLine = regexp.MustCompile(`(?m)^.*level=(WARN|ERROR).*$`)

// An outage of many messages logs a constant number of lines: its start,
// a summary per summaryEvery with the attempts, the oldest message and the
// last error, and its end. Each message's line is at debug.
func TestOutageIsLoggedByStateNotByMail(t *testing.T) {
	for _, mails := range []int{10, 60} {
		t.Run(fmt.Sprint(mails), func(t *testing.T) {
			cfg := recoveryConfig()
			obs := &apiStates{}
			cfg.Observer = obs
			h := newHarnessConfig(t, cfg)
			for i := range mails {
				h.ingest(message(fmt.Sprintf("outage%d@example.org", i)))
			}
			h.api.Inject(testapi.Fault{Status: http.StatusServiceUnavailable})
			start := h.logs.Len()
			const rounds = 5
			attempts := 0
			for range rounds {
				attempts += h.drain()
				h.clock.Add(2 * time.Minute)
			}
			during := h.logs.String()[start:]
			loud := loudLine.FindAllString(during, -1)
			// downAfter-1 lines before the API counts as down, the
			// change, and a summary per round at most.
			if max := downAfter + 1 + rounds; len(loud) > max {
				t.Errorf("%d attempts logged %d lines at warn or above, want at most %d:\n%s",
					attempts, len(loud), max, strings.Join(loud, "\n"))
			}
			t.Logf("%d attempts, %d lines at warn or above:\n%s", attempts, len(loud), strings.Join(loud, "\n"))
			if n := strings.Count(during, "API DOWN"); n != 1 {
				t.Errorf("%d API DOWN lines, want 1", n)
			}
			if n := strings.Count(during, `level=DEBUG msg="delivery failed; will retry"`); n < attempts-downAfter {
				t.Errorf("%d per-mail lines at debug for %d attempts", n, attempts)
			}
			summaries := regexp.MustCompile(`msg="API still down".*`).FindAllString(during, -1)
			if len(summaries) == 0 {
				t.Fatalf("no summary:\n%s", strings.Join(loud, "\n"))
			}
			for _, s := range summaries {
				for _, attr := range []string{"failed_attempts=", "oldest_queued_at=", "oldest_waiting=", "last_err=", "503"} {
					if !strings.Contains(s, attr) {
						t.Errorf("summary without %s: %s", attr, s)
					}
				}
			}
			h.api.ClearFaults()
			h.drain()
			if n := strings.Count(h.logs.String(), "API answers again"); n != 1 {
				t.Errorf("%d recovery lines, want 1", n)
			}
			if got := obs.list(); got != "up=true auth=true, up=false auth=true, up=true auth=true" {
				t.Errorf("observer told %s", got)
			}
		})
	}
}

// A refused token is one error line, then summaries, then one line when
// the token is taken again.
func TestRefusedTokenIsLoggedByStateNotByMail(t *testing.T) {
	cfg := recoveryConfig()
	obs := &apiStates{}
	cfg.Observer = obs
	h := newHarnessConfig(t, cfg)
	for i := range 30 {
		h.ingest(message(fmt.Sprintf("token%d@example.org", i)))
	}
	h.api.Inject(testapi.Fault{Status: http.StatusForbidden})
	start := h.logs.Len()
	for range 3 {
		h.drain()
		h.clock.Add(cfg.AuthRetry)
	}
	during := h.logs.String()[start:]
	if loud := loudLine.FindAllString(during, -1); len(loud) > 4 {
		t.Errorf("90 refused attempts logged %d lines at warn or above, want 4 at most:\n%s", len(loud), strings.Join(loud, "\n"))
	}
	if n := strings.Count(during, "API REJECTS THE TOKEN"); n != 1 {
		t.Errorf("%d token lines, want 1", n)
	}
	if !strings.Contains(during, `msg="API still rejects the token"`) {
		t.Errorf("no summary")
	}
	h.api.ClearFaults()
	h.drain()
	if n := strings.Count(h.logs.String(), "API accepts the token again"); n != 1 {
		t.Errorf("%d recovery lines, want 1", n)
	}
	if got := obs.list(); got != "up=true auth=true, up=true auth=false, up=true auth=true" {
		t.Errorf("observer told %s", got)
	}
}

// A single failure is no outage: its line stays a warning, and the API is
// not reported down.
func TestIsolatedFailureIsNoOutage(t *testing.T) {
	cfg := testConfig()
	obs := &apiStates{}
	cfg.Observer = obs
	h := newHarnessConfig(t, cfg)
	h.api.Inject(testapi.Fault{Path: "conversation/store", Status: http.StatusBadGateway, Times: 1})
	h.ingest(message("once@example.org"))
	h.drain()
	if !strings.Contains(h.logs.String(), `level=WARN msg="delivery failed; will retry"`) {
		t.Errorf("the failure is not a warning:\n%s", h.logs)
	}
	if strings.Contains(h.logs.String(), "API DOWN") || obs.list() != "up=true auth=true" {
		t.Errorf("one failure reported as an outage: %s", obs.list())
	}
}
