package smtp_test

import (
	"slices"
	"testing"
	"time"

	"github.com/enneo/mailbridge/mailbox/smtp"
)

// One mail to two subchannels is a conversation on a ticket of each: the
// tickets are keyed by subchannel, so enneo's upsert cannot merge them.
func TestTwoSubchannelsTwoTickets(t *testing.T) {
	s := newStack(t)
	addr := s.listen(t, smtp.Options{})
	raw := authMail("customer@example.org", "support@example.com", "two desks", "two@example.org",
		"Cc: billing@help.example.com\r\n")
	swaksData(t, addr, "127.0.0.1", "customer@example.org", "support@example.com,billing@help.example.com", raw)
	convs := s.api.WaitConversations(t, 2, 20*time.Second)
	if convs[0].TicketID == convs[1].TicketID {
		t.Fatalf("both conversations on ticket %d", convs[0].TicketID)
	}
	var keys []string
	for _, tk := range s.api.Tickets() {
		keys = append(keys, tk.ExternalTicketID)
	}
	slices.Sort(keys)
	if want := []string{"1:two@example.org", "2:two@example.org"}; !slices.Equal(keys, want) {
		t.Errorf("ticket keys %q, want %q", keys, want)
	}
}
