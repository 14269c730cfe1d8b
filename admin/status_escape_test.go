package admin

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/mailbox/imap"
	"github.com/enneo/mailbridge/store"
)

// What a mail or a server said reaches the status page with its control
// characters and bidi overrides shown, not passed through: html/template
// escapes markup, not those.
func TestStatusPageShowsControlCharacters(t *testing.T) {
	now := time.Now()
	d := statusData{Now: now, Started: now, Ready: false,
		Checks:    []string{"FAIL store: \x1b[31mred"},
		Mailboxes: []imap.Status{{Mailbox: "sales", Folder: "IN\u202eBOX", State: imap.Disconnected, LastError: "NO \x1b]0;pwned\x07", LastErrorAt: now}},
		Dead:      1,
		DeadLetters: []store.Message{{ID: 7, ReceivedAt: now, From: "evil\u202egro.elpmaxe@example.org",
			Subject: "\x1b]0;pwned\x07 \x1b[2J\rhello\n8 dead", LastError: "400: \x9b2J \u009b3J"}},
		APIErrors: []APIError{{At: now, Operation: "store_conversation", Status: 400, Error: "bad\x1b[2J"}},
	}
	var b bytes.Buffer
	if err := statusTemplate.Execute(&b, d); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"\x1b", "\x07", "\r", "\u202e", "\u009b", "\x9b", "hello\n8 dead"} {
		if strings.Contains(page, bad) {
			t.Errorf("status page holds %q raw", bad)
		}
	}
	for _, want := range []string{
		`\x1b]0;pwned\x07 \x1b[2J\rhello\n8 dead`, `evil\u202egro.elpmaxe@example.org`, `400: \x9b2J \u009b3J`,
		`IN\u202eBOX`, `NO \x1b]0;pwned\x07`, `bad\x1b[2J`, `FAIL store: \x1b[31mred`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
}

// A folder not synced for over 15 minutes is marked stale, unless another
// instance polls it; a recent sync is shown plainly.
func TestStatusPageMarksStaleFolders(t *testing.T) {
	now := time.Now()
	d := statusData{Now: now, Started: now, Mailboxes: []imap.Status{
		{Mailbox: "support", Folder: "INBOX", State: imap.Connected, LastPoll: now.Add(-2 * time.Minute)},
		{Mailbox: "sales", Folder: "INBOX", State: imap.Disconnected, LastPoll: now.Add(-20 * time.Minute),
			LastError: "login refused", LastErrorAt: now},
		{Mailbox: "billing", Folder: "INBOX", State: imap.Standby, LastPoll: now.Add(-time.Hour)},
	}}
	var b bytes.Buffer
	if err := statusTemplate.Execute(&b, d); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if n := strings.Count(page, "stale: not synced for over 15 minutes"); n != 1 {
		t.Errorf("%d folders marked stale, want 1 (sales)", n)
	}
	for _, want := range []string{`<span class="bad">20m ago</span>`, "2m ago", "login refused"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
}
