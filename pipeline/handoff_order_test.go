package pipeline

import (
	"fmt"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"
)

// Mail queued for a claim because every place in handed was taken is
// newer than the claims waiting there, and must not overtake them: a
// reply delivered before the mail it answers finds no ticket to join. A
// worker that wakes for the queued mail delivers the claims in handed
// first. Each round's overtaking depends on which of its ready cases the
// worker's select picks, so the test runs a few.
func TestQueuedMailDoesNotOvertakeHandedClaims(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 1
	h, s, gate := newGatedHandoffHarness(t, cfg)
	runHarness(t, h)
	waitStarted(t, h, s)
	places := cap(h.p.handed)
	total := 0
	for round := range 4 {
		testenv.WaitFor(t, 10*time.Second, "a claim to find the queue drained", func() bool {
			return h.p.drainedSeq.Load() >= h.p.queuedSeq.Load()
		})
		h.ingest(message(fmt.Sprintf("first%d@example.org", round)))
		<-gate.entered // the one worker is busy with it
		var handed []string
		for i := range places {
			id := fmt.Sprintf("handed%d-%d@example.org", round, i)
			handed = append(handed, id)
			h.ingest(message(id))
			if !s.askedClaim(id) {
				t.Fatalf("%s was not claimed at enqueue", id)
			}
		}
		waiting := fmt.Sprintf("waiting%d@example.org", round)
		h.ingest(message(waiting)) // no place left: queued for a claim
		if s.askedClaim(waiting) {
			t.Fatalf("%s was claimed at enqueue with all %d places taken", waiting, places)
		}
		gate.open <- struct{}{}
		for range places + 1 {
			<-gate.entered
			gate.open <- struct{}{}
		}
		total += places + 2
		stored := h.api.WaitConversations(t, total, 10*time.Second)
		at := map[string]int{}
		for i, c := range stored {
			at[c.Payload.ExternalConversationID] = i
		}
		for _, id := range handed {
			if at[waiting] < at[id] {
				t.Errorf("round %d: %s, queued for a claim, stored before %s, claimed at enqueue earlier (positions %d, %d)",
					round, waiting, id, at[waiting], at[id])
			}
		}
	}
	waitHandedTaken(t, h)
}
