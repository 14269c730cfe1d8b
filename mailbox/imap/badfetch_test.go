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

// badFetchSession cannot read one message: a UID FETCH naming it returns
// the others and ends in NO, as Gmail does with "Some messages could not
// be FETCHed".
type badFetchSession struct {
	imapserver.Session
	bad imap.UID
}

func (s badFetchSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	set, ok := numSet.(imap.UIDSet)
	if !ok || !set.Contains(s.bad) {
		return s.Session.Fetch(w, numSet, options)
	}
	nums, _ := set.Nums()
	var rest imap.UIDSet
	for _, u := range nums {
		if u != s.bad {
			rest.AddNum(u)
		}
	}
	if len(rest) > 0 {
		if err := s.Session.Fetch(w, rest, options); err != nil {
			return err
		}
	}
	return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Some messages could not be FETCHed (Failure)"}
}

// A message the server can never return does not hold up the mail behind
// it for good: every later message is read, and after its attempts the
// message is set aside and the checkpoint passes it.
func TestUnfetchableMessageDoesNotStopLaterMail(t *testing.T) {
	ms := newMemServerOf(t, func(s imapserver.Session) imapserver.Session { return badFetchSession{s, 2} }, imap.CapUIDPlus)
	c := dialClient(t, ms.addr, memUser, memPass)
	const n = 7
	for i := range n {
		c.append("INBOX", testMessage(fmt.Sprintf("m%d@example.org", i), "bad"))
	}
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := ms.config(q, cp, log) // batches of 3
	cfg.StartAt = StartAt{Kind: StartAll}
	stop := startPoller(t, cfg)
	q.waitUnique(t, n-1, 10*time.Second)
	// After its attempts it is set aside, and the checkpoint passes it.
	testenv.WaitFor(t, 10*time.Second, "the checkpoint past every message", func() bool { return cp.get("support", "INBOX")[1] == n })
	stop()
	flags := c.flags("INBOX")
	if f := flags["m1@example.org"]; !hasFlag(f, errorKeyword) {
		t.Errorf("the unreadable message: flags %v, want %s", f, errorKeyword)
	}
	if !strings.Contains(log.String(), "imap message the server does not return; setting it aside") {
		t.Errorf("the message set aside was not logged:\n%s", log.String())
	}
}

// failingFetchSession ends the first fails UID FETCHes of the server (all
// sessions together) with NO: after returning the first message named
// when first is set, as a server stopping half-way over a limit; else
// returning nothing, as one out of service.
type failingFetchSession struct {
	imapserver.Session
	fails *atomic.Int32
	first bool
}

func (s failingFetchSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	set, ok := numSet.(imap.UIDSet)
	if !ok || s.fails.Add(-1) < 0 {
		return s.Session.Fetch(w, numSet, options)
	}
	if nums, _ := set.Nums(); s.first && len(nums) > 0 {
		if err := s.Session.Fetch(w, imap.UIDSetNum(nums[0]), options); err != nil {
			return err
		}
	}
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Try again later"}
}

// A FETCH the server ends with NO for a reason of its own, returning
// nothing or stopping half-way, sets nothing aside however often it
// comes: the mail is read once the server serves it again.
func TestFetchRefusedSetsNothingAside(t *testing.T) {
	for _, tc := range []struct {
		name     string
		first    bool
		n, batch int
		fails    int32
	}{
		// Every message of a batch refused over and over.
		{"nothing returned", false, 7, 3, 3 * unreadableAttempts},
		// Each FETCH one message further: those behind it in the batch
		// are refused again and again, as many times as the batch is long.
		{"stopping half-way", true, 15, 20, 13},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fails := new(atomic.Int32)
			fails.Store(tc.fails)
			ms := newMemServerOf(t, func(s imapserver.Session) imapserver.Session { return failingFetchSession{s, fails, tc.first} }, imap.CapUIDPlus)
			c := dialClient(t, ms.addr, memUser, memPass)
			n := tc.n
			for i := range n {
				c.append("INBOX", testMessage(fmt.Sprintf("m%d@example.org", i), "refused"))
			}
			q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
			cfg := ms.config(q, cp, log)
			cfg.BatchSize = tc.batch
			cfg.StartAt = StartAt{Kind: StartAll}
			stop := startPoller(t, cfg)
			q.waitUnique(t, n, 20*time.Second)
			testenv.WaitFor(t, 10*time.Second, "the checkpoint past every message", func() bool { return cp.get("support", "INBOX")[1] == uint32(n) })
			stop()
			if fails.Load() >= 0 {
				t.Fatalf("%d refusals left: the test did not refuse enough FETCHes", fails.Load())
			}
			for id, f := range c.flags("INBOX") {
				if hasFlag(f, errorKeyword) {
					t.Errorf("%s set aside (%v) for refusals that were not about it", id, f)
				}
			}
			if strings.Contains(log.String(), "setting it aside") {
				t.Errorf("a message was set aside:\n%s", log.String())
			}
		})
	}
}
