package imap

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/enneo/mailbridge/internal/testenv"
)

// newBadFetchServer is an in-process server that cannot read the message
// with UID bad (badFetchSession).
func newBadFetchServer(t *testing.T, bad imap.UID) *memServer {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(memUser, memPass)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return badFetchSession{mem.NewSession(), bad}, nil, nil
		},
		Caps: imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}, InsecureAuth: true, Logger: discardLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &memServer{addr: ln.Addr().String(), user: user}
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
