package imap

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/enneo/mailbridge/internal/testenv"
)

// A folder renumbered (new UIDVALIDITY: restored from a backup, migrated,
// rebuilt index) while mailbridge was stopped is read whole, whatever
// startAt says: with startAt: new, the mail that arrived after the last
// checkpoint and was never read is still read.
func TestUIDValidityChangeReadsUnreadMailDespiteStartNew(t *testing.T) {
	dc := testenv.StartDovecot(t)
	c := dialClient(t, dc.Addr, dc.User, dc.Password)
	if err := c.c.Create("Renum", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	account := Account{Name: "support", Addr: dc.Addr, Security: Insecure,
		Username: dc.User, Password: dc.Password, Timeout: 5 * time.Second}
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := Config{Account: account, Folder: "Renum", SubchannelID: 4, StartAt: StartAt{Kind: StartNew}, IDLE: true,
		IdleRestart: time.Minute, PollInterval: time.Minute, BatchSize: 10, After: Action{Kind: ActionSeen},
		Ingester: q, Checkpoints: cp, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
		Log: log.logger()}
	stop := startPoller(t, cfg)
	testenv.WaitFor(t, 30*time.Second, "first start recorded", func() bool { return cp.get("support", "Renum")[0] != 0 })
	c.append("Renum", testMessage("live-1@example.org", "live"))
	q.waitUnique(t, 1, 30*time.Second)
	stop()

	// While mailbridge is stopped: two customer mails arrive, then the
	// folder is renumbered (recreated with the same messages).
	c.append("Renum", testMessage("while-down-1@example.org", "down"))
	c.append("Renum", testMessage("while-down-2@example.org", "down"))
	if err := c.c.Rename("Renum", "RenumOld", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.c.Create("Renum", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.c.Select("RenumOld", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.c.Copy(imap.SeqSet{{Start: 1, Stop: 0}}, "Renum").Wait(); err != nil {
		t.Fatal(err)
	}
	c.c.Unselect().Wait()

	stop = startPoller(t, cfg)
	testenv.WaitFor(t, 30*time.Second, "the renumbered folder opened", func() bool {
		return cp.get("support", "Renum")[1] == 3
	})
	c.append("Renum", testMessage("after-1@example.org", "after"))
	q.waitUnique(t, 4, 30*time.Second)
	stop()
	for _, id := range []string{"<while-down-1@example.org>", "<while-down-2@example.org>"} {
		q.mu.Lock()
		n := q.ids[id]
		q.mu.Unlock()
		if n == 0 {
			t.Errorf("%s arrived while mailbridge was stopped, was never read, and is skipped after the UIDVALIDITY change", id)
		}
	}
}
