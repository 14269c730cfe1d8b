package api

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testapi"
)

func TestFindConversation(t *testing.T) {
	srv := testapi.New(t, testapi.Options{Token: token})
	ticket := int64(srv.AddTicket(testapi.Ticket{}))
	c := New(Options{BaseURL: srv.URL(), Token: token, Timeout: 5 * time.Second})
	ctx := context.Background()

	if _, found, err := c.FindConversation(ctx, ticket, "a@example.org"); err != nil || found {
		t.Fatalf("empty ticket: found %v, err %v", found, err)
	}
	stored, err := c.StoreConversation(ctx, ticket, &Conversation{To: []string{}, ExternalConversationID: "a@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.StoreConversation(ctx, ticket, &Conversation{To: []string{}, ExternalConversationID: "b@example.org"}); err != nil {
		t.Fatal(err)
	}
	got, found, err := c.FindConversation(ctx, ticket, "a@example.org")
	if err != nil || !found || got.ConversationID != stored.ConversationID || got.TicketID != ticket {
		t.Fatalf("FindConversation = %+v, %v, %v; want conversation %d", got, found, err, stored.ConversationID)
	}
	_, _, err = c.FindConversation(ctx, ticket+100, "a@example.org")
	if Classify(err) != TicketNotFound {
		t.Errorf("unknown ticket: %v (class %v), want TicketNotFound", err, Classify(err))
	}
	if bytes.Contains([]byte(err.Error()), []byte(token)) {
		t.Errorf("token in error")
	}
	srv.AssertValid(t)
}

// An API without the listing is told apart from a ticket that is gone:
// the first says so once and mailbridge falls back to posting, the second
// resolves a new ticket.
func TestConversationListMissing(t *testing.T) {
	ctx := context.Background()
	without := testapi.New(t, testapi.Options{Token: token, NoConversationList: true})
	c := New(Options{BaseURL: without.URL(), Token: token, Timeout: 5 * time.Second})
	ticket := int64(without.AddTicket(testapi.Ticket{}))
	_, _, err := c.FindConversation(ctx, ticket, "a@example.org")
	if !errors.Is(err, ErrNoConversationList) || Classify(err) == TicketNotFound {
		t.Errorf("listing missing: %v (class %v), want ErrNoConversationList", err, Classify(err))
	}
	if err := c.ProbeConversationList(ctx); !errors.Is(err, ErrNoConversationList) {
		t.Errorf("probe without the listing: %v", err)
	}

	with := testapi.New(t, testapi.Options{Token: token})
	c = New(Options{BaseURL: with.URL(), Token: token, Timeout: 5 * time.Second})
	if err := c.ProbeConversationList(ctx); err != nil {
		t.Errorf("probe with the listing: %v", err)
	}
	if _, _, err := c.FindConversation(ctx, 999, "a@example.org"); Classify(err) != TicketNotFound || errors.Is(err, ErrNoConversationList) {
		t.Errorf("unknown ticket: %v (class %v)", err, Classify(err))
	}
	with.Inject(testapi.Fault{Method: "GET", Path: "/conversation", Status: 503})
	if err := c.ProbeConversationList(ctx); Classify(err) != Retryable {
		t.Errorf("probe of an API that fails: %v, want a retryable error", err)
	}
	refused := New(Options{BaseURL: with.URL(), Token: "wrong", Timeout: 5 * time.Second})
	with.ClearFaults()
	if err := refused.ProbeConversationList(ctx); Classify(err) != Auth {
		t.Errorf("probe with a refused token: %v, want Auth", err)
	}
}
