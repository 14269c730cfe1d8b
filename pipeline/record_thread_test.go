package pipeline

import (
	"context"
	"testing"

	"github.com/enneo/mailbridge/internal/testapi"
)

// A reply claimed with the mail it answers finds that mail's ticket, the
// delivered row being the thread map's record of it, however long the
// commit of that row takes: here it waits for the reply's post (or 5 s).
func TestReplyInSameClaimFindsTicketOfSlowRecord(t *testing.T) {
	h := newHarnessConfig(t, threadConfig())
	h.api.AddTicket(testapi.Ticket{ID: existingTicket, SubchannelID: 4, Channel: "email"})
	holdRecords(h)
	h.open()
	a := h.ingestTo(chainMail{id: "a@x", subject: "[#500] other"})
	b := h.ingestTo(chainMail{id: "b@x", subject: "Re: other", inReplyTo: "a@x", refs: []string{"a@x"}})
	if n, err := h.p.DeliverDue(context.Background(), 2); err != nil || n != 2 {
		t.Fatalf("DeliverDue = %d, %v", n, err)
	}
	ma, mb := h.get(a.QueueID), h.get(b.QueueID)
	if ma.TicketID != existingTicket {
		t.Fatalf("the first mail is on ticket %d, want %d", ma.TicketID, existingTicket)
	}
	if mb.TicketID != ma.TicketID {
		t.Errorf("the reply is on ticket %d, the mail it answers on %d", mb.TicketID, ma.TicketID)
	}
}
