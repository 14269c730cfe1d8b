package imap

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/enneo/mailbridge/internal/testenv"
)

// noPermSession refuses to copy into "Done" and "Errors", as a server
// does where the account may not write into an existing folder (an ACL,
// a shared mailbox, a full quota on the target).
type noPermSession struct{ imapserver.Session }

func (s noPermSession) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	if dest == "Done" || dest == "Errors" {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNoPerm, Text: "no right to insert"}
	}
	return s.Session.Copy(numSet, dest)
}

// noMoveServer is an in-memory server without MOVE (IMAP4rev1 with
// UIDPLUS) whose COPY into Done and Errors fails.
func noMoveServer(t *testing.T) *memServer {
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(memUser, memPass)
	user.Create("INBOX", nil)
	user.Create("Done", nil)
	user.Create("Errors", nil)
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return noPermSession{mem.NewSession()}, nil, nil
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

// On a server without MOVE a move is COPY, then STORE \Deleted and
// expunge: when the COPY is refused, the message must stay on the server,
// whether it was rejected for good (errorFolder, never queued) or queued
// (afterProcess: move).
func TestMoveWithoutMOVEKeepsMessageWhenCopyRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		raw  []byte
		cfg  func(*Config)
	}{
		{"errorFolder, message rejected for good", []byte("this is not a mail\x00\n"), func(c *Config) { c.ErrorFolder = "Errors" }},
		{"afterProcess move", testMessage("moved@example.org", "m"), func(c *Config) { c.After = Action{Kind: ActionMove, Arg: "Done"} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ms := noMoveServer(t)
			c := dialClient(t, ms.addr, memUser, memPass)
			c.append("INBOX", tt.raw)
			q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
			cfg := ms.config(q, cp, log)
			tt.cfg(&cfg)
			p, stop := startPollerP(t, cfg)
			testenv.WaitFor(t, 10*time.Second, "the after-action failing", func() bool { return p.Status().Errors >= 1 })
			stop()
			inbox, done, errs := c.count("INBOX"), c.count("Done"), c.count("Errors")
			t.Logf("queued %d; INBOX %d, Done %d, Errors %d; last error %q", q.unique(), inbox, done, errs, p.Status().LastError)
			if inbox+done+errs == 0 {
				t.Errorf("the COPY was refused and the message is gone from the server (queued: %d)", q.unique())
			}
		})
	}
}

// noPermMoveSession has MOVE, and refuses to move into "Done".
type noPermMoveSession struct{ imapserver.Session }

func (s noPermMoveSession) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if dest == "Done" {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNoPerm, Text: "no right to insert"}
	}
	return s.Session.(imapserver.SessionMove).Move(w, numSet, dest)
}

// A move target that exists but that the server refuses to move into
// passes the connect-time check (CREATE fails, LIST finds it). The
// refused MOVE is reported as the configuration error, the message stays
// in the folder flagged, and it is not fetched again (2 MiB here): the
// checkpoint passes it. Later mail is read, each message once.
func TestMoveRefusedAtRuntimeIsATargetErrorAndNoLoop(t *testing.T) {
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(memUser, memPass)
	user.Create("INBOX", nil)
	user.Create("Done", nil)
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return noPermMoveSession{mem.NewSession()}, nil, nil
		},
		Caps: imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapMove: {}}, InsecureAuth: true, Logger: discardLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	ms := &memServer{addr: ln.Addr().String(), user: user}
	c := dialClient(t, ms.addr, memUser, memPass)
	c.append("INBOX", sizedMessage("big@example.org", 2<<20))
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := ms.config(q, cp, log)
	cfg.After = Action{Kind: ActionMove, Arg: "Done"}
	p, stop := startPollerP(t, cfg)
	testenv.WaitFor(t, 10*time.Second, "the refused move reported", func() bool { return p.Status().Errors >= 1 })
	testenv.WaitFor(t, 10*time.Second, "the checkpoint past the message", func() bool { return cp.get("support", "INBOX")[1] == 1 })
	c.append("INBOX", testMessage("later@example.org", "later"))
	q.waitUnique(t, 2, 10*time.Second)
	testenv.WaitFor(t, 10*time.Second, "the second refused move reported", func() bool { return p.Status().Errors >= 2 })
	testenv.WaitFor(t, 10*time.Second, "a session after it", func() bool {
		st := p.Status()
		return st.State == Connected && st.Since.After(st.LastErrorAt)
	})
	stop()
	t.Logf("fetches: %d, failed sessions %d, last error %q", q.callCount(), p.Status().Errors, p.Status().LastError)
	if q.callCount() != 2 {
		t.Errorf("2 messages fetched %d times: a refused move loops", q.callCount())
	}
	for id, f := range c.flags("INBOX") {
		if !hasFlag(f, notMovedKeyword) {
			t.Errorf("%s: flags %v, want %s", id, f, notMovedKeyword)
		}
	}
	if n := c.count("INBOX"); n != 2 {
		t.Errorf("INBOX holds %d, want the 2 messages whose move was refused", n)
	}
	if !strings.Contains(log.String(), "imap configuration error: the server refuses moves into a target folder") {
		t.Errorf("the refused move was not logged as a configuration error:\n%s", log.String())
	}
}
