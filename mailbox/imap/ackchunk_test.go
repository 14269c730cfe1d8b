package imap

import (
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/enneo/mailbridge/internal/testenv"
)

// slowStoreSession takes perUID for each message of a STORE, as a server
// does that writes the flags message by message.
type slowStoreSession struct {
	imapserver.Session
	perUID time.Duration
}

func (s slowStoreSession) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	n := 1
	switch set := numSet.(type) {
	case imap.UIDSet:
		nums, _ := set.Nums()
		n = len(nums)
	case imap.SeqSet:
		nums, _ := set.Nums()
		n = len(nums)
	}
	time.Sleep(time.Duration(n) * s.perUID)
	return s.Session.Store(w, numSet, flags, options)
}

// A full batch is acknowledged within the command timeout even when the
// server's STORE takes time per message: the after-action of a batch of
// the default size must not exceed the per-command bound where a hundred
// messages fit in it, or the batch is fetched, acknowledged, timed out
// and fetched again for ever.
func TestLargeBatchAcknowledgedWithinTimeout(t *testing.T) {
	const perUID = 5 * time.Millisecond // 100 UIDs: 0.5 s; 400: 2 s
	ms := newMemServerOf(t, func(s imapserver.Session) imapserver.Session { return slowStoreSession{s, perUID} }, imap.CapUIDPlus)
	c := dialClient(t, ms.addr, memUser, memPass)
	const n = 400
	for i := range n {
		c.append("INBOX", testMessage(fmt.Sprintf("m%d@example.org", i), "batch"))
	}
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := ms.config(q, cp, log)
	cfg.BatchSize = 0                     // the default
	cfg.StartAt = StartAt{Kind: StartAll} // no first-start search that \Seen would end
	cfg.Timeout = 1500 * time.Millisecond
	stop := startPoller(t, cfg)
	testenv.WaitFor(t, 20*time.Second, "the checkpoint past the batch", func() bool { return cp.get("support", "INBOX")[1] == n })
	stop()
	if got := q.callCount(); got != n {
		t.Errorf("%d messages fetched %d times: the batch was fetched again", n, got)
	}
	for id, f := range c.flags("INBOX") {
		if !hasFlag(f, imap.FlagSeen) {
			t.Errorf("%s: flags %v, want \\Seen", id, f)
		}
	}
}
