package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/sqlite"
)

const token = "pipeline-test-token"

// clock is a settable time source, so retries and leases can be tested
// without sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// harness is a pipeline over a real SQLite store and the fake enneo API.
type harness struct {
	t     *testing.T
	dir   string
	api   *testapi.Server
	store *sqlite.Store
	p     *Pipeline
	clock *clock
	logs  *testenv.Buffer
	cfg   Config
	// wrap, if set, stands between the pipeline and its store and API
	// from the next open on.
	wrap func(store.Store, Conversations) (store.Store, Conversations)
}

func testConfig() Config {
	return Config{
		Workers: 2, MaxAttempts: 5, MaxAge: 72 * time.Hour, Lease: time.Minute,
		Poll: 20 * time.Millisecond, AuthRetry: 5 * time.Minute,
		BackoffInitial: time.Second, BackoffMax: time.Minute,
		InlineImageMaxBytes: 1024,
		Subchannels:         map[int]Subchannel{4: {Process: "batch", Direction: "in"}},
	}
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessConfig(t, testConfig())
}

// newHarnessConfig is newHarness with a pipeline configured by cfg.
func newHarnessConfig(t *testing.T, cfg Config) *harness {
	t.Helper()
	return newHarnessAPI(t, cfg, testapi.Options{})
}

// newHarnessAPI is newHarnessConfig with a fake API of opts (the token is
// the harness's).
func newHarnessAPI(t *testing.T, cfg Config, opts testapi.Options) *harness {
	t.Helper()
	opts.Token = token
	h := &harness{
		cfg: cfg,
		t:   t,
		dir: t.TempDir(),
		api: testapi.New(t, opts),
		// Ahead of the wall clock, which the store uses to stamp enqueued
		// and requeued messages as due: they are due on the fake clock too.
		clock: &clock{now: time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)},
		logs:  &testenv.Buffer{},
	}
	h.open()
	t.Cleanup(func() {
		h.store.Close()
		h.api.AssertValid(t)
	})
	return h
}

// open (re)opens the store and builds a pipeline on it, as a restarted
// process would.
func (h *harness) open() {
	h.t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(h.dir, "queue.db"))
	if err != nil {
		h.t.Fatal(err)
	}
	h.store = st
	client := api.New(api.Options{
		BaseURL: h.api.URL(), Token: token, Timeout: 5 * time.Second, UserAgent: "mailbridge/test",
		Ticket: api.TicketOptions{Path: "/ticket", IDField: "id", Process: "batch",
			Fields: []string{"subchannelId", "from", "subject", "externalTicketId"}, Static: map[string]any{"channel": "email"}},
	})
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var s store.Store = st
	var c Conversations = client
	if h.wrap != nil {
		s, c = h.wrap(s, c)
	}
	h.p = New(s, c, h.cfg, log)
	h.p.now = h.clock.Now
}

// wrapSQLite reopens h's store and pipeline with the store wrap makes of
// the SQLite store, as a test's view into the store's calls.
func (h *harness) wrapSQLite(wrap func(*sqlite.Store) store.Store) {
	h.t.Helper()
	h.wrap = func(st store.Store, c Conversations) (store.Store, Conversations) {
		return wrap(st.(*sqlite.Store)), c
	}
	h.store.Close()
	h.open()
}

// crash drops the store without any orderly shutdown of the pipeline,
// then reopens it.
func (h *harness) crash() {
	h.t.Helper()
	h.store.Close()
	h.open()
}

func (h *harness) ingest(raw []byte) mailbox.Receipt {
	h.t.Helper()
	r, err := h.p.Ingest(context.Background(), mailbox.Message{
		Raw: raw, SubchannelID: 4,
		Origin: mailbox.Origin{Source: "smtp", ReceivedAt: h.clock.Now(), SMTP: &mailbox.SMTPOrigin{MailFrom: "a@example.org", RcptTo: []string{"support@example.com"}}},
	})
	if err != nil {
		h.t.Fatalf("Ingest: %v", err)
	}
	return r
}

// drain attempts every due message once.
func (h *harness) drain() int {
	h.t.Helper()
	total := 0
	for {
		n, err := h.p.DeliverDue(context.Background(), 10)
		if err != nil {
			h.t.Fatal(err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
}

func (h *harness) get(id int64) store.Message {
	h.t.Helper()
	m, _, err := h.store.Get(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

func message(id string) []byte {
	return []byte(fmt.Sprintf("From: Jane Doe <jane@example.org>\r\nTo: support@example.com\r\n"+
		"Subject: help with %s\r\nDate: Sun, 01 Mar 2026 11:00:00 +0000\r\nMessage-ID: <%s>\r\n\r\nPlease help.\r\n", id, id))
}

func TestDeliversOnceWithTicketAndRecordsAnswer(t *testing.T) {
	h := newHarness(t)
	r := h.ingest(message("one@example.org"))
	if r.Duplicate || r.ExternalID != "one@example.org" {
		t.Fatalf("receipt = %+v", r)
	}
	if n := h.drain(); n != 1 {
		t.Fatalf("attempted %d messages, want 1", n)
	}
	convs := h.api.Conversations()
	if len(convs) != 1 {
		t.Fatalf("API has %d conversations, want 1", len(convs))
	}
	c := convs[0]
	if c.Payload.ExternalConversationID != "one@example.org" || c.Payload.From != "jane@example.org" ||
		c.Payload.SubchannelID != 4 || c.Payload.Direction != "in" || c.Payload.Process != "batch" {
		t.Errorf("payload = %+v", c.Payload)
	}
	tickets := h.api.Tickets()
	if len(tickets) != 1 || tickets[0].ExternalTicketID != "4:one@example.org" || tickets[0].ID != c.TicketID {
		t.Errorf("tickets = %+v, conversation on ticket %d", tickets, c.TicketID)
	}
	m := h.get(r.QueueID)
	if m.State != store.Delivered || m.TicketID != int64(c.TicketID) || m.ConversationID != int64(c.ConversationID) ||
		m.EventID != int64(c.EventID) {
		t.Errorf("store row = %+v, want delivered with the API's answer %+v", m, c)
	}
	if !strings.Contains(h.logs.String(), "message_id=one@example.org") {
		t.Errorf("log lines lack the message id:\n%s", h.logs)
	}
	if strings.Contains(h.logs.String(), token) {
		t.Errorf("token in logs")
	}
}

func TestDuplicateIsAcknowledgedButPostedOnce(t *testing.T) {
	h := newHarness(t)
	first := h.ingest(message("dup@example.org"))
	again := h.ingest(message("dup@example.org"))
	if !again.Duplicate || again.QueueID != first.QueueID {
		t.Fatalf("second ingest = %+v, want duplicate of %d", again, first.QueueID)
	}
	h.drain()
	// A re-poll after delivery (e.g. the IMAP flag was never set) is a
	// duplicate too.
	if r := h.ingest(message("dup@example.org")); !r.Duplicate {
		t.Fatalf("ingest after delivery = %+v, want duplicate", r)
	}
	h.drain()
	if n := h.api.CountByExternalID("dup@example.org"); n != 1 {
		t.Errorf("API stored the message %d times, want 1", n)
	}
}

func TestSameMessageOnTwoSubchannelsIsTwoConversations(t *testing.T) {
	h := newHarness(t)
	for _, sub := range []int{4, 5} {
		if _, err := h.p.Ingest(context.Background(), mailbox.Message{Raw: message("two@example.org"), SubchannelID: sub,
			Origin: mailbox.Origin{Source: "smtp"}}); err != nil {
			t.Fatal(err)
		}
	}
	h.drain()
	if n := h.api.CountByExternalID("two@example.org"); n != 2 {
		t.Errorf("API stored %d conversations, want one per subchannel", n)
	}
}

func TestRetryableErrorsBackOffAndHonourRetryAfter(t *testing.T) {
	h := newHarness(t)
	h.api.Inject(testapi.Fault{Path: "conversation/store", Status: 503, RetryAfter: "120", Times: 1})
	h.api.Inject(testapi.Fault{Path: "conversation/store", Status: 500, Times: 1})
	r := h.ingest(message("retry@example.org"))

	h.drain()
	m := h.get(r.QueueID)
	if m.State != store.Queued || m.Attempts != 1 || !strings.Contains(m.LastError, "503") {
		t.Fatalf("after a 503: %+v", m)
	}
	if wait := m.NextAttemptAt.Sub(h.clock.Now()); wait < 120*time.Second {
		t.Errorf("next attempt in %s, want at least Retry-After 120s", wait)
	}
	if n := h.drain(); n != 0 {
		t.Fatalf("message retried %d times before it was due", n)
	}
	h.clock.Add(121 * time.Second)
	h.drain() // 500
	m = h.get(r.QueueID)
	if m.State != store.Queued || m.Attempts != 2 {
		t.Fatalf("after a 500: %+v", m)
	}
	if wait := m.NextAttemptAt.Sub(h.clock.Now()); wait < time.Second || wait > 2*time.Second {
		t.Errorf("second backoff = %s, want between 1s and 2s (initial 1s doubled, equal jitter)", wait)
	}
	h.clock.Add(2 * time.Second)
	h.drain()
	if m = h.get(r.QueueID); m.State != store.Delivered || m.Attempts != 3 {
		t.Fatalf("after recovery: %+v", m)
	}
	if n := h.api.CountByExternalID("retry@example.org"); n != 1 {
		t.Errorf("stored %d times, want 1", n)
	}
}

func TestPermanentErrorDeadLettersWithTheAPIsReason(t *testing.T) {
	h := newHarness(t)
	h.api.Inject(testapi.Fault{Path: "conversation/store", Status: 400, Times: 1})
	r := h.ingest(message("bad@example.org"))
	h.drain()
	m := h.get(r.QueueID)
	if m.State != store.Dead || !strings.Contains(m.LastError, "400") || !strings.Contains(m.LastError, "txId") {
		t.Fatalf("after a 400: %+v", m)
	}
	// An operator's retry delivers it once the cause is fixed.
	if err := h.store.Requeue(context.Background(), r.QueueID); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if m = h.get(r.QueueID); m.State != store.Delivered {
		t.Fatalf("after requeue: %+v", m)
	}
}

func TestAuthFailureRetriesSlowlyAndNeverGivesUp(t *testing.T) {
	h := newHarness(t)
	h.api.Inject(testapi.Fault{Path: "/ticket", Status: 403})
	r := h.ingest(message("auth@example.org"))
	for i := 0; i < testConfig().MaxAttempts+2; i++ {
		h.drain()
		m := h.get(r.QueueID)
		if m.State != store.Queued {
			t.Fatalf("attempt %d: state %s, want queued (a 403 never dead-letters)", i+1, m.State)
		}
		if wait := m.NextAttemptAt.Sub(h.clock.Now()); wait != 5*time.Minute {
			t.Fatalf("attempt %d: retry in %s, want authRetry 5m", i+1, wait)
		}
		h.clock.Add(5 * time.Minute)
	}
	if !strings.Contains(h.logs.String(), "API REJECTS THE TOKEN") {
		t.Errorf("no loud log line about the token")
	}
	h.api.ClearFaults()
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Delivered {
		t.Fatalf("after the token was fixed: %+v", m)
	}
}

// A message the API keeps failing while it delivers others uses up its
// attempts. (Attempts made while the API is down do not count: see
// TestOutageAttemptsDoNotCount.)
func TestGivesUpAfterMaxAttempts(t *testing.T) {
	h := newHarness(t)
	r := h.ingest(message("tired@example.org"))
	h.api.Inject(testapi.Fault{Path: "ticket/1001/conversation/store", Status: 502})
	for i := 0; i < testConfig().MaxAttempts; i++ {
		h.ingest(message(fmt.Sprintf("fine%d@example.org", i)))
		h.drain()
		h.clock.Add(2 * time.Minute)
	}
	m := h.get(r.QueueID)
	if m.State != store.Dead || m.Attempts != testConfig().MaxAttempts || !strings.Contains(m.LastError, "gave up after 5 attempts") {
		t.Fatalf("after max attempts: %+v", m)
	}
}

func TestGivesUpAfterMaxAge(t *testing.T) {
	h := newHarness(t)
	h.api.Inject(testapi.Fault{Path: "conversation/store", Status: 502})
	r := h.ingest(message("old@example.org"))
	h.clock.Add(73 * time.Hour)
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Dead || !strings.Contains(m.LastError, "gave up") {
		t.Fatalf("after max age: %+v", m)
	}
}

func TestDeletedTicketStartsANewOne(t *testing.T) {
	h := newHarness(t)
	r, err := h.p.Ingest(context.Background(), mailbox.Message{Raw: message("gone@example.org"), SubchannelID: 4,
		TicketID: 999, Origin: mailbox.Origin{Source: "cli"}})
	if err != nil {
		t.Fatal(err)
	}
	h.drain() // 404 on ticket 999: forget it
	h.drain() // resolve afresh: new ticket, stored
	m := h.get(r.QueueID)
	if m.State != store.Delivered || m.TicketID == 999 || m.TicketID == 0 {
		t.Fatalf("after 404: %+v", m)
	}
	if len(h.api.Tickets()) != 1 {
		t.Errorf("tickets = %+v, want one new ticket", h.api.Tickets())
	}
}

func TestPinnedTicketIsUsedWithoutCreation(t *testing.T) {
	h := newHarness(t)
	h.api.AddTicket(testapi.Ticket{ID: 77, SubchannelID: 4, Channel: "email"})
	r, err := h.p.Ingest(context.Background(), mailbox.Message{Raw: message("pin@example.org"), SubchannelID: 4,
		TicketID: 77, Origin: mailbox.Origin{Source: "cli"}})
	if err != nil {
		t.Fatal(err)
	}
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Delivered || m.TicketID != 77 {
		t.Fatalf("row = %+v", m)
	}
	if n := h.api.CountRequests("POST", "/ticket"); n != 1 {
		t.Errorf("%d POSTs under /ticket, want only the store call", n)
	}
}

// A mapping that outlives mapper.timeout is given up with a reason that
// says so, instead of holding a worker; the API never sees the message.
func TestMappingOverTimeIsDeadLettered(t *testing.T) {
	cfg := testConfig()
	cfg.MapTimeout = time.Nanosecond
	h := newHarnessConfig(t, cfg)
	r := h.ingest(message("slow@example.org"))
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Dead || !strings.Contains(m.LastError, "mapping took longer than 1ns (mapper.timeout)") {
		t.Fatalf("row = %+v", m)
	}
	if len(h.api.Requests()) != 0 {
		t.Errorf("API called %d times for a message given up on", len(h.api.Requests()))
	}
}

// A shutdown that interrupts a mapping leaves the message queued: the
// mail is not at fault.
func TestShutdownDuringMappingKeepsTheMessage(t *testing.T) {
	h := newHarness(t)
	r := h.ingest(message("shutdown@example.org"))
	claims, err := h.store.Claim(context.Background(), h.clock.Now(), time.Minute, 1)
	if err != nil || len(claims) != 1 {
		t.Fatalf("Claim = %d claims, %v", len(claims), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.p.deliver(ctx, &claims[0], nil)
	if m := h.get(r.QueueID); m.State == store.Dead {
		t.Fatalf("a shutdown buried the message: %+v", m)
	}
	if !strings.Contains(h.logs.String(), "mapping interrupted by shutdown") {
		t.Errorf("no log line of the interrupted mapping:\n%s", h.logs.String())
	}
}

func TestUnparseableMessageIsDeadLettered(t *testing.T) {
	h := newHarness(t)
	r := h.ingest([]byte("\r\n\r\n"))
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Dead || !strings.Contains(m.LastError, "unusable") {
		t.Fatalf("row = %+v", m)
	}
	if len(h.api.Requests()) != 0 {
		t.Errorf("API was called for an unusable message")
	}
}

func TestIngestFailsWhenTheStoreIsDown(t *testing.T) {
	h := newHarness(t)
	h.store.Close()
	_, err := h.p.Ingest(context.Background(), mailbox.Message{Raw: message("down@example.org"), SubchannelID: 4})
	if err == nil {
		t.Fatal("Ingest succeeded on a closed store: the source would acknowledge a message nobody has")
	}
	h.open()
}

// The three crash points of the queue: a process that dies after the
// commit but before delivery, after sending but before the answer, and
// after the answer but before recording it.

func TestCrashBetweenStoreAndDelivery(t *testing.T) {
	h := newHarness(t)
	r := h.ingest(message("crash1@example.org"))
	h.crash()
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Delivered {
		t.Fatalf("row after restart = %+v", m)
	}
	if n := h.api.CountByExternalID("crash1@example.org"); n != 1 {
		t.Errorf("stored %d times, want 1", n)
	}
}

func TestCrashBeforeTheAPIAnswered(t *testing.T) {
	h := newHarness(t)
	r := h.ingest(message("crash2@example.org"))
	// The worker claims the message and dies with the request in flight:
	// the API never saw it (DropBeforeStore models the cut connection).
	if _, err := h.store.Claim(context.Background(), h.clock.Now(), time.Minute, 1); err != nil {
		t.Fatal(err)
	}
	h.crash()
	if n := h.drain(); n != 0 {
		t.Fatalf("claimed message re-attempted while its lease held")
	}
	h.clock.Add(2 * time.Minute)
	h.drain()
	m := h.get(r.QueueID)
	if m.State != store.Delivered || m.Uncertain != 1 {
		t.Fatalf("row after lease expiry = %+v, want delivered with one uncertain attempt", m)
	}
	if n := h.api.CountByExternalID("crash2@example.org"); n != 1 {
		t.Errorf("stored %d times, want 1", n)
	}
}

func TestCrashAfterTheAnswerBeforeRecording(t *testing.T) {
	h := newHarness(t)
	r := h.ingest(message("crash3@example.org"))
	// The API stores the conversation but the process dies before Complete:
	// after restart the store counts the attempt as uncertain, and the
	// pipeline asks the API before posting again: the conversation is there,
	// so it is recorded, not duplicated.
	h.p.store = diesBeforeComplete{h.store}
	h.drain()
	if n := h.api.CountByExternalID("crash3@example.org"); n != 1 {
		t.Fatalf("first post: %d", n)
	}
	h.crash()
	h.clock.Add(2 * time.Minute)
	h.drain()
	m := h.get(r.QueueID)
	if m.State != store.Delivered || m.Uncertain < 1 {
		t.Fatalf("row = %+v, want delivered and the lost answer counted", m)
	}
	if n := h.api.CountByExternalID("crash3@example.org"); n != 1 {
		t.Errorf("stored %d times, want 1", n)
	}
	if m.ConversationID == 0 {
		t.Errorf("the conversation found at the API was not recorded: %+v", m)
	}
	if !strings.Contains(h.logs.String(), "not posted again") {
		t.Errorf("the lookup was not logged")
	}
}

// Lost answers are found by asking the API before a retry posts again.
func TestLostAnswersCauseNoDuplicates(t *testing.T) {
	testLostAnswers(t, false)
}

// Where the API cannot say (the lookup keeps failing), the check is
// retried, and the message posted on its last attempt: a lost answer
// costs at most one duplicate, since a possible duplicate beats a lost mail.
func TestLostAnswersWithoutLookupCauseAtMostThatManyDuplicates(t *testing.T) {
	testLostAnswers(t, true)
}

func testLostAnswers(t *testing.T, lookupFails bool) {
	h := newHarness(t)
	h.api.Inject(testapi.Fault{Path: "conversation/store", Kind: testapi.DropAfterStore, Times: 2})
	if lookupFails {
		h.api.Inject(testapi.Fault{Method: "GET", Path: "/conversation", Status: 503})
	}
	var ids []int64
	for i := 0; i < 5; i++ {
		ids = append(ids, h.ingest(message(fmt.Sprintf("lost%d@example.org", i))).QueueID)
	}
	for i := 0; i < 4+testConfig().MaxAttempts; i++ {
		h.drain()
		h.clock.Add(time.Minute)
	}
	total := 0
	for i, id := range ids {
		m := h.get(id)
		if m.State != store.Delivered {
			t.Errorf("message %d: %+v", i, m)
		}
		total += h.api.CountByExternalID(fmt.Sprintf("lost%d@example.org", i))
	}
	want := 0
	if lookupFails {
		want = h.api.LostAnswers()
	}
	if dups := total - len(ids); dups != want || h.api.LostAnswers() != 2 {
		t.Errorf("%d duplicates for %d lost answers, want %d", dups, h.api.LostAnswers(), want)
	}
}

// diesBeforeComplete is a store whose process dies just before recording a
// delivery: Complete never reaches the database.
type diesBeforeComplete struct{ store.Store }

func (diesBeforeComplete) Complete(context.Context, int64, int, store.Outcome) error {
	return errors.New("process killed")
}

// TestRunDeliversConcurrently runs the real worker loop: messages ingested
// while it runs are delivered without waiting for a poll, each once.
func TestRunDeliversConcurrently(t *testing.T) {
	h := newHarness(t)
	h.p.now = time.Now
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.p.Run(ctx) }()
	const n = 40
	for i := 0; i < n; i++ {
		h.ingest(message(fmt.Sprintf("run%d@example.org", i)))
	}
	h.api.WaitConversations(t, n, 20*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if c := h.api.CountByExternalID(fmt.Sprintf("run%d@example.org", i)); c != 1 {
			t.Errorf("message %d stored %d times", i, c)
		}
	}
	stats, err := h.store.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Counts[store.Delivered] != n {
		t.Errorf("stats = %+v", stats)
	}
}

// A 201 whose body is cut off means the conversation exists: posting again
// would duplicate it, so the message counts as delivered.
func TestCutOffSuccessAnswerIsNotReposted(t *testing.T) {
	h := newHarness(t)
	h.api.Inject(testapi.Fault{Path: "conversation/store", Kind: testapi.HalfResponse, Times: 1})
	r := h.ingest(message("half@example.org"))
	h.drain()
	h.clock.Add(time.Hour)
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Delivered {
		t.Fatalf("row = %+v", m)
	}
	if n := h.api.CountByExternalID("half@example.org"); n != 1 {
		t.Errorf("stored %d times, want 1", n)
	}
}

// Attempts refused for mailbridge's own credentials do not count: once the
// token is fixed, a message that waited through a long outage still gets
// every attempt, rather than being buried by its first 503.
func TestAuthOutageDoesNotUseUpAttempts(t *testing.T) {
	h := newHarness(t)
	h.api.Inject(testapi.Fault{Path: "/ticket", Status: 403, Times: 3 * testConfig().MaxAttempts})
	r := h.ingest(message("outage@example.org"))
	for i := 0; i < 3*testConfig().MaxAttempts; i++ {
		h.drain()
		h.clock.Add(5 * time.Minute)
	}
	h.api.Inject(testapi.Fault{Path: "conversation/store", Status: 503, Times: 1})
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Queued || m.Attempts != 1 {
		t.Fatalf("after the outage and one 503: %+v, want queued with 1 attempt", m)
	}
	h.clock.Add(time.Minute)
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Delivered {
		t.Fatalf("row = %+v", m)
	}
}

// A message whose attempts keep killing the worker never reports a failure;
// it is buried once its reclaims use up the attempts.
func TestMessageThatKeepsCrashingTheWorkerIsBuried(t *testing.T) {
	h := newHarness(t)
	r := h.ingest(message("killer@example.org"))
	for i := 0; i < testConfig().MaxAttempts; i++ {
		// Each claim "crashes": no report, the lease runs out.
		if _, err := h.store.Claim(context.Background(), h.clock.Now(), time.Minute, 1); err != nil {
			t.Fatal(err)
		}
		h.clock.Add(2 * time.Minute)
	}
	h.drain()
	m := h.get(r.QueueID)
	if m.State != store.Dead || !strings.Contains(m.LastError, "without a report") {
		t.Fatalf("row = %+v", m)
	}
	if len(h.api.Conversations()) != 0 {
		t.Errorf("the message was posted after its attempts ran out")
	}
}

// An operator's retry gives a dead letter a fresh set of attempts.
func TestRequeuedDeadLetterGetsFreshAttempts(t *testing.T) {
	h := newHarness(t)
	h.api.Inject(testapi.Fault{Path: "ticket/1001/conversation/store", Status: 502, Times: testConfig().MaxAttempts})
	r := h.ingest(message("again@example.org"))
	for i := 0; i < testConfig().MaxAttempts; i++ {
		h.ingest(message(fmt.Sprintf("fine%d@example.org", i)))
		h.drain()
		h.clock.Add(2 * time.Minute)
	}
	if m := h.get(r.QueueID); m.State != store.Dead {
		t.Fatalf("row = %+v", m)
	}
	if err := h.store.Requeue(context.Background(), r.QueueID); err != nil {
		t.Fatal(err)
	}
	h.api.Inject(testapi.Fault{Path: "conversation/store", Status: 502, Times: 1})
	h.drain()
	h.clock.Add(2 * time.Minute)
	h.drain()
	if m := h.get(r.QueueID); m.State != store.Delivered {
		t.Fatalf("after requeue: %+v", m)
	}
}

// unreachableStore fails every Claim while down is set, as a PostgreSQL
// being restarted does.
type unreachableStore struct {
	store.Store
	down   atomic.Bool
	failed atomic.Int64 // claims refused
}

func (s *unreachableStore) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Claim, error) {
	if s.down.Load() {
		s.failed.Add(1)
		return nil, errors.New("connection refused")
	}
	return s.Store.Claim(ctx, now, lease, limit)
}

// A store outage is one error line and one recovery line, however many
// workers poll meanwhile, and the mail queued before it is delivered
// after it.
func TestStoreOutageIsLoggedOnce(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 4
	h := newHarnessConfig(t, cfg)
	h.p.now = time.Now
	st := &unreachableStore{Store: h.store}
	st.down.Store(true)
	h.p.store = st
	h.ingest(message("outage@example.org"))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.p.Run(ctx) }()
	// The workers keep polling; the first failure is the error line, the
	// rest are debug.
	testenv.WaitFor(t, 10*time.Second, "the workers' polls to fail", func() bool { return st.failed.Load() > 10 })
	st.down.Store(false)
	h.api.WaitConversations(t, 1, 10*time.Second)
	cancel()
	<-done

	logs := h.logs.String()
	if n := strings.Count(logs, "delivery paused until the store answers"); n != 1 {
		t.Errorf("%d outage error lines, want 1", n)
	}
	if n := strings.Count(logs, "level=DEBUG msg=\"claiming queued messages failed\""); n < 10 {
		t.Errorf("%d repeated failures at debug, want the workers' polls", n)
	}
	if n := strings.Count(logs, "store answers again"); n != 1 {
		t.Errorf("%d recovery lines, want 1", n)
	}
}

// A reload's subchannel settings apply to mail mapped after it, including
// mail queued before it (mapping happens at delivery).
func TestReconfigureAppliesToQueuedMail(t *testing.T) {
	h := newHarness(t)
	h.ingest(message("before@example.org"))
	h.p.Reconfigure(map[int]Subchannel{4: {Process: "realtime", Direction: "internal"}}, nil)
	h.drain()
	c := conversationOf(t, h.api, "before@example.org")
	if c.Payload.Process != "realtime" || c.Payload.Direction != "internal" {
		t.Errorf("process %q, direction %q; want the reloaded realtime, internal", c.Payload.Process, c.Payload.Direction)
	}
}

// A message's age counts from an operator's release or requeue: mail held
// longer than delivery.maxAge gets its full chance once released.
func TestMaxAgeCountsFromRelease(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := &Pipeline{cfg: Config{MaxAttempts: 5, MaxAge: 72 * time.Hour}, now: func() time.Time { return now }}
	c := &store.Claim{Message: store.Message{CreatedAt: now.Add(-30 * 24 * time.Hour)}}
	if !p.exhausted(1, c) {
		t.Error("a message queued 30 days ago is not exhausted")
	}
	c.ReleasedAt = now.Add(-time.Hour)
	if p.exhausted(1, c) {
		t.Error("a message released an hour ago is exhausted by its age")
	}
}
