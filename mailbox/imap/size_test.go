package imap

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/mailbox"
)

// A message over MaxMessageBytes is never queued: it goes to the error
// folder, or is flagged, the checkpoint passes it, and the log names it.
func TestOversizeSetAside(t *testing.T) {
	for _, errorFolder := range []string{"", "Errors"} {
		t.Run("errorFolder="+errorFolder, func(t *testing.T) {
			srv := newMemServer(t, imap.CapMove)
			c := dialClient(t, srv.addr, memUser, memPass)
			c.append("INBOX", testMessage("small-1@x", "ok"))
			c.append("INBOX", sizedMessage("big@x", 200<<10))
			c.append("INBOX", testMessage("small-2@x", "ok"))
			q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
			cfg := srv.config(q, cp, log)
			cfg.ErrorFolder = errorFolder
			cfg.MaxMessageBytes = 100 << 10
			p, stop := startPollerP(t, cfg)
			q.waitUnique(t, 2, 5*time.Second)
			testenv.WaitFor(t, 5*time.Second, "checkpoint past the large message", func() bool { return cp.get("support", "INBOX")[1] == 3 })
			time.Sleep(200 * time.Millisecond) // a few more polls: it must not come back
			stop()
			if n := q.callCount(); n != 2 {
				t.Errorf("Ingest called %d times, want 2 (the large message never queued)", n)
			}
			if n := p.Status().SetAside; n != 1 {
				t.Errorf("Status().SetAside = %d, want 1", n)
			}
			line := ""
			for l := range strings.Lines(log.String()) {
				if strings.Contains(l, "larger than maxMessageBytes") {
					line = l
				}
			}
			for _, want := range []string{"level=ERROR", "uid=2", "message_id=big@x", "subject=sized", "max_message_bytes=102400", "subchannel=7"} {
				if !strings.Contains(line, want) {
					t.Errorf("log line %q lacks %s", line, want)
				}
			}
			if errorFolder != "" {
				if n := c.count("Errors"); n != 1 {
					t.Errorf("Errors holds %d, want 1", n)
				}
				if _, ok := c.flags("Errors")["big@x"]; !ok {
					t.Errorf("the large message is not in Errors: %v", c.flags("Errors"))
				}
				return
			}
			for id, f := range c.flags("INBOX") {
				if want := id == "big@x"; hasFlag(f, errorKeyword) != want {
					t.Errorf("%s: flags %v; %s wanted: %v", id, f, errorKeyword, want)
				}
			}
		})
	}
}

// inflightIngester records the bytes inside Ingest at once, holding each
// message a while so that a batch overlaps.
type inflightIngester struct {
	mailbox.Ingester
	mu       sync.Mutex
	inflight int
	peak     int
	alone    map[int]bool // by size: whether the message was alone in Ingest
}

func (g *inflightIngester) Ingest(ctx context.Context, m mailbox.Message) (mailbox.Receipt, error) {
	g.mu.Lock()
	g.inflight += len(m.Raw)
	g.peak = max(g.peak, g.inflight)
	g.alone[len(m.Raw)] = g.inflight == len(m.Raw)
	g.mu.Unlock()
	time.Sleep(30 * time.Millisecond)
	defer func() {
		g.mu.Lock()
		g.inflight -= len(m.Raw)
		g.mu.Unlock()
	}()
	return g.Ingester.Ingest(ctx, m)
}

// The messages of a batch are read and queued in parallel only as far as
// InflightBytes allows; one larger than that is queued alone.
func TestInflightBytesBounded(t *testing.T) {
	srv := newMemServer(t)
	c := dialClient(t, srv.addr, memUser, memPass)
	const size, budget, large = 10 << 10, 35 << 10, 50 << 10
	for i := range 9 {
		c.append("INBOX", sizedMessage(msgID(i), size))
	}
	c.append("INBOX", sizedMessage("large@x", large))
	for i := 10; i < 14; i++ {
		c.append("INBOX", sizedMessage(msgID(i), size))
	}
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := srv.config(q, cp, log)
	g := &inflightIngester{Ingester: q, alone: map[int]bool{}}
	cfg.Ingester = g
	cfg.BatchSize = 100
	cfg.InflightBytes = budget
	startPoller(t, cfg)
	q.waitUnique(t, 14, 10*time.Second)

	g.mu.Lock()
	defer g.mu.Unlock()
	var largeLen int
	for n := range g.alone {
		largeLen = max(largeLen, n)
	}
	if largeLen < large || !g.alone[largeLen] {
		t.Errorf("the %d-byte message was not alone in Ingest (sizes seen: %v)", largeLen, g.alone)
	}
	// Apart from the large one, never more than the budget; and more than
	// one message at a time, or the bound would be serialising everything.
	if g.peak > max(budget, largeLen) {
		t.Errorf("%d bytes in Ingest at once, budget %d", g.peak, budget)
	}
	if g.peak < 2*size {
		t.Errorf("peak %d bytes in Ingest: the batch was not queued in parallel", g.peak)
	}
}
