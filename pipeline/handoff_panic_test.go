package pipeline

import (
	"context"
	"testing"

	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/store"
)

// panickingEnqueue is a claimCounter whose Enqueue panics.
type panickingEnqueue struct{ *claimCounter }

func (s panickingEnqueue) Enqueue(ctx context.Context, m store.NewMessage) (store.EnqueueResult, error) {
	_, _ = s.claimCounter.Enqueue(ctx, m) // records the claim request
	panic("enqueue failed hard")
}

// An Ingest that panics (the SMTP server recovers a session's panic and
// goes on) gives back the place it reserved in handed: places that leak
// stop claims at enqueue for good once they are all gone.
func TestIngestPanicGivesBackItsPlace(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 1
	h, s := newHandoffHarness(t, cfg, testapi.Options{})
	wrapStore := h.wrap
	h.wrap = func(st store.Store, c Conversations) (store.Store, Conversations) {
		_, c = wrapStore(st, c)
		return panickingEnqueue{s}, c
	}
	h.store.Close()
	h.open()
	runHarness(t, h)
	waitStarted(t, h, s)
	const id = "panic@example.org"
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Ingest did not panic")
			}
		}()
		h.ingest(message(id))
	}()
	if !s.askedClaim(id) {
		t.Fatalf("%s was not claimed at enqueue", id)
	}
	if n, b := h.p.handedCount.Load(), h.p.handedBytes.Load(); n != 0 || b != 0 {
		t.Errorf("%d places, %d bytes still reserved after Ingest panicked", n, b)
	}
}
