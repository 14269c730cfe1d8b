package pipeline

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testapi"
)

// A ticket creation whose answer is lost is sent again with the same
// externalTicketId; the API's upsert makes that one ticket.
func TestTicketCreationRetriedAfterLostAnswer(t *testing.T) {
	h := newHarnessConfig(t, threadConfig())
	// The first POST under /ticket is the creation: the mail has no
	// references to search for.
	h.api.Inject(testapi.Fault{Method: "POST", Path: "mind/ticket", Kind: testapi.DropAfterStore, Times: 1})
	r := h.ingestTo(chainMail{id: "first@x", subject: "help"})
	h.drain()
	if n := len(h.api.Conversations()); n != 0 {
		t.Fatalf("%d conversations after the lost answer, want 0", n)
	}
	h.clock.Add(time.Hour)
	h.drain()

	tickets := h.api.Tickets()
	if len(tickets) != 1 || tickets[0].Posts != 2 || tickets[0].ExternalTicketID != "4:first@x" {
		t.Fatalf("tickets %+v; want one, posted twice, keyed 4:first@x", tickets)
	}
	if c := conversationOf(t, h.api, "first@x"); c.TicketID != tickets[0].ID {
		t.Errorf("stored on ticket %d, want %d", c.TicketID, tickets[0].ID)
	}
	if m := h.get(r.QueueID); m.Attempts != 2 || m.TicketID != int64(tickets[0].ID) {
		t.Errorf("queue: %+v", m)
	}
}

// Two instances, each with its own store and no lock in common, deliver
// the first mail and a reply of one new thread at the same moment: both
// create the ticket keyed by the thread root, and the upsert leaves one.
func TestTwoInstancesRacingOnANewThreadShareATicket(t *testing.T) {
	for round := range 5 {
		a := newHarnessConfig(t, threadConfig())
		b := newHarnessConfig(t, threadConfig())
		b.store.Close()
		b.api = a.api // one enneo
		b.open()
		a.p.now, b.p.now = time.Now, time.Now
		a.ingestTo(chainMail{id: "root@x", subject: "help"})
		b.ingestTo(chainMail{id: "re@x", subject: "Re: help", inReplyTo: "root@x", refs: []string{"root@x"}})
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, h := range []*harness{a, b} {
			wg.Go(func() {
				<-start
				if _, err := h.p.DeliverDue(context.Background(), 1); err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		root, re := conversationOf(t, a.api, "root@x"), conversationOf(t, a.api, "re@x")
		// Both asked for the ticket (neither knew of the other's mail).
		tickets := a.api.Tickets()
		if root.TicketID != re.TicketID || len(tickets) != 1 || tickets[0].Posts != 2 {
			t.Fatalf("round %d: conversations on tickets %d and %d; tickets %+v", round, root.TicketID, re.TicketID, tickets)
		}
	}
}
