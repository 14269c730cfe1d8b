package imap

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/pipeline"
	"github.com/enneo/mailbridge/store/sqlite"
)

// End-to-end tests: a real Dovecot (internal/testenv), the real pipeline
// on SQLite, and the fake enneo API that validates every payload.

const e2eToken = "test-token"

type e2e struct {
	t     *testing.T
	dc    *testenv.Dovecot
	api   *testapi.Server
	store *sqlite.Store
	p     *pipeline.Pipeline
	log   *logBuffer
}

// newE2E starts Dovecot, the fake API and a pipeline delivering to it.
func newE2E(t *testing.T) *e2e { return newE2EWith(t, nil) }

// newE2EWith is newE2E with the pipeline's configuration changed by edit.
func newE2EWith(t *testing.T, edit func(*pipeline.Config)) *e2e {
	t.Helper()
	e := &e2e{t: t, dc: testenv.StartDovecot(t), log: &logBuffer{}}
	e.api = testapi.New(t, testapi.Options{Token: e2eToken})
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	e.store = st
	client := api.New(api.Options{
		BaseURL: e.api.URL(), Token: e2eToken, Timeout: 10 * time.Second, UserAgent: "mailbridge/test",
		Ticket: api.TicketOptions{Path: "/ticket", IDField: "id", Process: "batch",
			Fields: []string{"subchannelId", "from", "subject", "externalTicketId"},
			Static: map[string]any{"channel": "email"}},
	})
	cfg := pipeline.Config{
		Workers: 4, MaxAttempts: 5, MaxAge: time.Hour, Lease: time.Minute,
		Poll: 50 * time.Millisecond, AuthRetry: time.Minute,
		BackoffInitial: 100 * time.Millisecond, BackoffMax: time.Second,
		InlineImageMaxBytes: 1024,
		Subchannels:         map[int]pipeline.Subchannel{4: {Process: "batch", Direction: "in"}},
	}
	if edit != nil {
		edit(&cfg)
	}
	e.p = pipeline.New(st, client, cfg, e.log.logger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		st.Close()
		e.api.AssertValid(t)
	})
	return e
}

func (e *e2e) config(folder string) Config {
	return Config{
		Account: Account{
			Name: "support", Addr: e.dc.Addr, Security: Insecure,
			Username: e.dc.User, Password: e.dc.Password, Timeout: 5 * time.Second,
		},
		Folder:       folder,
		SubchannelID: 4,
		IDLE:         true,
		IdleRestart:  time.Minute,
		PollInterval: time.Minute,
		BatchSize:    100,
		Ingester:     e.p,
		Checkpoints:  e.store,
		Permanent:    func(err error) bool { return errors.Is(err, pipeline.ErrEmpty) },
		MinBackoff:   50 * time.Millisecond,
		MaxBackoff:   500 * time.Millisecond,
		Log:          e.log.logger(),
	}
}

func (e *e2e) client() *client { return dialClient(e.t, e.dc.Addr, e.dc.User, e.dc.Password) }

// exactlyOnce checks that each id was stored at the API exactly once.
func (e *e2e) exactlyOnce(ids []string) {
	e.t.Helper()
	st := e.api.State()
	if len(st.Conversations) != len(ids) {
		e.t.Errorf("%d conversations stored, want %d", len(st.Conversations), len(ids))
	}
	bad := 0
	for _, id := range ids {
		if n := st.CountByExternalID(id); n != 1 && bad < 10 {
			bad++
			e.t.Errorf("%s stored %d times, want once", id, n)
		}
	}
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d@example.org", prefix, i)
	}
	return out
}

func TestDovecotExactlyOnceAndIDLELatency(t *testing.T) {
	e := newE2E(t)
	c := e.client()
	first := ids("first", 20)
	for _, id := range first {
		c.append("INBOX", testMessage(id, "first "+id))
	}
	cfg := e.config("INBOX")
	counter := &countingIngester{Ingester: e.p}
	cfg.Ingester = counter
	stop := startPoller(t, cfg)
	e.api.WaitConversations(t, 20, 20*time.Second)

	// IDLE: each new message is fetched as soon as Dovecot announces it.
	// Measured from APPEND to Ingest, and to the conversation stored at
	// the API.
	var lat, toQueue []time.Duration
	later := ids("idle", 10)
	for i, id := range later {
		before := counter.n.Load()
		start := time.Now()
		c.append("INBOX", testMessage(id, "idle "+id))
		testenv.WaitFor(t, 5*time.Second, "Ingest", func() bool { return counter.n.Load() > before })
		toQueue = append(toQueue, time.Since(start))
		e.api.WaitConversations(t, 21+i, 5*time.Second)
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	slices.Sort(toQueue)
	t.Logf("IDLE latency APPEND → Ingest: p50 %v, max %v; APPEND → conversation stored: p50 %v, max %v (n=%d)",
		toQueue[len(toQueue)/2], toQueue[len(toQueue)-1], lat[len(lat)/2], lat[len(lat)-1], len(lat))
	if lat[len(lat)-1] > 2*time.Second {
		t.Errorf("IDLE latency max %v, want < 2s", lat[len(lat)-1])
	}
	stop()

	// A restart fetches nothing again.
	stop = startPoller(t, cfg)
	time.Sleep(500 * time.Millisecond)
	stop()
	e.exactlyOnce(append(first, later...))
	for id, f := range c.flags("INBOX") {
		if !hasFlag(f, imap.FlagSeen) {
			t.Errorf("%s not marked \\Seen on the server: %v", id, f)
		}
	}
	if !strings.Contains(e.log.String(), "source=imap") {
		t.Errorf("ingest log lines lack source=imap")
	}
}

func TestDovecotMoveAndFlag(t *testing.T) {
	e := newE2E(t)
	c := e.client()
	for _, f := range []string{"Sales", "Billing"} {
		if err := c.c.Create(f, nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	sales, billing := ids("sales", 3), ids("billing", 4)
	for _, id := range sales {
		c.append("Sales", testMessage(id, "sales"))
	}
	for _, id := range billing {
		c.append("Billing", testMessage(id, "billing"))
	}
	move := e.config("Sales")
	move.After = Action{Kind: ActionMove, Arg: "Sales-Done"}
	flag := e.config("Billing")
	flag.After = Action{Kind: ActionFlag, Arg: "$Queued"}
	startPoller(t, move)
	startPoller(t, flag)
	e.api.WaitConversations(t, 7, 20*time.Second)
	testenv.WaitFor(t, 5*time.Second, "Sales emptied", func() bool { return c.count("Sales") == 0 })
	if n := c.count("Sales-Done"); n != 3 {
		t.Errorf("Sales/Done holds %d, want 3", n)
	}
	testenv.WaitFor(t, 5*time.Second, "Billing flagged", func() bool {
		for _, f := range c.flags("Billing") {
			if !hasFlag(f, "$Queued") {
				return false
			}
		}
		return true
	})
	for id, f := range c.flags("Billing") {
		if hasFlag(f, imap.FlagSeen) {
			t.Errorf("%s: \\Seen set although the after-action is a keyword: %v", id, f)
		}
	}
	e.exactlyOnce(append(sales, billing...))
}

// countingIngester counts Ingest calls.
type countingIngester struct {
	mailbox.Ingester
	n atomic.Int64
}

func (c *countingIngester) Ingest(ctx context.Context, m mailbox.Message) (mailbox.Receipt, error) {
	c.n.Add(1)
	return c.Ingester.Ingest(ctx, m)
}

// stopAfter is an Ingester that stops Dovecot once n messages went through,
// in the middle of a FETCH.
type stopAfter struct {
	mailbox.Ingester
	n       int64
	count   atomic.Int64
	once    sync.Once
	stopped chan struct{}
	dc      *testenv.Dovecot
}

func (s *stopAfter) Ingest(ctx context.Context, m mailbox.Message) (mailbox.Receipt, error) {
	if s.count.Add(1) == s.n {
		// Synchronously: the rest of the batch meets a dead server.
		s.once.Do(func() {
			defer close(s.stopped)
			if err := s.dc.Stop(); err != nil {
				panic(err)
			}
		})
	}
	return s.Ingester.Ingest(ctx, m)
}

func TestDovecotRestartMidFetch(t *testing.T) {
	e := newE2E(t)
	const n = 400
	all := ids("crash", n)
	msgs := make([][]byte, n)
	for i, id := range all {
		msgs[i] = testMessage(id, "crash")
	}
	e.dc.Deliver("INBOX", msgs)

	cfg := e.config("INBOX")
	cfg.BatchSize = 50
	stopper := &stopAfter{Ingester: e.p, n: 120, stopped: make(chan struct{}), dc: e.dc}
	cfg.Ingester = stopper
	startPoller(t, cfg)
	select {
	case <-stopper.stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Dovecot was not stopped mid-fetch")
	}
	_, last, _ := e.store.Checkpoint(context.Background(), "support", "INBOX")
	t.Logf("Dovecot stopped after %d ingests; checkpoint at UID %d", stopper.count.Load(), last)
	time.Sleep(300 * time.Millisecond) // the poller notices and backs off
	if err := e.dc.Start(); err != nil {
		t.Fatal(err)
	}
	e.api.WaitConversations(t, n, 60*time.Second)
	testenv.WaitFor(t, 10*time.Second, "checkpoint at the end", func() bool {
		_, last, _ := e.store.Checkpoint(context.Background(), "support", "INBOX")
		return last == n
	})
	time.Sleep(300 * time.Millisecond)
	e.exactlyOnce(all)
	c := e.client()
	for id, f := range c.flags("INBOX") {
		if !hasFlag(f, imap.FlagSeen) {
			t.Errorf("%s not marked \\Seen after the restart: %v", id, f)
		}
	}
	calls := stopper.count.Load()
	t.Logf("Ingest calls: %d for %d messages (re-fetches deduplicated by the queue)", calls, n)
	if calls <= n {
		t.Errorf("no message was fetched again after the restart: the test did not cut a batch")
	}
}

func TestDovecotUIDValidityReset(t *testing.T) {
	e := newE2E(t)
	c := e.client()
	if err := c.c.Create("Support", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	old := ids("uv", 5)
	for _, id := range old {
		c.append("Support", testMessage(id, "uv"))
	}
	cfg := e.config("Support")
	stop := startPoller(t, cfg)
	e.api.WaitConversations(t, 5, 20*time.Second)
	testenv.WaitFor(t, 5*time.Second, "checkpoint", func() bool {
		_, last, _ := e.store.Checkpoint(context.Background(), "support", "Support")
		return last == 5
	})
	stop()
	uv1, _, _ := e.store.Checkpoint(context.Background(), "support", "Support")

	// Recreate the folder (new UIDVALIDITY) and put the same mail back,
	// plus one new message.
	if err := c.c.Delete("Support").Wait(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // Dovecot's UIDVALIDITY is a timestamp
	if err := c.c.Create("Support", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	all := append(old, "uv-new@example.org")
	for _, id := range all {
		c.append("Support", testMessage(id, "uv"))
	}
	startPoller(t, cfg)
	e.api.WaitConversations(t, 6, 20*time.Second)
	testenv.WaitFor(t, 5*time.Second, "new checkpoint", func() bool {
		uv, last, _ := e.store.Checkpoint(context.Background(), "support", "Support")
		return uv != uv1 && last == 6
	})
	time.Sleep(300 * time.Millisecond)
	e.exactlyOnce(all)
	if !strings.Contains(e.log.String(), "UIDVALIDITY changed") {
		t.Errorf("UIDVALIDITY change not logged")
	}
}

// message20KB is a ~20 KB text message.
func message20KB(id string) []byte {
	var b strings.Builder
	b.WriteString("From: Alice <alice@example.org>\r\nTo: support@example.com\r\n" +
		"Subject: backlog " + id + "\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n" +
		"Message-ID: <" + id + ">\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	line := "The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
	for b.Len() < 20*1024 {
		b.WriteString(line)
	}
	return []byte(b.String())
}

func TestDovecotBacklog(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 500
	}
	e := newE2E(t)
	all := ids("backlog", n)
	msgs := make([][]byte, n)
	for i, id := range all {
		msgs[i] = message20KB(id)
	}
	e.dc.Deliver("INBOX", msgs)

	start := time.Now()
	startPoller(t, e.config("INBOX"))
	testenv.WaitFor(t, 5*time.Minute, "backlog queued", func() bool {
		_, last, _ := e.store.Checkpoint(context.Background(), "support", "INBOX")
		return last == uint32(n)
	})
	queued := time.Since(start)
	e.api.WaitConversations(t, n, 10*time.Minute)
	delivered := time.Since(start)
	t.Logf("backlog of %d × 20 KB: queued in %v (%.0f msgs/s), all stored at the API in %v (%.0f msgs/s)",
		n, queued.Round(time.Millisecond), float64(n)/queued.Seconds(),
		delivered.Round(time.Millisecond), float64(n)/delivered.Seconds())
	time.Sleep(200 * time.Millisecond)
	e.exactlyOnce(all)
}

// On a real Dovecot, a message over maxMessageBytes is streamed past and
// moved to the error folder; the rest of the folder is delivered, and the
// large one never reaches the queue or the API.
func TestDovecotOversize(t *testing.T) {
	e := newE2E(t)
	c := e.client()
	small := ids("fits", 2)
	c.append("INBOX", testMessage(small[0], "fits"))
	c.append("INBOX", sizedMessage("huge@example.org", 3<<20))
	c.append("INBOX", testMessage(small[1], "fits"))
	cfg := e.config("INBOX")
	cfg.MaxMessageBytes = 1 << 20
	cfg.ErrorFolder = "Too-Large"
	startPoller(t, cfg)
	e.api.WaitConversations(t, 2, 20*time.Second)
	testenv.WaitFor(t, 5*time.Second, "the large message in Too-Large", func() bool { return c.count("Too-Large") == 1 })
	if _, ok := c.flags("Too-Large")["huge@example.org"]; !ok {
		t.Errorf("Too-Large holds %v, want huge@example.org", c.flags("Too-Large"))
	}
	if n := c.count("INBOX"); n != 2 {
		t.Errorf("INBOX holds %d, want 2", n)
	}
	e.exactlyOnce(small)
	st, err := e.store.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var queued int
	for _, n := range st.Counts {
		queued += n
	}
	if queued != 2 {
		t.Errorf("the queue holds %d messages, want 2: %v", queued, st.Counts)
	}
	if !strings.Contains(e.log.String(), "message_id=huge@example.org") {
		t.Errorf("no log line names the large message:\n%s", e.log)
	}
}
