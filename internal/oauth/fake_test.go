package oauth

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

// provider is a fake OAuth2 provider: a token endpoint that rotates
// refresh tokens and refuses a spent one with invalid_grant, as Microsoft
// and careful providers do, and a device authorization endpoint.
type provider struct {
	*httptest.Server
	clientID string
	secret   string         // client secret; "" accepts none
	pubKey   *rsa.PublicKey // when set, a client assertion is required

	mu          sync.Mutex
	n           int
	live        map[string]bool // refresh tokens: true until spent or revoked
	access      string          // the newest access token
	refreshes   int
	reused      int // spent refresh tokens presented again
	forms       []map[string]string
	pending     int // device flow: authorization_pending answers left
	devicePolls int
	challenge   string // code flow: the PKCE challenge of the sign-in
}

func newProvider(t *testing.T, seed string) *provider {
	p := &provider{clientID: "mailbridge", live: map[string]bool{}}
	if seed != "" {
		p.live[seed] = true
	}
	p.Server = httptest.NewServer(p)
	t.Cleanup(p.Close)
	return p
}

func (p *provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
		if f["client_id"] != p.clientID {
			fail("invalid_client", 401)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"device_code": "dev-1", "user_code": "ABCD-EFGH",
			"verification_uri": "https://example.test/device", "expires_in": 600, "interval": 1})
		return
	}
	if f["client_id"] != p.clientID || (p.secret != "" && f["client_secret"] != p.secret) {
		fail("invalid_client", 401)
		return
	}
	if p.pubKey != nil && !p.validAssertion(f) {
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
	p.access = fmt.Sprintf("at-%d", p.n)
	answer := map[string]any{"access_token": p.access, "token_type": "Bearer", "expires_in": 3600}
	if f["grant_type"] != "client_credentials" {
		rt := fmt.Sprintf("rt-%d", p.n)
		p.live[rt] = true
		answer["refresh_token"] = rt
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(answer)
}

// validAssertion checks an RFC 7523 client assertion against the public
// key: RS256, audience the token endpoint, issuer and subject the client.
func (p *provider) validAssertion(f map[string]string) bool {
	if f["client_assertion_type"] != assertionType {
		return false
	}
	tok, err := jwt.ParseWithClaims(f["client_assertion"], &jwt.RegisteredClaims{}, func(*jwt.Token) (any, error) {
		return p.pubKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(p.URL+"/token"), jwt.WithIssuer(p.clientID),
		jwt.WithSubject(p.clientID), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		return false
	}
	c := tok.Claims.(*jwt.RegisteredClaims)
	_, hasX5t := tok.Header["x5t"]
	return c.ID != "" && hasX5t
}

// revoke refuses every refresh token issued so far.
func (p *provider) revoke() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for rt := range p.live {
		p.live[rt] = false
	}
}

func (p *provider) stats() (refreshes, reused int, access string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refreshes, p.reused, p.access
}

func (p *provider) lastForm() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.forms[len(p.forms)-1]
}
