package imap

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// badFetchSession cannot read one message: a UID FETCH naming it returns
// the others and ends in NO, as Dovecot does for a damaged mail file and
// Gmail with "Some messages could not be FETCHed".
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

// A message the server can never return holds the checkpoint, but not the
// mail behind it: every later message is read, each once.
func TestUnfetchableMessageDoesNotStopLaterMail(t *testing.T) {
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(memUser, memPass)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return badFetchSession{mem.NewSession(), 2}, nil, nil
		},
		Caps: imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}, InsecureAuth: true, Logger: discardLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	ms := &memServer{addr: ln.Addr().String(), user: user}
	c := dialClient(t, ms.addr, memUser, memPass)
	const n = 7
	for i := range n {
		c.append("INBOX", testMessage(fmt.Sprintf("m%d@example.org", i), "bad"))
	}
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := ms.config(q, cp, log) // batches of 3
	cfg.StartAt = StartAt{Kind: StartAll}
	startPoller(t, cfg)
	q.waitUnique(t, n-1, 10*time.Second)
}
