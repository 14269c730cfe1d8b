package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/enneo/mailbridge/config"
	"github.com/enneo/mailbridge/internal/testenv"
	mbimap "github.com/enneo/mailbridge/mailbox/imap"
	"github.com/enneo/mailbridge/store/lease"
)

func memIMAP(t *testing.T) string {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser("bob", "pw")
	u.Create("INBOX", nil)
	u.Create("Archive", nil)
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}},
		InsecureAuth: true,
		Logger:       discardLogger{}, // clients hanging up are no news
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

func TestCheckMailboxes(t *testing.T) {
	host, port, _ := net.SplitHostPort(memIMAP(t))
	p, _ := strconv.Atoi(port)
	mb := config.Mailbox{
		Name: "support", SubchannelID: 1, Host: host, Port: p, Security: "none", AllowInsecure: true,
		Username: "bob", Password: "pw", Folders: []string{"INBOX"}, Timeout: config.Duration(5 * time.Second),
	}
	bad := mb
	bad.Name, bad.Password = "wrong", "nope"
	var out bytes.Buffer
	err := checkMailboxes(context.Background(), &app{cfg: &config.Config{Mailboxes: []config.Mailbox{mb, bad}}}, &out)
	if err == nil || !strings.Contains(err.Error(), "mailbox wrong") || strings.Contains(err.Error(), "mailbox support") {
		t.Errorf("err = %v, want only mailbox wrong failing", err)
	}
	for _, want := range []string{"mailbox support: logged in", "(2 folders)", "watching INBOX: 0 messages, 0 unseen; a first start imports 0 (startAt: unseen)", "mailbox wrong: FAILED"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "nope") {
		t.Errorf("password in the report:\n%s", out.String())
	}
}

func TestIMAPSources(t *testing.T) {
	mb := config.Mailbox{
		Name: "support", SubchannelID: 1, Host: "imap.example.com", Port: 993, Security: "tls",
		Username: "bob", Password: "pw", Folders: []string{"INBOX", "Sales"}, AfterProcess: "move:Done",
	}
	a, src := sqliteSources(t, mb)
	var names []string
	for _, s := range src {
		names = append(names, s.Name())
	}
	if got := strings.Join(names, " "); got != "imap:support/INBOX imap:support/Sales" {
		t.Errorf("sources %q", got)
	}
	mb.AfterProcess = "archive"
	if _, err := mailboxSources(a, mb, "test"); err == nil {
		t.Error("bad afterProcess accepted")
	}
}

// sqliteSources is mailboxSources for mb on a store of its own.
func sqliteSources(t *testing.T, mb config.Mailbox) (*app, []source) {
	t.Helper()
	st, err := openStore(t.Context(), config.Store{Driver: "sqlite", Path: filepath.Join(t.TempDir(), "queue.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := &app{cfg: &config.Config{Mailboxes: []config.Mailbox{mb}}, log: slog.New(slog.DiscardHandler), store: st}
	src, err := mailboxSources(a, mb, "test")
	if err != nil {
		t.Fatal(err)
	}
	return a, src
}

// switchLease is a lease another instance holds unless held is set.
type switchLease struct{ held atomic.Bool }

func (l *switchLease) TakeLease(context.Context, string, string, time.Duration) (bool, error) {
	return l.held.Load(), nil
}
func (l *switchLease) DropLease(context.Context, string, string) error { return nil }

// A leased poller shows as standing by while another instance holds the
// folder's lease: before it first has it, and again after losing it,
// rather than showing its last session as still connected.
func TestLeasedPollerStandby(t *testing.T) {
	host, port, _ := net.SplitHostPort(memIMAP(t))
	portN, _ := strconv.Atoi(port)
	mb := config.Mailbox{
		Name: "support", SubchannelID: 1, Host: host, Port: portN, Security: "none", AllowInsecure: true,
		Username: "bob", Password: "pw", Folders: []string{"INBOX"}, AfterProcess: "seen",
		PollInterval: config.Duration(50 * time.Millisecond), Timeout: config.Duration(5 * time.Second),
	}
	_, src := sqliteSources(t, mb)
	p, ok := src[0].(*mbimap.Poller)
	if !ok {
		t.Fatalf("source %T, want a poller (SQLite has no leases)", src[0])
	}
	l := &switchLease{}
	lp := leasedPoller{p, lease.Config{Leases: l, Name: p.Name(), Holder: "me",
		TTL: time.Second, Renew: 20 * time.Millisecond, Log: slog.New(slog.DiscardHandler)}}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- lp.Run(ctx) }()
	waitState := func(want mbimap.ConnState) {
		t.Helper()
		testenv.WaitUntil(t, 20*time.Second, fmt.Sprintf("state %s", want), func() (bool, string) {
			got := p.Status().State
			return got == want, fmt.Sprintf("state %s", got)
		})
	}
	waitState(mbimap.Standby)
	l.held.Store(true)
	waitState(mbimap.Connected)
	l.held.Store(false) // another instance took it over
	waitState(mbimap.Standby)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 48211: "48,211", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
