package imap

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/oauth"
	"github.com/enneo/mailbridge/internal/testenv"
)

type expiryObserver struct {
	mu               sync.Mutex
	expiry           time.Time
	requests, failed int
	revoked          bool
}

func (o *expiryObserver) Refreshed(string, time.Time)  { o.mu.Lock(); o.requests++; o.mu.Unlock() }
func (o *expiryObserver) Expiry(_ string, t time.Time) { o.mu.Lock(); o.expiry = t; o.mu.Unlock() }
func (o *expiryObserver) Failed(string, string)        { o.mu.Lock(); o.failed++; o.mu.Unlock() }
func (o *expiryObserver) Revoked(_ string, r bool)     { o.mu.Lock(); o.revoked = r; o.mu.Unlock() }

// The access token is asked for only when a connection logs in, and a
// healthy session outlives its token (IMAP does not end a session when
// the token it logged in with expires; Dovecot and Gmail keep it). Such a
// session reports no refresh failure and no revoked grant -- what the
// OAuth2 alerts rely on (admin's TestAlertRules keeps them off the token's
// expiry, which passes here while the folder syncs).
func TestHealthySessionPastTokenExpiryReportsNoTokenTrouble(t *testing.T) {
	tokenEndpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at-1", "token_type": "Bearer", "expires_in": 2})
	}))
	t.Cleanup(tokenEndpoint.Close)
	ms := xoauth2Server(t, func(tok string) bool { return tok == "at-1" })
	obs := &expiryObserver{}
	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := ms.config(q, cp, log)
	cfg.Password = ""
	cfg.Token = oauth.New(oauth.Config{Mailbox: "support", Flow: oauth.Application, TokenURL: tokenEndpoint.URL,
		ClientID: "c", ClientSecret: "s", Observer: obs})
	p, _ := startPollerP(t, cfg)
	testenv.WaitFor(t, 5*time.Second, "connected", func() bool { return !p.Status().LastPoll.IsZero() })
	first := p.Status().LastPoll
	// Wait until the token has expired and the folder synced since.
	testenv.WaitFor(t, 10*time.Second, "a sync after the token expired", func() bool {
		obs.mu.Lock()
		exp := obs.expiry
		obs.mu.Unlock()
		return p.Status().LastPoll.After(exp.Add(time.Second))
	})
	obs.mu.Lock()
	defer obs.mu.Unlock()
	st := p.Status()
	t.Logf("token requests %d, gauge expiry %s, last sync %s (first %s), session errors %d",
		obs.requests, obs.expiry.Format(time.TimeOnly+".000"), st.LastPoll.Format(time.TimeOnly+".000"),
		first.Format(time.TimeOnly+".000"), st.Errors)
	if st.Errors != 0 || obs.failed != 0 || obs.revoked {
		t.Errorf("a healthy session past its token's expiry: %d session errors, %d token failures, revoked %v",
			st.Errors, obs.failed, obs.revoked)
	}
}
