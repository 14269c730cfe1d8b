package imap

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
)

// TokenSource supplies OAuth2 access tokens for XOAUTH2.
type TokenSource interface {
	// Token returns a valid access token, fetching a new one if needed.
	Token(ctx context.Context) (string, error)
	// Invalidate drops a token the server refused, so that the next Token
	// fetches a fresh one.
	Invalidate()
}

// OAuth2 fetches access tokens from an OAuth2 token endpoint: with the
// refresh-token grant when RefreshToken is set (Gmail, Microsoft 365
// delegated access), else with client credentials (Microsoft 365
// application access). Tokens are cached until a minute before they expire.
type OAuth2 struct {
	TokenURL     string
	ClientID     string
	ClientSecret string
	RefreshToken string
	Scopes       []string
	HTTPClient   *http.Client // default: a client with a 30s timeout

	mu      sync.Mutex
	token   string
	expires time.Time
}

var _ TokenSource = (*OAuth2)(nil)

// Token implements TokenSource.
func (o *OAuth2) Token(ctx context.Context) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.token != "" && time.Now().Before(o.expires) {
		return o.token, nil
	}
	form := url.Values{"client_id": {o.ClientID}}
	if o.ClientSecret != "" {
		form.Set("client_secret", o.ClientSecret)
	}
	if len(o.Scopes) > 0 {
		form.Set("scope", strings.Join(o.Scopes, " "))
	}
	if o.RefreshToken != "" {
		form.Set("grant_type", "refresh_token")
		form.Set("refresh_token", o.RefreshToken)
	} else {
		form.Set("grant_type", "client_credentials")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		// The URL error names the endpoint, never the form's secrets.
		return "", fmt.Errorf("oauth2 token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("oauth2 token: %w", err)
	}
	var t struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &t); err != nil || resp.StatusCode != http.StatusOK || t.AccessToken == "" {
		// error and error_description are meant for clients; the body
		// as a whole might echo a token, so it is not quoted.
		return "", fmt.Errorf("%w: oauth2 token endpoint answered %s: %s %s",
			errLogin, resp.Status, t.Error, t.Description)
	}
	o.token = t.AccessToken
	life := time.Duration(t.ExpiresIn) * time.Second
	if life <= 0 {
		life = time.Hour
	}
	o.expires = time.Now().Add(max(life-time.Minute, life/2))
	return o.token, nil
}

// Invalidate implements TokenSource.
func (o *OAuth2) Invalidate() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.token = ""
}

// xoauth2 is the SASL XOAUTH2 client (Google's and Microsoft's mechanism;
// go-sasl has OAUTHBEARER only).
type xoauth2 struct {
	user, token string
}

var _ sasl.Client = xoauth2{}

func (x xoauth2) Start() (mech string, ir []byte, err error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

// Next answers the server's error challenge (a JSON status) with an empty
// response, after which the server fails the command with NO.
func (x xoauth2) Next(challenge []byte) ([]byte, error) {
	return []byte{}, nil
}
