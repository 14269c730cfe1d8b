package pipeline

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/mapper/autoreply"
)

// recorder is an Observer that writes every event down as a line.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *recorder) Ingested(source string, sub int, dup bool) {
	r.add("ingested %s %d dup=%v", source, sub, dup)
}
func (r *recorder) IngestFailed(source string) { r.add("ingest failed %s", source) }
func (r *recorder) Delivered(sub int)          { r.add("delivered %d", sub) }
func (r *recorder) Retried(sub int)            { r.add("retried %d", sub) }
func (r *recorder) DeadLettered(sub int, why DeadReason) {
	r.add("dead %d %s", sub, why)
}
func (r *recorder) Classified(c autoreply.Class, p Policy) { r.add("classified %s %s", c, p) }

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

func TestObserverSeesEachStep(t *testing.T) {
	rec := &recorder{}
	cfg := testConfig()
	cfg.Observer = rec
	h := newHarnessConfig(t, cfg)
	expect := func(step string, want ...string) {
		t.Helper()
		if got := rec.take(); !slices.Equal(got, want) {
			t.Errorf("%s: events %q, want %q", step, got, want)
		}
	}

	h.ingest(message("seen@example.org"))
	h.ingest(message("seen@example.org"))
	expect("ingest twice", "ingested smtp 4 dup=false", "ingested smtp 4 dup=true")

	h.api.Inject(testapi.Fault{Path: "conversation/store", Status: 503, Times: 1})
	h.drain()
	expect("a 503", "classified human post", "retried 4")
	h.clock.Add(2 * time.Second)
	h.drain()
	// Classification counts once per message, not per attempt.
	expect("the retry", "delivered 4")

	h.api.Inject(testapi.Fault{Path: "conversation/store", Status: 400, Times: 1})
	h.ingest(message("refused@example.org"))
	rec.take()
	h.drain()
	expect("a 400", "classified human post", "dead 4 rejected")

	h.ingest([]byte("From: MAILER-DAEMON@example.net\r\nTo: support@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n" +
		"Message-ID: <bounce@example.net>\r\nAuto-Submitted: auto-replied\r\n\r\nThe mail could not be delivered.\r\n"))
	rec.take()
	h.drain()
	expect("a bounce", "classified bounce store", "delivered 4")
}
