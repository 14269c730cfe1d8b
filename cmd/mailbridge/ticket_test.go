package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/enneo/mailbridge/internal/testapi"
)

// api.ticket.ticketBody decides what the new ticket's body holds; the
// mail itself is stored on the ticket in every mode.
func TestTicketBody(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want func(body any) bool
	}{
		{"", func(b any) bool { return b == nil }}, // the default: none
		{"none", func(b any) bool { return b == nil }},
		{"subject-only", func(b any) bool { s, _ := b.(string); return strings.HasPrefix(s, "Rückfrage") }},
		{"full", func(b any) bool { s, _ := b.(string); return strings.Contains(s, "Grüße") }},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			srv := testapi.New(t, testapi.Options{Token: "cli-token"})
			t.Cleanup(func() { srv.AssertValid(t) })
			extra := fmt.Sprintf("  baseURL: %s\n  token: cli-token", srv.URL())
			if tc.mode != "" {
				extra += "\n  ticket: {ticketBody: " + tc.mode + "}"
			}
			if code, stdout, stderr := run(t, "deliver", "-c", writeConfig(t, extra), "--subchannel", "4", sample); code != exitOK {
				t.Fatalf("deliver: exit %d\n%s\n%s", code, stdout, stderr)
			}
			tickets := srv.Tickets()
			if len(tickets) != 1 || len(srv.Conversations()) != 1 {
				t.Fatalf("%d tickets, %d conversations; want 1 each", len(tickets), len(srv.Conversations()))
			}
			if body := tickets[0].Fields["body"]; !tc.want(body) {
				t.Errorf("ticket body %q", body)
			}
		})
	}
}
