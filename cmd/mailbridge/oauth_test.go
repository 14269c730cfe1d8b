package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo/mailbridge/config"
	"github.com/enneo/mailbridge/internal/oauth"
	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/store/sqlite"
)

// `mailbridge mailbox authorize NAME` runs the device flow against a fake
// provider (two authorization_pending answers, then tokens) and stores
// the tokens, sealed; without a key it refuses.
func TestMailboxAuthorize(t *testing.T) {
	var polls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/device" && r.PostForm.Get("scope") == "https://outlook.office.com/IMAP.AccessAsUser.All offline_access":
			json.NewEncoder(w).Encode(map[string]any{"device_code": "dc", "user_code": "WXYZ-1234",
				"verification_uri": "https://microsoft.com/devicelogin", "expires_in": 900, "interval": 1})
		case r.URL.Path == "/token" && r.PostForm.Get("device_code") == "dc":
			if polls.Add(1) <= 2 {
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(map[string]string{"error": "authorization_pending"})
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"access_token": "at-secret", "refresh_token": "rt-secret",
				"token_type": "Bearer", "expires_in": 3600})
		default:
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request"})
		}
	}))
	t.Cleanup(srv.Close)
	mailbox := fmt.Sprintf(`mailboxes:
  - name: support
    subchannelId: 4
    host: 127.0.0.1
    username: support@example.com
    auth: xoauth2
    oauth2:
      flow: delegated
      tokenURL: %[1]s/token
      deviceAuthURL: %[1]s/device
      clientId: app
      scopes: [https://outlook.office.com/IMAP.AccessAsUser.All, offline_access]
`, srv.URL)

	noKey := writeConfig(t, mailbox+"oauth2: {allowPlaintextTokens: false}\n")
	// Valid only with a place for the tokens: refused at load.
	if code, _, stderr := run(t, "mailbox", "-c", noKey, "authorize", "support"); code != exitUsage ||
		!strings.Contains(stderr, "oauth2.encryptionKey") {
		t.Errorf("without a key: exit %d, %s", code, stderr)
	}

	path := writeConfig(t, mailbox+"oauth2: {encryptionKey: "+strings.Repeat("0f", 32)+"}\n")
	code, stdout, stderr := run(t, "mailbox", "-c", path, "authorize", "support")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"https://microsoft.com/devicelogin", "WXYZ-1234", "Authorized"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(t.Context(), cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	row, err := st.OAuthToken(t.Context(), "support")
	if err != nil || row.Version != 1 || strings.Contains(string(row.Token), "rt-secret") {
		t.Errorf("stored %+v, %v", row, err)
	}
	if strings.Contains(stdout+stderr, "rt-secret") || strings.Contains(stdout+stderr, "at-secret") {
		t.Error("a token was printed")
	}
}

func TestSecretNotices(t *testing.T) {
	now := time.Date(2027, 6, 1, 12, 0, 0, 0, time.UTC)
	m := config.Mailbox{Name: "support", Auth: "xoauth2"}
	for _, tt := range []struct {
		expires string
		want    string
	}{
		{"2027-08-01", ""},
		{"2027-06-25", "WARN mailbox support: the OAuth2 client secret (oauth2.secretExpires) expires on 2027-06-25, in 23 days"},
		{"2027-06-05", "WARN mailbox support: the OAuth2 client secret (oauth2.secretExpires) expires on 2027-06-05, in 3 days"},
		{"2027-05-30", "ERROR mailbox support: the OAuth2 client secret (oauth2.secretExpires) expired on 2027-05-30"},
	} {
		m.OAuth2.SecretExpires.Time, _ = time.Parse(time.DateOnly, tt.expires)
		var got string
		for _, n := range secretNotices(m, now) {
			got = n.Level.String() + " " + n.Msg
		}
		if !strings.HasPrefix(got, tt.want) || (tt.want == "") != (got == "") {
			t.Errorf("%s: %q, want %q", tt.expires, got, tt.want)
		}
	}
}

// The running watch logs a secret's coming expiry at once, and the
// status page gets it and a revoked grant.
func TestCredentialWatch(t *testing.T) {
	m := config.Mailbox{Name: "support", Auth: "xoauth2"}
	m.OAuth2.SecretExpires.Time = time.Now().Add(5 * 24 * time.Hour)
	log := &testenv.Buffer{}
	src := oauth.New(oauth.Config{Mailbox: "support", Flow: oauth.Delegated, TokenURL: "http://127.0.0.1:1/token"})
	_, _ = src.Token(t.Context()) // no refresh token anywhere: a missing grant
	w := &credentialWatch{m: m, tokens: src, log: slog.New(slog.NewTextHandler(log, nil))}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	testenv.WaitFor(t, 5*time.Second, "the expiry warning", func() bool {
		return strings.Contains(log.String(), "level=WARN") && strings.Contains(log.String(), "in 4 days")
	})
	cancel()
	<-done
	notices := strings.Join(w.notices(time.Now()), "\n")
	for _, want := range []string{"run `mailbridge mailbox authorize support`", "oauth2.secretExpires) expires on"} {
		if !strings.Contains(notices, want) {
			t.Errorf("notices lack %q:\n%s", want, notices)
		}
	}
}
