package api

import (
	"bytes"
	"context"
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
