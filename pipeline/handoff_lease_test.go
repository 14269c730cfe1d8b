package pipeline

import (
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/store"
)

// A claim made at enqueue that waits in handed while its worker is busy
// may be taken after most of its lease is gone. It goes back to the queue
// uncounted, as a claim that waited past half its lease for the budget
// does, rather than start an attempt that cannot finish within the lease:
// such an attempt ends without a report, and the mail's next claim counts
// it as an attempt whose outcome is unknown.
func TestLateHandedClaimGoesBackUncounted(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 1
	cfg.Lease = 2 * time.Second
	h, s, gate := newGatedHandoffHarness(t, cfg)
	h.cfg.Poll = 50 * time.Millisecond
	h.store.Close()
	h.open()
	runHarness(t, h)
	waitStarted(t, h, s)
	h.ingest(message("first@example.org"))
	<-gate.entered // the one worker is busy with it
	const id = "late@example.org"
	r := h.ingest(message(id))
	if !s.askedClaim(id) {
		t.Fatalf("%s was not claimed at enqueue", id)
	}
	lease := h.get(r.QueueID).LeaseUntil
	testenv.WaitFor(t, 10*time.Second, "the handed claim's lease to run out", func() bool {
		return time.Now().After(lease)
	})
	close(gate.open)
	testenv.WaitFor(t, 20*time.Second, "the late mail's delivery", func() bool {
		return h.get(r.QueueID).State == store.Delivered
	})
	if m := h.get(r.QueueID); m.Attempts != 1 || m.Uncertain != 0 {
		t.Errorf("%s: Attempts %d, Uncertain %d; want 1, 0: the claim whose lease ran out in handed made an attempt", id, m.Attempts, m.Uncertain)
	}
	if c := h.api.CountByExternalID(id); c != 1 {
		t.Errorf("%s stored %d times, want 1", id, c)
	}
}
