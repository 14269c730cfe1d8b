package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/api"
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

// While the API is down, attempts do not count against a message: an
// outage makes no dead letters before delivery.maxAge, however long it is.
func TestOutageAttemptsDoNotCount(t *testing.T) {
	h := newHarness(t)
	h.api.Inject(testapi.Fault{Path: "conversation/store", Status: http.StatusBadGateway})
	r := h.ingest(message("patient@example.org"))
	for range 3 * testConfig().MaxAttempts {
		h.drain()
		h.clock.Add(time.Hour)
	}
	m := h.get(r.QueueID)
	if m.State != store.Queued || m.Attempts >= testConfig().MaxAttempts {
		t.Fatalf("after %d failed attempts in an outage: state %s, %d counted; want queued, fewer than %d",
			3*testConfig().MaxAttempts, m.State, m.Attempts, testConfig().MaxAttempts)
	}
	h.api.ClearFaults()
	h.clock.Add(time.Hour)
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Delivered {
		t.Fatalf("after the outage: %+v", m)
	}
}

// A token refused on the store alone (one that may read the settings the
// probe asks for): the probe's answer does not end the refusal, so held
// mail is not posted in a loop; one pilot per probe interval tries it.
func TestStoreOnlyRefusalDoesNotLoop(t *testing.T) {
	h := newHarnessConfig(t, slowBackoff())
	h.api.Inject(testapi.Fault{Method: http.MethodPost, Path: "/conversation", Status: http.StatusForbidden})
	runHarness(t, h)
	h.ingest(message("refused@example.org"))
	testenv.WaitFor(t, 10*time.Second, "the message to be refused once", func() bool {
		return h.api.CountRequests(http.MethodPost, "/conversation") >= 1
	})
	time.Sleep(5 * time.Second)
	// The first post, then pilots after the probes at about 1 s and 3 s.
	if n := h.api.CountRequests(http.MethodPost, "/conversation"); n > 4 {
		t.Errorf("one message refused with 403 was posted %d times within 5s", n)
	}
	if n := strings.Count(h.logs.String(), "API REJECTS THE TOKEN"); n != 1 {
		t.Errorf("%d lines about the refused token, want 1", n)
	}
}

// The same for an API without the subchannel list the probe reads (404).
func TestProbeWithoutSubchannelListDoesNotLoop(t *testing.T) {
	h := newHarnessConfig(t, slowBackoff())
	h.api.Inject(testapi.Fault{Path: "/settings/subchannel", Status: http.StatusNotFound})
	h.api.SetToken("rotated")
	runHarness(t, h)
	h.ingest(message("held@example.org"))
	testenv.WaitFor(t, 10*time.Second, "the first refusal", func() bool {
		return h.api.CountRequests(http.MethodPost, "/ticket") >= 1
	})
	time.Sleep(3 * time.Second)
	if n := h.api.CountRequests(http.MethodPost, "/ticket"); n > 3 {
		t.Errorf("one message held by a refused token was posted %d times in 3s", n)
	}
}

// The ticket endpoints fail for good while the settings the probe reads
// answer: the backoff holds (one pilot per probe interval), and no attempt
// counts, so nothing is dead-lettered.
func TestPartialOutageKeepsBackoff(t *testing.T) {
	h := newHarnessConfig(t, slowBackoff())
	h.api.Inject(testapi.Fault{Path: "/ticket", Status: http.StatusServiceUnavailable})
	runHarness(t, h)
	const n = 6
	for i := range n {
		h.ingest(message(fmt.Sprintf("o%d@example.org", i)))
	}
	testenv.WaitFor(t, 10*time.Second, "every mail to fail once", func() bool {
		return h.api.CountRequests(http.MethodPost, "/ticket") >= n
	})
	time.Sleep(8 * time.Second)
	if calls := h.api.CountRequests("", "/ticket"); calls > n+4 {
		t.Errorf("%d mails with a backoff of 10m or more caused %d ticket calls in 8s", n, calls)
	}
	if st, err := h.store.Stats(context.Background()); err != nil || st.Counts[store.Dead] > 0 {
		t.Errorf("dead letters in a partial outage: %v, %v", st.Counts, err)
	}
}

// A message the API told to come back later (429, Retry-After) keeps
// waiting when an outage ends and the other waiting mail is released.
func TestReleaseKeepsRetryAfter(t *testing.T) {
	h := newHarnessConfig(t, slowBackoff())
	h.api.Inject(testapi.Fault{Method: http.MethodPost, Path: "/conversation", Status: http.StatusTooManyRequests, RetryAfter: "3600", Times: 1})
	runHarness(t, h)
	h.ingest(message("told-to-wait@example.org"))
	testenv.WaitFor(t, 10*time.Second, "the 429", func() bool {
		st, err := h.store.Stats(context.Background())
		return err == nil && st.Counts[store.Queued] == 1 && h.api.CountRequests(http.MethodPost, "/conversation") == 1
	})
	h.api.Inject(testapi.Fault{Status: http.StatusServiceUnavailable})
	for i := range 6 {
		h.ingest(message(fmt.Sprintf("other%d@example.org", i)))
	}
	testenv.WaitFor(t, 20*time.Second, "the API to count as down", func() bool { return h.p.health.troubledNow() })
	h.api.ClearFaults()
	h.api.WaitConversations(t, 6, 20*time.Second)
	time.Sleep(time.Second)
	if c := h.api.CountByExternalID("told-to-wait@example.org"); c != 0 {
		t.Errorf("the message told to retry after 3600s was posted %d time(s) when the outage ended", c)
	}
}

// While the API is down, the workers wait: mail queued before and during
// the outage is not attempted message by message, only the probe asks and
// one pilot at a time tries; when the API answers, all of it goes.
func TestOutageHoldsWorkersBackForThePilot(t *testing.T) {
	h := newHarness(t) // retries after about a second, were they tried
	h.api.Inject(testapi.Fault{Status: http.StatusServiceUnavailable})
	runHarness(t, h)
	const before, during = 6, 20
	for i := range before {
		h.ingest(message(fmt.Sprintf("before%d@example.org", i)))
	}
	testenv.WaitFor(t, 20*time.Second, "the API to count as down", func() bool { return h.p.health.troubledNow() })
	calls := func() (n int) {
		for _, r := range h.api.Requests() {
			if !strings.Contains(r.Path, "settings/subchannel") {
				n++
			}
		}
		return n
	}
	start := calls()
	for i := range during {
		h.ingest(message(fmt.Sprintf("during%d@example.org", i)))
	}
	time.Sleep(4 * time.Second)
	// The probe asks after about 1 s and 3 s, and each time the
	// subchannel list fails too; a pilot goes only once a minute then.
	if n := calls() - start; n > 2 {
		t.Errorf("%d delivery calls in 4 s of outage with %d mails waiting; want at most 2 (pilots)", n, before+during)
	}
	h.api.ClearFaults()
	h.api.WaitConversations(t, before+during, 30*time.Second)
}

// poisonAPI fails the store of one message with a 500, every time, and
// passes everything else (the probe's question too) to the API.
type poisonAPI struct {
	Conversations
	id string
}

func (a poisonAPI) StoreConversation(ctx context.Context, ticketID int64, c *api.Conversation) (*api.StoreResult, error) {
	if c.ExternalConversationID == a.id {
		return nil, &api.Error{Status: http.StatusInternalServerError, Class: api.Retryable, Message: "internal error"}
	}
	return a.Conversations.StoreConversation(ctx, ticketID, c)
}

func (a poisonAPI) Ping(ctx context.Context) error { return a.Conversations.(Pinger).Ping(ctx) }

// One mail the API fails on every time, alone in the queue, fails often
// enough in a row to count as an outage. The other mail must not wait
// behind it: the probe's answer shows the API is there.
func TestOneFailingMailDoesNotHoldBackTheRest(t *testing.T) {
	cfg := testConfig()
	cfg.BackoffInitial, cfg.BackoffMax, cfg.MaxAttempts = 50*time.Millisecond, 100*time.Millisecond, 1000
	h := newHarnessConfig(t, cfg)
	h.wrap = func(s store.Store, c Conversations) (store.Store, Conversations) {
		return s, poisonAPI{Conversations: c, id: "poison@example.org"}
	}
	h.open()
	runHarness(t, h)
	h.ingest(message("poison@example.org"))
	testenv.WaitFor(t, 20*time.Second, "the failing mail to count as an outage", func() bool { return h.p.health.troubledNow() })
	const n = 3
	for i := range n {
		h.ingest(message(fmt.Sprintf("fine%d@example.org", i)))
	}
	h.api.WaitConversations(t, n, 20*time.Second)
}

// An attempt under way when the waiting mail is released (the outage
// ended), whose failure comes back after the release, is due at once like
// the mail released, not after its backoff; an attempt claimed after the
// release waits its backoff.
func TestFailureStraddlingReleaseIsDueNow(t *testing.T) {
	h := newHarnessConfig(t, slowBackoff())
	ctx := context.Background()
	claim := func(id string) store.Claim {
		t.Helper()
		r := h.ingest(message(id))
		claims, err := h.p.claim(ctx, 1)
		if err != nil || len(claims) != 1 || claims[0].ID != r.QueueID {
			t.Fatalf("claim of %s = %v, %v", id, claims, err)
		}
		h.clock.Add(time.Second)
		return claims[0]
	}
	fail := func(c *store.Claim) time.Duration {
		t.Helper()
		h.p.failed(ctx, h.p.log, c, "store conversation",
			&api.Error{Op: "store conversation", Status: http.StatusServiceUnavailable, Class: api.Retryable})
		m, _, err := h.store.Get(ctx, c.ID)
		if err != nil || m.State != store.Queued {
			t.Fatalf("after the failure: %v, %v", m.State, err)
		}
		return m.NextAttemptAt.Sub(h.clock.Now())
	}

	c := claim("straddler@example.org")
	h.p.release(ctx, "the API answers again")
	h.clock.Add(time.Second)
	if wait := fail(&c); wait > 0 {
		t.Errorf("the failure of an attempt under way at the release is due in %v; want now", wait)
	}
	// A claim's UpdatedAt is the wall clock's, in milliseconds.
	time.Sleep(2 * time.Millisecond)
	c = claim("after@example.org")
	if wait := fail(&c); wait < 5*time.Minute {
		t.Errorf("the failure of an attempt claimed after the release is due in %v; want its backoff", wait)
	}
}

// releaseDuringRetry makes the waiting mail due (a release) while the
// record of a failed attempt is under way, before it is written.
type releaseDuringRetry struct {
	store.Store
	release func()
}

func (s *releaseDuringRetry) Retry(ctx context.Context, id int64, attempt int, f store.Failure) error {
	s.release()
	return s.Store.Retry(ctx, id, attempt, f)
}

// A release that comes while a failed attempt's record is being written
// cannot see that message, which is not waiting yet: the record makes the
// waiting mail due again, and the message is due at once.
func TestReleaseDuringFailureRecord(t *testing.T) {
	h := newHarnessConfig(t, slowBackoff())
	rs := &releaseDuringRetry{}
	h.wrap = func(st store.Store, c Conversations) (store.Store, Conversations) {
		rs.Store = st
		return rs, c
	}
	h.open()
	ctx := context.Background()
	rs.release = func() {}
	r := h.ingest(message("raced@example.org"))
	claims, err := h.p.claim(ctx, 1)
	if err != nil || len(claims) != 1 || claims[0].ID != r.QueueID {
		t.Fatalf("claim = %v, %v", claims, err)
	}
	rs.release = func() { h.p.release(ctx, "the API answers again") }
	h.p.failed(ctx, h.p.log, &claims[0], "store conversation",
		&api.Error{Op: "store conversation", Status: http.StatusServiceUnavailable, Class: api.Retryable})
	m, _, err := h.store.Get(ctx, r.QueueID)
	if err != nil || m.State != store.Queued {
		t.Fatalf("after the failure: %v, %v", m.State, err)
	}
	if wait := m.NextAttemptAt.Sub(h.clock.Now()); wait > 0 {
		t.Errorf("a failure recorded across a release is due in %v; want now", wait)
	}
}

// A wall clock that steps back after a release stamps the claims made
// after it before the release: their failures are the mail's own, and
// wait out their backoff, or a mail that fails every time would be
// attempted again at once, and use up its attempts, until the clock
// passed the release again.
func TestReleaseBeforeClockStepBackIsNoRetryLoop(t *testing.T) {
	h := newHarnessConfig(t, slowBackoff())
	ctx := context.Background()
	h.p.release(ctx, "the API answers again")
	// The release as its stamp reads after the clock stepped back an hour.
	h.p.releasedAt.Store(time.Now().Add(time.Hour).UnixNano())
	r := h.ingest(message("stepped@example.org"))
	for i := range 3 {
		claims, err := h.p.claim(ctx, 1)
		if err != nil || len(claims) != 1 || claims[0].ID != r.QueueID {
			if i > 0 && err == nil && len(claims) == 0 {
				return // waiting out its backoff
			}
			t.Fatalf("claim %d = %v, %v", i, claims, err)
		}
		h.p.failed(ctx, h.p.log, &claims[0], "store conversation",
			&api.Error{Op: "store conversation", Status: http.StatusInternalServerError, Class: api.Retryable})
		m, _, err := h.store.Get(ctx, r.QueueID)
		if err != nil || m.State != store.Queued {
			t.Fatalf("after failure %d: %v, %v", i, m.State, err)
		}
		if wait := m.NextAttemptAt.Sub(h.clock.Now()); wait < 5*time.Minute {
			t.Errorf("failure %d (attempt %d) of a mail claimed after the release is due in %v; want its backoff", i, m.Attempts, wait)
		}
	}
}

// A check at the API (did an earlier attempt store the conversation?)
// that fails with the API's Retry-After waits it out, like any failure
// with one, also when the waiting mail was released while it was under
// way.
func TestFailedCheckKeepsRetryAfterAcrossRelease(t *testing.T) {
	h := newHarnessConfig(t, slowBackoff())
	ctx := context.Background()
	r := h.ingest(message("checked@example.org"))
	claims, err := h.p.claim(ctx, 1)
	if err != nil || len(claims) != 1 || claims[0].ID != r.QueueID {
		t.Fatalf("claim = %v, %v", claims, err)
	}
	h.clock.Add(time.Second)
	h.p.release(ctx, "the API answers again")
	h.api.Inject(testapi.Fault{Method: http.MethodGet, Path: "/conversation", Status: http.StatusServiceUnavailable, RetryAfter: "7200"})
	if _, _, handled := h.p.storedEarlier(ctx, h.p.log, &claims[0], 1); !handled {
		t.Fatal("the failed check was not recorded")
	}
	m, _, err := h.store.Get(ctx, r.QueueID)
	if err != nil || m.State != store.Queued {
		t.Fatalf("after the failed check: %v, %v", m.State, err)
	}
	if wait := m.NextAttemptAt.Sub(h.clock.Now()); wait < time.Hour {
		t.Errorf("a check the API answered with Retry-After: 7200 is due again in %v; want 2h", wait)
	}
	// Nor does a later release bring it forward.
	h.p.release(ctx, "the API accepts the new token")
	if m, _, err = h.store.Get(ctx, r.QueueID); err != nil || m.NextAttemptAt.Sub(h.clock.Now()) < time.Hour {
		t.Errorf("after a later release: due in %v, %v; want 2h", m.NextAttemptAt.Sub(h.clock.Now()), err)
	}
}
