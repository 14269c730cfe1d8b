package imap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"

	"github.com/enneo/mailbridge/internal/oauth"
	"github.com/enneo/mailbridge/internal/oauth/oauthtest"
	"github.com/enneo/mailbridge/store/sqlite"
)

// oauthSession adds AUTHENTICATE XOAUTH2 to an imapmemserver session: a
// valid token logs the session in as the memserver user.
type oauthSession struct {
	imapserver.Session
	valid func(user, token string) bool
}

func (s *oauthSession) AuthenticateMechanisms() []string { return []string{"XOAUTH2"} }

func (s *oauthSession) Authenticate(mech string) (sasl.Server, error) {
	return saslServerFunc(func(resp []byte) ([]byte, bool, error) {
		user, token, ok := parseXOAUTH2(resp)
		if !ok || !s.valid(user, token) {
			return nil, true, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "bad token"}
		}
		return nil, true, s.Session.Login(memUser, memPass)
	}), nil
}

type saslServerFunc func([]byte) ([]byte, bool, error)

func (f saslServerFunc) Next(resp []byte) ([]byte, bool, error) { return f(resp) }

func parseXOAUTH2(b []byte) (user, token string, ok bool) {
	parts := bytes.Split(b, []byte{1})
	if len(parts) != 4 || !bytes.HasPrefix(parts[0], []byte("user=")) || !bytes.HasPrefix(parts[1], []byte("auth=Bearer ")) {
		return "", "", false
	}
	return string(parts[0][5:]), string(parts[1][12:]), true
}

// fakeTokens hands out tok-1, tok-2… a new one after each Invalidate,
// or fails with err.
type fakeTokens struct {
	mu     sync.Mutex
	n      int
	issued bool
	err    error
}

func (f *fakeTokens) Token(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return "", f.err
	}
	if !f.issued {
		f.n++
		f.issued = true
	}
	return fmt.Sprintf("tok-%d", f.n), nil
}

func (f *fakeTokens) Invalidate() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issued = false
}

func (f *fakeTokens) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// xoauth2Server is an in-memory IMAP server offering only AUTHENTICATE
// XOAUTH2, with the tokens valid accepts.
func xoauth2Server(t *testing.T, valid func(token string) bool) *memServer {
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(memUser, memPass)
	user.Create("INBOX", nil)
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &oauthSession{Session: mem.NewSession(), valid: func(u, tok string) bool {
				return u == memUser && valid(tok)
			}}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.Cap("AUTH=XOAUTH2"): {}, imap.CapSASLIR: {}},
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

func TestXOAUTH2(t *testing.T) {
	var mu sync.Mutex
	accept := "tok-1"
	ms := xoauth2Server(t, func(tok string) bool {
		mu.Lock()
		defer mu.Unlock()
		return tok == accept
	})
	c := dialClient(t, ms.addr, memUser, memPass)
	c.append("INBOX", testMessage("oauth@x", "oauth"))

	src := &fakeTokens{}

	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := ms.config(q, cp, log)
	cfg.Password = ""
	cfg.Token = src
	stop := startPoller(t, cfg)
	q.waitUnique(t, 1, 5*time.Second)
	stop()
	// The server starts refusing tok-1 (revoked): the login fails once,
	// the token is dropped, and the next attempt fetches tok-2.
	mu.Lock()
	accept = "tok-2"
	mu.Unlock()
	c.append("INBOX", testMessage("oauth2@x", "oauth"))
	startPoller(t, cfg)
	q.waitUnique(t, 2, 5*time.Second)
	if n := src.count(); n != 2 {
		t.Errorf("%d tokens fetched, want 2", n)
	}
	if s := log.String(); strings.Contains(s, "tok-") {
		t.Errorf("a token in the log:\n%s", s)
	}
}

// The real token source on a SQLite store against a provider that
// rotates refresh tokens: the poller restarts with a new source each
// time, after the server stopped taking the access tokens so far; each
// restart logs in with a token refreshed from the newest stored refresh
// token, and the mail keeps coming.
func TestXOAUTH2RotationAcrossRestarts(t *testing.T) {
	prov := oauthtest.New(t, "seed-1")
	ms := xoauth2Server(t, prov.Valid)
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, err := oauth.ParseKey(strings.Repeat("5a", 32))
	if err != nil {
		t.Fatal(err)
	}
	c := dialClient(t, ms.addr, memUser, memPass)
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	const restarts = 5
	for i := range restarts {
		prov.ExpireAccess()
		c.append("INBOX", testMessage(fmt.Sprintf("rot%d@x", i), "oauth"))
		cfg := ms.config(q, cp, log)
		cfg.Password = ""
		cfg.Token = oauth.New(oauth.Config{
			Mailbox: "support", Flow: oauth.Delegated, TokenURL: prov.URL + "/token", ClientID: oauthtest.ClientID,
			RefreshToken: "seed-1", Store: st, Key: key, Holder: "test",
		})
		stop := startPoller(t, cfg)
		q.waitUnique(t, i+1, 5*time.Second)
		stop()
	}
	if refreshes, reused, _ := prov.Stats(); refreshes != restarts || reused != 0 {
		t.Errorf("%d refreshes, %d spent refresh tokens presented again; want %d, 0", refreshes, reused, restarts)
	}
	if s := log.String(); strings.Contains(s, "at-") || strings.Contains(s, "rt-") {
		t.Errorf("a token in the log:\n%s", s)
	}
}

// A token the source cannot get is a login failure.
func TestTokenSourceFailure(t *testing.T) {
	_, err := loginToken(context.Background(), &fakeTokens{err: errors.New("invalid_grant")})
	if failureState(err) != "login" || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("err = %v, state %q", err, failureState(err))
	}
}
