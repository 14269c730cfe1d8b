package imap

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/enneo/mailbridge/internal/testenv"
)

// `mailbridge import` run before the daemon reads a folder for the first
// time leaves the unseen mail -- what startAt: unseen promises to read
// live, with AI -- to the live poller, and imports the seen mail.
func TestImportLeavesLiveUnseenMailToThePoller(t *testing.T) {
	dc := testenv.StartDovecot(t)
	c := dialClient(t, dc.Addr, dc.User, dc.Password)
	if err := c.c.Create("Shared", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	c.appendWith("Shared", testMessage("old-seen@example.org", "old"), []imap.Flag{imap.FlagSeen}, oldDate)
	c.appendWith("Shared", testMessage("unread-customer@example.org", "please help"), nil, time.Time{})

	account := Account{Name: "support", Addr: dc.Addr, Security: Insecure,
		Username: dc.User, Password: dc.Password, Timeout: 5 * time.Second}
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	// The operator imports the archive since last year, as docs/imap.md
	// suggests, then starts the daemon (startAt: unseen, the default).
	res, err := Import(context.Background(), Config{Account: account, Folder: "Shared", SubchannelID: 4,
		BatchSize: 10, Ingester: q, Checkpoints: cp, Log: log.logger()},
		ImportOptions{Since: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Live: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("import: %+v", res)
	startPoller(t, Config{Account: account, Folder: "Shared", SubchannelID: 4, IDLE: true,
		IdleRestart: time.Minute, PollInterval: time.Minute, BatchSize: 10,
		Ingester: q, Checkpoints: cp, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
		Log: log.logger()})
	testenv.WaitFor(t, 30*time.Second, "the live first start read", func() bool {
		return cp.get("support", "Shared")[1] == 2
	})
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ids["<old-seen@example.org>"] == 0 {
		t.Errorf("the seen mail was not imported")
	}
	if q.ids["<unread-customer@example.org>"] == 0 {
		t.Errorf("the unread mail was not read live")
	}
	for i, id := range q.order {
		if id == "<unread-customer@example.org>" && q.origin[i].IMAP.Archive {
			t.Errorf("the unread mail startAt: unseen promises to read live was queued first by the import, as archive "+
				"(posted with process \"false\"); the live copy was a duplicate (%d ingests of it)", q.ids[id])
		}
	}
}
