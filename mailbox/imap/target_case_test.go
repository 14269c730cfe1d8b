package imap

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/enneo/mailbridge/internal/testenv"
)

// On a Cyrus/Courier-style server, an existing move target written
// "Inbox.Done" (INBOX is case-insensitive in IMAP, and the server moves
// into it fine) is taken for the existing folder INBOX.Done.
func TestExistingTargetWithInboxInOtherCase(t *testing.T) {
	dc := testenv.StartDovecotWith(t, cyrusNamespace)
	c := dialClient(t, dc.Addr, dc.User, dc.Password)
	if err := c.c.Create("INBOX.Done", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	c.append("INBOX", testMessage("case@example.org", "case"))
	account := Account{Name: "support", Addr: dc.Addr, Security: Insecure,
		Username: dc.User, Password: dc.Password, Timeout: 5 * time.Second}
	_, err := Probe(context.Background(), account, []string{"INBOX"}, ProbeOptions{After: Action{Kind: ActionMove, Arg: "Inbox.Done"}})
	if err != nil {
		t.Errorf("Probe with the existing folder Inbox.Done: %v", err)
	}
	// The server itself takes the name: a MOVE into it works.
	if _, err := c.c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.c.Move(imap.SeqSet{{Start: 1, Stop: 1}}, "Inbox.Done").Wait(); err != nil {
		t.Errorf("MOVE to Inbox.Done: %v", err)
	} else {
		t.Logf("MOVE 1 to Inbox.Done works; %d in INBOX.Done", c.count("INBOX.Done"))
	}
}

func TestSameMailbox(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"INBOX", "inbox", true},
		{"INBOX.Done", "Inbox.Done", true},
		{"INBOX/Done", "inbox/Done", true},
		{"INBOX.Done", "INBOX.done", false},
		{"Inboxes", "INBOXES", false},
		{"Done", "Done", true},
	} {
		if got := sameMailbox(tt.a, tt.b); got != tt.want {
			t.Errorf("sameMailbox(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
