package imap

import (
	"bytes"
	"errors"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/mailbox"
)

const (
	memUser = "support@example.com"
	memPass = "secret"
)

// memServer is an in-process IMAP server (go-imap's imapmemserver).
type memServer struct {
	addr string
	user *imapmemserver.User
}

func newMemServer(t *testing.T, caps ...imap.Cap) *memServer {
	t.Helper()
	return newMemServerOf(t, func(s imapserver.Session) imapserver.Session { return s }, caps...)
}

// newMemServerOf is newMemServer whose sessions are wrap's: a server that
// misbehaves in one command.
func newMemServerOf(t *testing.T, wrap func(imapserver.Session) imapserver.Session, caps ...imap.Cap) *memServer {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(memUser, memPass)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	capSet := imap.CapSet{imap.CapIMAP4rev1: {}}
	for _, c := range caps {
		capSet[c] = struct{}{}
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return wrap(mem.NewSession()), nil, nil
		},
		Caps:         capSet,
		InsecureAuth: true,
		Logger:       discardLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &memServer{addr: ln.Addr().String(), user: user}
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// config is a poller configuration for the server's INBOX, polling fast.
func (s *memServer) config(q *fakeQueue, cp *memCheckpoints, log *logBuffer) Config {
	return Config{
		Account: Account{
			Name: "support", Addr: s.addr, Security: Insecure,
			Username: memUser, Password: memPass, Timeout: 5 * time.Second,
		},
		Folder:       "INBOX",
		SubchannelID: 7,
		PollInterval: 50 * time.Millisecond,
		BatchSize:    3, // several batches with few messages
		Ingester:     q,
		Checkpoints:  cp,
		Permanent:    func(err error) bool { return errors.Is(err, errPoison) },
		MinBackoff:   20 * time.Millisecond,
		MaxBackoff:   100 * time.Millisecond,
		Log:          log.logger(),
	}
}

func TestFetchSeenAndCheckpoint(t *testing.T) {
	srv := newMemServer(t)
	c := dialClient(t, srv.addr, memUser, memPass)
	for i := range 7 {
		c.append("INBOX", testMessage(msgID(i), "first"))
	}
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := srv.config(q, cp, log)
	stop := startPoller(t, cfg)
	q.waitUnique(t, 7, 5*time.Second)
	testenv.WaitFor(t, 5*time.Second, "checkpoint at UID 7", func() bool { return cp.get("support", "INBOX")[1] == 7 })
	for id, flags := range c.flags("INBOX") {
		if !hasFlag(flags, imap.FlagSeen) {
			t.Errorf("%s: flags %v, want \\Seen", id, flags)
		}
	}

	// New mail is picked up by the next poll.
	for i := 7; i < 9; i++ {
		c.append("INBOX", testMessage(msgID(i), "second"))
	}
	q.waitUnique(t, 9, 5*time.Second)
	// Queued is not yet done: the flag and the checkpoint follow. A stop
	// before them would leave UIDs 8 and 9 to be fetched (and deduplicated)
	// again, which is the at-least-once design, not what is tested here.
	testenv.WaitFor(t, 5*time.Second, "checkpoint at UID 9", func() bool { return cp.get("support", "INBOX")[1] == 9 })
	stop()
	if n := q.callCount(); n != 9 {
		t.Errorf("Ingest called %d times, want 9 (nothing fetched twice)", n)
	}

	// A restart starts from the checkpoint: nothing is fetched again.
	stop = startPoller(t, cfg)
	time.Sleep(300 * time.Millisecond)
	stop()
	if n := q.callCount(); n != 9 {
		t.Errorf("after restart Ingest called %d times, want 9", n)
	}

	// A batch is ingested concurrently, so look the first message up by UID
	// rather than by arrival order.
	q.mu.Lock()
	var o mailbox.Origin
	for _, c := range q.origin {
		if c.IMAP != nil && c.IMAP.UID == 1 {
			o = c
		}
	}
	q.mu.Unlock()
	if o.Source != "imap" || o.IMAP == nil || o.IMAP.Mailbox != "support" || o.IMAP.Folder != "INBOX" ||
		o.IMAP.UIDValidity == 0 {
		t.Errorf("origin of UID 1 = %+v %+v", o, o.IMAP)
	}
	if !strings.Contains(log.String(), "uid=1") {
		t.Errorf("log lines do not carry uid:\n%s", log)
	}
}

func msgID(i int) string { return "m" + string(rune('a'+i)) + "@example.org" }

func TestAfterActions(t *testing.T) {
	for _, tt := range []struct {
		after string
		caps  []imap.Cap
		check func(t *testing.T, c *client)
	}{
		{"flag:$Queued", nil, func(t *testing.T, c *client) {
			for id, f := range c.flags("INBOX") {
				if !hasFlag(f, "$Queued") || hasFlag(f, imap.FlagSeen) {
					t.Errorf("%s: flags %v, want $Queued and not \\Seen", id, f)
				}
			}
		}},
		{"none", nil, func(t *testing.T, c *client) {
			for id, f := range c.flags("INBOX") {
				if hasFlag(f, imap.FlagSeen) {
					t.Errorf("%s: flags %v, want no \\Seen (BODY.PEEK)", id, f)
				}
			}
		}},
		{"move:Done", []imap.Cap{imap.CapMove}, func(t *testing.T, c *client) {
			if n := c.count("INBOX"); n != 0 {
				t.Errorf("INBOX holds %d, want 0", n)
			}
			if n := c.count("Done"); n != 4 {
				t.Errorf("Done holds %d, want 4", n)
			}
		}},
		{"move:Done", nil /* COPY + STORE + EXPUNGE */, func(t *testing.T, c *client) {
			if n := c.count("INBOX"); n != 0 {
				t.Errorf("INBOX holds %d, want 0", n)
			}
			if n := c.count("Done"); n != 4 {
				t.Errorf("Done holds %d, want 4", n)
			}
		}},
		{"delete", []imap.Cap{imap.CapUIDPlus}, func(t *testing.T, c *client) {
			if n := c.count("INBOX"); n != 0 {
				t.Errorf("INBOX holds %d, want 0", n)
			}
		}},
	} {
		t.Run(strings.ReplaceAll(tt.after, ":", "_")+"_"+strings.Join(capNames(tt.caps), "_"), func(t *testing.T) {
			srv := newMemServer(t, tt.caps...)
			c := dialClient(t, srv.addr, memUser, memPass)
			for i := range 4 {
				c.append("INBOX", testMessage(msgID(i), "x"))
			}
			q, cp := newFakeQueue(), newMemCheckpoints()
			cfg := srv.config(q, cp, &logBuffer{})
			var err error
			if cfg.After, err = ParseAction(tt.after); err != nil {
				t.Fatal(err)
			}
			stop := startPoller(t, cfg)
			q.waitUnique(t, 4, 5*time.Second)
			testenv.WaitFor(t, 5*time.Second, "checkpoint", func() bool { return cp.get("support", "INBOX")[1] == 4 })
			stop()
			tt.check(t, c)
			if n := q.callCount(); n != 4 {
				t.Errorf("Ingest called %d times, want 4", n)
			}
		})
	}
}

func capNames(caps []imap.Cap) []string {
	var s []string
	for _, c := range caps {
		s = append(s, string(c))
	}
	return s
}

func TestPermanentFailure(t *testing.T) {
	for _, errorFolder := range []string{"", "Errors"} {
		t.Run("errorFolder="+errorFolder, func(t *testing.T) {
			srv := newMemServer(t, imap.CapMove)
			c := dialClient(t, srv.addr, memUser, memPass)
			c.append("INBOX", testMessage("a@x", "ok"))
			c.append("INBOX", []byte("this is not a mail header\r\n\r\nbody")) // the fake rejects it for good
			c.append("INBOX", testMessage("c@x", "ok"))
			q, cp := newFakeQueue(), newMemCheckpoints()
			cfg := srv.config(q, cp, &logBuffer{})
			cfg.ErrorFolder = errorFolder
			stop := startPoller(t, cfg)
			q.waitUnique(t, 2, 5*time.Second)
			testenv.WaitFor(t, 5*time.Second, "checkpoint past the poison", func() bool { return cp.get("support", "INBOX")[1] == 3 })
			time.Sleep(200 * time.Millisecond) // a few more polls: it must not loop
			stop()
			if n := q.callCount(); n != 3 {
				t.Errorf("Ingest called %d times, want 3 (no retry loop)", n)
			}
			if errorFolder != "" {
				if n := c.count("Errors"); n != 1 {
					t.Errorf("Errors holds %d, want 1", n)
				}
				if n := c.count("INBOX"); n != 2 {
					t.Errorf("INBOX holds %d, want 2", n)
				}
				return
			}
			flagged := 0
			for _, f := range c.flags("INBOX") {
				if hasFlag(f, errorKeyword) {
					flagged++
				}
			}
			if flagged != 1 {
				t.Errorf("%d messages flagged %s, want 1", flagged, errorKeyword)
			}
		})
	}
}

// A failing queue leaves the message on the server, unacknowledged and
// behind the checkpoint; once the queue works again it is processed.
func TestTransientFailureLosesNothing(t *testing.T) {
	srv := newMemServer(t)
	c := dialClient(t, srv.addr, memUser, memPass)
	for i := range 5 {
		c.append("INBOX", testMessage(msgID(i), "x"))
	}
	q, cp := newFakeQueue(), newMemCheckpoints()
	errDisk := errors.New("disk full")
	q.setFail(func(m mailbox.Message) error {
		if m.Origin.IMAP.UID >= 3 {
			return errDisk
		}
		return nil
	})
	cfg := srv.config(q, cp, &logBuffer{})
	cfg.BatchSize = 10
	startPoller(t, cfg)
	testenv.WaitFor(t, 5*time.Second, "checkpoint at 2", func() bool { return cp.get("support", "INBOX")[1] == 2 })
	time.Sleep(200 * time.Millisecond)
	if got := cp.get("support", "INBOX")[1]; got != 2 {
		t.Fatalf("checkpoint %d passed a message that was not queued", got)
	}
	for id, f := range c.flags("INBOX") {
		want := id == msgID(0) || id == msgID(1)
		if hasFlag(f, imap.FlagSeen) != want {
			t.Errorf("%s: flags %v; \\Seen wanted: %v", id, f, want)
		}
	}
	q.setFail(nil)
	q.waitUnique(t, 5, 5*time.Second)
	testenv.WaitFor(t, 5*time.Second, "checkpoint at 5", func() bool { return cp.get("support", "INBOX")[1] == 5 })
}

// A re-created folder gets a new UIDVALIDITY: the poller reads it again,
// and what it had queued before comes back as duplicates, acknowledged.
func TestUIDValidityChange(t *testing.T) {
	srv := newMemServer(t)
	c := dialClient(t, srv.addr, memUser, memPass)
	for i := range 3 {
		c.append("INBOX", testMessage(msgID(i), "x"))
	}
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := srv.config(q, cp, log)
	stop := startPoller(t, cfg)
	q.waitUnique(t, 3, 5*time.Second)
	testenv.WaitFor(t, 5*time.Second, "checkpoint", func() bool { return cp.get("support", "INBOX")[1] == 3 })
	stop()
	oldUV := cp.get("support", "INBOX")[0]

	if err := srv.user.Delete("INBOX"); err != nil {
		t.Fatal(err)
	}
	if err := srv.user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	for i := range 4 { // the same three, and one new
		c.append("INBOX", testMessage(msgID(i), "x"))
	}
	startPoller(t, cfg)
	q.waitUnique(t, 4, 5*time.Second)
	testenv.WaitFor(t, 5*time.Second, "new checkpoint", func() bool {
		v := cp.get("support", "INBOX")
		return v[0] != oldUV && v[1] == 4
	})
	if !strings.Contains(log.String(), "UIDVALIDITY changed") {
		t.Errorf("UIDVALIDITY change not logged:\n%s", log)
	}
	for id, f := range c.flags("INBOX") {
		if !hasFlag(f, imap.FlagSeen) {
			t.Errorf("%s not acknowledged after the reset: %v", id, f)
		}
	}
}

func TestIDLE(t *testing.T) {
	srv := newMemServer(t, imap.CapIdle)
	c := dialClient(t, srv.addr, memUser, memPass)
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := srv.config(q, cp, log)
	cfg.IDLE = true
	cfg.PollInterval = time.Hour // only IDLE can bring the mail
	cfg.IdleRestart = 200 * time.Millisecond
	startPoller(t, cfg)
	time.Sleep(500 * time.Millisecond) // into IDLE, through a renewal or two
	for i := range 3 {
		start := time.Now()
		c.append("INBOX", testMessage(msgID(i), "idle"))
		q.waitUnique(t, i+1, 2*time.Second)
		t.Logf("APPEND → queued in %v", time.Since(start))
	}
}

func TestLoginFailureLoggedOnce(t *testing.T) {
	srv := newMemServer(t)
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := srv.config(q, cp, log)
	cfg.Password = "wrong"
	cfg.MaxBackoff = 20 * time.Millisecond
	stop := startPoller(t, cfg)
	time.Sleep(400 * time.Millisecond)
	stop()
	errors := strings.Count(log.String(), "level=ERROR")
	retries := strings.Count(log.String(), "failed again")
	if errors != 1 || retries < 3 {
		t.Errorf("%d error lines and %d retries, want 1 error and several quiet retries:\n%s", errors, retries, log)
	}
	if !strings.Contains(log.String(), "login refused") {
		t.Errorf("login failure not named:\n%s", log)
	}
	if strings.Contains(log.String(), "wrong") {
		t.Errorf("password in the log:\n%s", log)
	}
}

func TestParseAction(t *testing.T) {
	for in, want := range map[string]Action{
		"":          {Kind: ActionSeen},
		"seen":      {Kind: ActionSeen},
		"none":      {Kind: ActionNone},
		"delete":    {Kind: ActionDelete},
		"flag:$Bot": {Kind: ActionFlag, Arg: "$Bot"},
		"move:A/B":  {Kind: ActionMove, Arg: "A/B"},
	} {
		got, err := ParseAction(in)
		if err != nil || got != want {
			t.Errorf("ParseAction(%q) = %v, %v; want %v", in, got, err, want)
		}
		if in != "" && got.String() != in {
			t.Errorf("%q round-trips as %q", in, got)
		}
	}
	for _, in := range []string{"move:", "flag:", "archive", "seen:x"} {
		if _, err := ParseAction(in); err == nil {
			t.Errorf("ParseAction(%q) accepted", in)
		}
	}
}

// A fetched message reaches the queue byte for byte as the server holds
// it, whatever its size against the reader's buffers.
func TestFetchedBytesExact(t *testing.T) {
	srv := newMemServer(t)
	c := dialClient(t, srv.addr, memUser, memPass)
	want := map[string][]byte{}
	for i, size := range []int{0, 4095, 4096, 4097, 20 << 10, 300 << 10} {
		raw := sizedMessage(msgID(i), size)
		want["<"+msgID(i)+">"] = raw
		c.append("INBOX", raw)
	}
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	var mu sync.Mutex
	got := map[string][]byte{}
	q.setFail(func(m mailbox.Message) error {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
		if err != nil {
			return err
		}
		mu.Lock()
		got[msg.Header.Get("Message-Id")] = m.Raw
		mu.Unlock()
		return nil
	})
	stop := startPoller(t, srv.config(q, cp, log))
	q.waitUnique(t, len(want), 5*time.Second)
	stop()
	mu.Lock()
	defer mu.Unlock()
	for id, raw := range want {
		if !bytes.Equal(got[id], raw) {
			t.Errorf("%s: queued %d bytes, want the %d the server holds", id, len(got[id]), len(raw))
		}
	}
}
