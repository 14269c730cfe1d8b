package imap

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/enneo/mailbridge/internal/testenv"
)

// newBadFetchServer is an in-process server that cannot read the message
// with UID bad (badFetchSession).
func newBadFetchServer(t *testing.T, bad imap.UID) *memServer {
	t.Helper()
	return newMemServerOf(t, func(s imapserver.Session) imapserver.Session { return badFetchSession{s, bad} }, imap.CapUIDPlus)
}

// During a first start (startAt unseen, the default), a message the
// server cannot return that is left the last unseen one up to the
// boundary does not keep the mail that arrives afterwards from being
// read: it is set aside like one in the middle of the mail.
func TestUnfetchableMessageDoesNotStopFirstStart(t *testing.T) {
	ms := newBadFetchServer(t, 2)
	c := dialClient(t, ms.addr, memUser, memPass)
	const old = 5
	for i := range old {
		c.append("INBOX", testMessage(fmt.Sprintf("m%d@example.org", i), "old"))
	}
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := ms.config(q, cp, log) // batches of 3
	cfg.StartAt = StartAt{Kind: StartUnseen}
	cfg.After = Action{Kind: ActionSeen}
	stop := startPoller(t, cfg)
	q.waitUnique(t, old-1, 10*time.Second)
	c.append("INBOX", testMessage("new@example.org", "new"))
	testenv.WaitFor(t, 10*time.Second, "the new message queued", func() bool { return q.unique() == old })
	testenv.WaitFor(t, 10*time.Second, "the checkpoint past every message", func() bool { return cp.get("support", "INBOX")[1] == old+1 })
	stop()
	if f := c.flags("INBOX")["m1@example.org"]; !hasFlag(f, errorKeyword) {
		t.Errorf("the unreadable message: flags %v, want %s", f, errorKeyword)
	}
	if !strings.Contains(log.String(), "imap message the server does not return; setting it aside") {
		t.Errorf("the message set aside was not logged")
	}
}

// bodilessSession answers every FETCH of the message with UID bad
// without its body, ending the FETCH with OK; fetches counts them.
type bodilessSession struct {
	imapserver.Session
	bad     imap.UID
	fetches *atomic.Int32
}

func (s bodilessSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	set, ok := numSet.(imap.UIDSet)
	if !ok || !set.Contains(s.bad) {
		return s.Session.Fetch(w, numSet, options)
	}
	defer s.fetches.Add(1)
	nums, _ := set.Nums()
	for _, u := range nums {
		if u != s.bad {
			if err := s.Session.Fetch(w, imap.UIDSetNum(u), options); err != nil {
				return err
			}
			continue
		}
		// Nothing is expunged: the sequence number is the UID.
		m := w.CreateMessage(uint32(u))
		m.WriteUID(u)
		if err := m.Close(); err != nil {
			return err
		}
	}
	return nil
}

// A message the server answers without its body in a FETCH that ends
// with OK is not set aside, however often that comes: only a FETCH
// ending in NO says the server cannot return it.
func TestBodilessMessageNotSetAside(t *testing.T) {
	fetches := new(atomic.Int32)
	ms := newMemServerOf(t, func(s imapserver.Session) imapserver.Session { return bodilessSession{s, 2, fetches} }, imap.CapUIDPlus)
	c := dialClient(t, ms.addr, memUser, memPass)
	const n = 5
	for i := range n {
		c.append("INBOX", testMessage(fmt.Sprintf("m%d@example.org", i), "bodiless"))
	}
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := ms.config(q, cp, log)
	cfg.StartAt = StartAt{Kind: StartAll}
	stop := startPoller(t, cfg)
	testenv.WaitFor(t, 20*time.Second, "the message fetched more often than its attempts", func() bool {
		return fetches.Load() > 2*unreadableAttempts
	})
	stop()
	if got := cp.get("support", "INBOX")[1]; got != 1 {
		t.Errorf("checkpoint %d, want 1: it passed the message that came without its body", got)
	}
	if f := c.flags("INBOX")["m1@example.org"]; hasFlag(f, errorKeyword) {
		t.Errorf("the message that came without its body was set aside: %v", f)
	}
	if strings.Contains(log.String(), "setting it aside") {
		t.Errorf("a message was set aside:\n%s", log.String())
	}
}
