// Package oauthtest is a fake OAuth2 provider for tests: a token endpoint
// that rotates refresh tokens and refuses a spent one with invalid_grant,
// as Microsoft and careful providers do, a device authorization endpoint,
// and the authorization code grant with PKCE.
package oauthtest

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// ClientID is the client the provider knows.
const ClientID = "mailbridge"

// Provider is the fake provider. Its token endpoint is URL+"/token", its
// device endpoint URL+"/device".
type Provider struct {
	*httptest.Server

	mu     sync.Mutex
	secret string         // client secret; "" accepts none
	pubKey *rsa.PublicKey // when set, a client assertion is required
	n      int
	live   map[string]bool // refresh tokens: true until spent or revoked
	valid  map[string]bool // access tokens the mail server accepts
	newest string          // the newest access token
	// refreshes counts refresh grants; reused counts spent refresh
	// tokens presented again.
	refreshes, reused int
	forms             []map[string]string
	pending           int    // device flow: authorization_pending answers left
	devicePolls       int    // device flow: token requests
	challenge         string // code flow: the PKCE challenge of the sign-in
}

// New starts a provider that accepts the refresh tokens seeds.
func New(t testing.TB, seeds ...string) *Provider {
	p := &Provider{live: map[string]bool{}, valid: map[string]bool{}}
	for _, s := range seeds {
		p.live[s] = true
	}
	p.Server = httptest.NewServer(p)
	t.Cleanup(p.Close)
	return p
}

// RequireSecret makes the token endpoint require the client secret s.
func (p *Provider) RequireSecret(s string) { p.mu.Lock(); p.secret = s; p.mu.Unlock() }

// RequireAssertion makes the token endpoint require an RS256 client
// assertion (RFC 7523) signed with the key of k.
func (p *Provider) RequireAssertion(k *rsa.PublicKey) { p.mu.Lock(); p.pubKey = k; p.mu.Unlock() }

// SetPending makes the device flow answer authorization_pending n times.
func (p *Provider) SetPending(n int) { p.mu.Lock(); p.pending = n; p.mu.Unlock() }

// SetChallenge records the PKCE challenge of a code-flow sign-in.
func (p *Provider) SetChallenge(c string) { p.mu.Lock(); p.challenge = c; p.mu.Unlock() }

func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	f := map[string]string{}
	for k := range r.PostForm {
		f[k] = r.PostForm.Get(k)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forms = append(p.forms, f)
	fail := func(code string, status int) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": "fake: " + code})
	}
	if r.URL.Path == "/device" {
		if f["client_id"] != ClientID {
			fail("invalid_client", 401)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"device_code": "dev-1", "user_code": "ABCD-EFGH",
			"verification_uri": "https://example.test/device", "expires_in": 600, "interval": 1})
		return
	}
	if f["client_id"] != ClientID || (p.secret != "" && f["client_secret"] != p.secret) ||
		(p.pubKey != nil && !p.validAssertion(f)) {
		fail("invalid_client", 401)
		return
	}
	switch f["grant_type"] {
	case "refresh_token":
		rt := f["refresh_token"]
		live, known := p.live[rt]
		if !live {
			if known {
				p.reused++
			}
			fail("invalid_grant", 400)
			return
		}
		p.live[rt] = false
		p.refreshes++
	case "client_credentials":
	case "authorization_code":
		sum := sha256.Sum256([]byte(f["code_verifier"]))
		if f["code"] != "code-1" || base64.RawURLEncoding.EncodeToString(sum[:]) != p.challenge {
			fail("invalid_grant", 400)
			return
		}
	case "urn:ietf:params:oauth:grant-type:device_code":
		p.devicePolls++
		if f["device_code"] != "dev-1" {
			fail("invalid_grant", 400)
			return
		}
		if p.pending > 0 {
			p.pending--
			fail("authorization_pending", 400)
			return
		}
	default:
		fail("unsupported_grant_type", 400)
		return
	}
	p.n++
	p.newest = fmt.Sprintf("at-%d", p.n)
	p.valid[p.newest] = true
	answer := map[string]any{"access_token": p.newest, "token_type": "Bearer", "expires_in": 3600}
	if f["grant_type"] != "client_credentials" {
		rt := fmt.Sprintf("rt-%d", p.n)
		p.live[rt] = true
		answer["refresh_token"] = rt
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(answer)
}

// validAssertion checks an RFC 7523 client assertion against the public
// key: RS256, audience the token endpoint, issuer and subject the
// client, an id, and the certificate's thumbprint in x5t.
func (p *Provider) validAssertion(f map[string]string) bool {
	if f["client_assertion_type"] != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		return false
	}
	tok, err := jwt.ParseWithClaims(f["client_assertion"], &jwt.RegisteredClaims{}, func(*jwt.Token) (any, error) {
		return p.pubKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(p.URL+"/token"), jwt.WithIssuer(ClientID),
		jwt.WithSubject(ClientID), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		return false
	}
	_, hasX5t := tok.Header["x5t"]
	return tok.Claims.(*jwt.RegisteredClaims).ID != "" && hasX5t
}

// Revoke refuses every refresh token issued so far.
func (p *Provider) Revoke() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for rt := range p.live {
		p.live[rt] = false
	}
}

// ExpireAccess makes the mail server refuse every access token issued so
// far, as it does once they expire.
func (p *Provider) ExpireAccess() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.valid)
}

// Valid reports whether the mail server accepts the access token.
func (p *Provider) Valid(access string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.valid[access]
}

// Stats are the refresh grants answered, the spent refresh tokens
// presented again, and the newest access token.
func (p *Provider) Stats() (refreshes, reused int, newest string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refreshes, p.reused, p.newest
}

// DevicePolls counts the device flow's token requests.
func (p *Provider) DevicePolls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.devicePolls
}

// LastForm is the form of the last request.
func (p *Provider) LastForm() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.forms[len(p.forms)-1]
}
