package imap

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
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

// tokenEndpoint is a fake OAuth2 token endpoint handing out tok-1, tok-2…
type tokenEndpoint struct {
	mu    sync.Mutex
	forms []map[string]string
}

func (e *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	e.mu.Lock()
	f := map[string]string{}
	for k := range r.PostForm {
		f[k] = r.PostForm.Get(k)
	}
	e.forms = append(e.forms, f)
	n := len(e.forms)
	e.mu.Unlock()
	if f["client_id"] != "mailbridge" {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-" + string(rune('0'+n)), "expires_in": 3600, "token_type": "Bearer"})
}

func (e *tokenEndpoint) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.forms)
}

func TestXOAUTH2(t *testing.T) {
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(memUser, memPass)
	user.Create("INBOX", nil)
	mem.AddUser(user)
	var mu sync.Mutex
	accept := "tok-1"
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &oauthSession{Session: mem.NewSession(), valid: func(u, tok string) bool {
				mu.Lock()
				defer mu.Unlock()
				return u == memUser && tok == accept
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
	ms := &memServer{addr: ln.Addr().String(), user: user}
	c := dialClient(t, ms.addr, memUser, memPass)
	c.append("INBOX", testMessage("oauth@x", "oauth"))

	endpoint := &tokenEndpoint{}
	hs := httptest.NewServer(endpoint)
	t.Cleanup(hs.Close)
	src := &OAuth2{TokenURL: hs.URL, ClientID: "mailbridge", RefreshToken: "refresh-secret", Scopes: []string{"a", "b"}}

	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := ms.config(q, cp, log)
	cfg.Password = ""
	cfg.Token = src
	stop := startPoller(t, cfg)
	q.waitUnique(t, 1, 5*time.Second)
	stop()
	endpoint.mu.Lock()
	f := endpoint.forms[0]
	endpoint.mu.Unlock()
	if f["grant_type"] != "refresh_token" || f["refresh_token"] != "refresh-secret" || f["scope"] != "a b" {
		t.Errorf("token request %v", f)
	}

	// The server starts refusing tok-1 (revoked): the login fails once,
	// the token is dropped, and the next attempt fetches tok-2.
	mu.Lock()
	accept = "tok-2"
	mu.Unlock()
	c.append("INBOX", testMessage("oauth2@x", "oauth"))
	startPoller(t, cfg)
	q.waitUnique(t, 2, 5*time.Second)
	if n := endpoint.count(); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
	if s := log.String(); strings.Contains(s, "tok-") || strings.Contains(s, "refresh-secret") {
		t.Errorf("a token in the log:\n%s", s)
	}
}

func TestOAuth2ClientCredentialsAndErrors(t *testing.T) {
	endpoint := &tokenEndpoint{}
	hs := httptest.NewServer(endpoint)
	t.Cleanup(hs.Close)
	src := &OAuth2{TokenURL: hs.URL, ClientID: "mailbridge", ClientSecret: "s3cret"}
	ctx := context.Background()
	tok, err := src.Token(ctx)
	if err != nil || tok != "tok-1" {
		t.Fatalf("Token = %q, %v", tok, err)
	}
	if tok, _ := src.Token(ctx); tok != "tok-1" || endpoint.count() != 1 {
		t.Errorf("cached token not reused: %q after %d requests", tok, endpoint.count())
	}
	if f := endpoint.forms[0]; f["grant_type"] != "client_credentials" || f["client_secret"] != "s3cret" {
		t.Errorf("token request %v", f)
	}
	bad := &OAuth2{TokenURL: hs.URL, ClientID: "other", ClientSecret: "s3cret"}
	_, err = bad.Token(ctx)
	if err == nil || !strings.Contains(err.Error(), "invalid_client") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("err = %v", err)
	}
	if failureState(err) != "login" {
		t.Errorf("a refused token request is not a login failure: %v", err)
	}
}
