package imap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/enneo/mailbridge/mailbox"
)

// fakeQueue is an Ingester that dedups by Message-ID, as the pipeline does.
type fakeQueue struct {
	mu     sync.Mutex
	ids    map[string]int // Message-ID → times queued or seen again
	order  []string       // first arrivals
	calls  int
	fail   func(m mailbox.Message) error // nil: accept
	origin []mailbox.Origin
}

func newFakeQueue() *fakeQueue { return &fakeQueue{ids: map[string]int{}} }

var errPoison = errors.New("poison message")

func (q *fakeQueue) Ingest(ctx context.Context, m mailbox.Message) (mailbox.Receipt, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if q.fail != nil {
		if err := q.fail(m); err != nil {
			return mailbox.Receipt{}, err
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		return mailbox.Receipt{}, fmt.Errorf("%w: %v", errPoison, err)
	}
	id := msg.Header.Get("Message-Id")
	if id == "" {
		id = fmt.Sprintf("%x", sha256.Sum256(m.Raw))
	}
	n := q.ids[id]
	q.ids[id] = n + 1
	if n == 0 {
		q.order = append(q.order, id)
		q.origin = append(q.origin, m.Origin)
	}
	return mailbox.Receipt{QueueID: int64(len(q.order)), ExternalID: id, Duplicate: n > 0}, nil
}

// unique returns the number of distinct messages queued.
func (q *fakeQueue) unique() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.order)
}

func (q *fakeQueue) callCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.calls
}

func (q *fakeQueue) setFail(f func(m mailbox.Message) error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.fail = f
}

// waitUnique waits until n distinct messages are queued.
func (q *fakeQueue) waitUnique(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	testenv.WaitFor(t, timeout, fmt.Sprintf("%d messages queued", n), func() bool { return q.unique() >= n })
	if got := q.unique(); got != n {
		t.Fatalf("queued %d distinct messages, want %d", got, n)
	}
}

// memCheckpoints is an in-memory Checkpoints.
type memCheckpoints struct {
	mu sync.Mutex
	m  map[string][2]uint32
}

func newMemCheckpoints() *memCheckpoints { return &memCheckpoints{m: map[string][2]uint32{}} }

func (c *memCheckpoints) Checkpoint(ctx context.Context, mb, folder string) (uint32, uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.m[mb+"/"+folder]
	return v[0], v[1], nil
}

func (c *memCheckpoints) SetCheckpoint(ctx context.Context, mb, folder string, uv, uid uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[mb+"/"+folder] = [2]uint32{uv, uid}
	return nil
}

func (c *memCheckpoints) get(mb, folder string) [2]uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[mb+"/"+folder]
}

// testMessage is a small RFC 5322 message with a unique Message-ID.
func testMessage(id, subject string) []byte {
	return []byte("From: Alice <alice@example.org>\r\n" +
		"To: support@example.com\r\n" +
		"Subject: " + subject + "\r\n" +
		"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n" +
		"Message-ID: <" + id + ">\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"Hello " + subject + "\r\n")
}

// sizedMessage is testMessage padded with body lines to at least size bytes.
func sizedMessage(id string, size int) []byte {
	b := testMessage(id, "sized")
	line := strings.Repeat("x", 76) + "\r\n"
	for len(b) < size {
		b = append(b, line...)
	}
	return b
}

// client is the test's own IMAP connection, to fill folders and inspect
// them on the server.
type client struct {
	t *testing.T
	c *imapclient.Client
}

func dialClient(t *testing.T, addr, user, pass string) *client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c}
}

func (c *client) append(folder string, raw []byte) {
	c.t.Helper()
	c.appendWith(folder, raw, nil, time.Time{})
}

// appendWith APPENDs raw to folder with flags and an INTERNALDATE (zero:
// the server's clock).
func (c *client) appendWith(folder string, raw []byte, flags []imap.Flag, date time.Time) {
	c.t.Helper()
	cmd := c.c.Append(folder, int64(len(raw)), &imap.AppendOptions{Flags: flags, Time: date})
	if _, err := cmd.Write(raw); err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		c.t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		c.t.Fatalf("APPEND %s: %v", folder, err)
	}
}

// flags returns the flags of every message in folder, by Message-ID.
func (c *client) flags(folder string) map[string][]imap.Flag {
	c.t.Helper()
	if _, err := c.c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		c.t.Fatalf("EXAMINE %s: %v", folder, err)
	}
	msgs, err := c.c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
		Flags: true, Envelope: true,
	}).Collect()
	if err != nil {
		// An empty folder answers "1:*" with BAD on some servers.
		if strings.Contains(err.Error(), "No messages") || strings.Contains(err.Error(), "Invalid messageset") {
			return map[string][]imap.Flag{}
		}
		c.t.Fatalf("FETCH %s: %v", folder, err)
	}
	out := map[string][]imap.Flag{}
	for _, m := range msgs {
		out[m.Envelope.MessageID] = m.Flags
	}
	return out
}

func (c *client) count(folder string) int {
	c.t.Helper()
	d, err := c.c.Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		c.t.Fatalf("STATUS %s: %v", folder, err)
	}
	return int(*d.NumMessages)
}

func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	return slices.ContainsFunc(flags, func(g imap.Flag) bool { return strings.EqualFold(string(f), string(g)) })
}

// logBuffer collects log lines for assertions.
type logBuffer struct{ testenv.Buffer }

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startPoller runs a poller for cfg until the test ends, or until the
// returned stop is called; stop waits for Run to return.
func startPoller(t *testing.T, cfg Config) (stop func()) {
	t.Helper()
	_, stop = startPollerP(t, cfg)
	return stop
}

// startPollerP is startPoller, also returning the poller.
func startPollerP(t *testing.T, cfg Config) (_ *Poller, stop func()) {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return within 10s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return p, stop
}
