package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/store"
)

// stalledEnqueue is a claimCounter whose enqueue of one message waits,
// after the store committed it, until release is closed.
type stalledEnqueue struct {
	*claimCounter
	externalID string
	entered    chan struct{}
	release    chan struct{}
}

func (s *stalledEnqueue) Enqueue(ctx context.Context, m store.NewMessage) (store.EnqueueResult, error) {
	res, err := s.claimCounter.Enqueue(ctx, m)
	if m.ExternalID == s.externalID {
		close(s.entered)
		<-s.release
	}
	return res, err
}

// A message that Ingest reserved a place for while the workers ran, and
// whose claim made at enqueue comes back after they stopped and gave back
// the claims in handed, goes back to the queue too, rather than stay
// inflight until its lease (on SQLite, until the next start counts it as
// an attempt whose outcome is unknown). The sources finish the mail they
// accepted after the workers stop (cmd/mailbridge run).
func TestShutdownReturnsClaimHandedAfterWorkersStopped(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 1
	h, s := newHandoffHarness(t, cfg, testapi.Options{})
	const id = "racing@example.org"
	stall := &stalledEnqueue{claimCounter: s, externalID: id, entered: make(chan struct{}), release: make(chan struct{})}
	wrapStore := h.wrap
	h.wrap = func(st store.Store, c Conversations) (store.Store, Conversations) {
		_, c = wrapStore(st, c)
		return stall, c
	}
	h.store.Close()
	h.open()
	cancel, wait := startRun(h)
	waitStarted(t, h, s)
	type ingested struct {
		r   mailbox.Receipt
		err error
	}
	in := make(chan ingested, 1)
	go func() {
		r, err := h.p.Ingest(context.Background(), mailbox.Message{
			Raw: message(id), SubchannelID: 4,
			Origin: mailbox.Origin{Source: "smtp", ReceivedAt: time.Now(), SMTP: &mailbox.SMTPOrigin{MailFrom: "a@example.org", RcptTo: []string{"support@example.com"}}},
		})
		in <- ingested{r, err}
	}()
	<-stall.entered // queued, its claim not handed over yet
	if !s.askedClaim(id) {
		t.Fatalf("%s was not claimed at enqueue", id)
	}
	cancel()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	close(stall.release)
	got := <-in
	if got.err != nil {
		t.Fatal(got.err)
	}
	if m := h.get(got.r.QueueID); m.State != store.Queued || m.Attempts != 0 {
		t.Errorf("%s after the shutdown: %s after %d attempts, want queued after 0", id, m.State, m.Attempts)
	}
	if n, b := h.p.handedCount.Load(), h.p.handedBytes.Load(); n != 0 || b != 0 {
		t.Errorf("%d places, %d bytes still reserved after the shutdown", n, b)
	}
}
