package oauth

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/enneo/mailbridge/internal/oauth/oauthtest"
	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/store/postgres"
	"github.com/enneo/mailbridge/store/sqlite"
)

// clock is a test clock shared by sources: moving it past a token's
// expiry makes every source need a new one.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// observed records what a source reports.
type observed struct {
	mu        sync.Mutex
	refreshed int
	expiry    time.Time
	failed    map[string]int
	revoked   bool
}

func (o *observed) Refreshed(string, time.Time)  { o.mu.Lock(); o.refreshed++; o.mu.Unlock() }
func (o *observed) Expiry(_ string, t time.Time) { o.mu.Lock(); o.expiry = t; o.mu.Unlock() }
func (o *observed) Failed(_ string, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failed == nil {
		o.failed = map[string]int{}
	}
	o.failed[reason]++
}
func (o *observed) Revoked(_ string, r bool) { o.mu.Lock(); o.revoked = r; o.mu.Unlock() }

func testKey(t *testing.T) *Key {
	t.Helper()
	k, err := ParseKey(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// stores opens one database twice per store kind, as two instances
// would: SQLite files, PostgreSQL schemas (when PostgreSQL is there).
func stores(t *testing.T) map[string]func(t *testing.T) (Store, Store) {
	return map[string]func(t *testing.T) (Store, Store){
		"sqlite": func(t *testing.T) (Store, Store) {
			path := filepath.Join(t.TempDir(), "q.db")
			open := func() Store {
				s, err := sqlite.Open(t.Context(), path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			return open(), open()
		},
		"postgres": func(t *testing.T) (Store, Store) {
			dsn := testenv.UsePostgres(t).Schema(t, "oauth")
			open := func() Store {
				s, err := postgres.Open(t.Context(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			return open(), open()
		},
	}
}

func testConfig(p *oauthtest.Provider, mailbox string, st Store, k *Key, holder string, c *clock, log *slog.Logger, o Observer) Config {
	return Config{
		Mailbox: mailbox, Flow: Delegated, TokenURL: p.URL + "/token", DeviceAuthURL: p.URL + "/device",
		ClientID: oauthtest.ClientID, Scopes: []string{"https://outlook.office.com/IMAP.AccessAsUser.All", "offline_access"},
		RefreshToken: "seed-1", Store: st, Key: k, Holder: holder, Log: log, Observer: o, now: c.now,
	}
}

// Two instances on one store, each restarting now and then, refresh a
// rotating grant a hundred times, at the same moments: each rotation is
// one refresh by one of them, the other takes its token, and no refresh
// token is ever spent twice.
func TestRotationAcrossInstancesAndRestarts(t *testing.T) {
	for kind, open := range stores(t) {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			p := oauthtest.New(t, "seed-1")
			st1, st2 := open(t)
			c, k, log := newClock(), testKey(t), &testenv.Buffer{}
			logger := slog.New(slog.NewTextHandler(log, nil))
			a := New(testConfig(p, "support", st1, k, "instance-a", c, logger, nil))
			b := New(testConfig(p, "support", st2, k, "instance-b", c, logger, nil))
			ctx := t.Context()
			const rotations = 100
			for i := range rotations {
				c.advance(2 * time.Hour) // both tokens expired
				if i%10 == 9 {
					// A restart: nothing in memory, the store has it all.
					a = New(testConfig(p, "support", st1, k, "instance-a", c, logger, nil))
				}
				var ta, tb string
				var ea, eb error
				var wg sync.WaitGroup
				wg.Go(func() { ta, ea = a.Token(ctx) })
				wg.Go(func() { tb, eb = b.Token(ctx) })
				wg.Wait()
				_, _, newest := p.Stats()
				if ea != nil || eb != nil || ta != newest || tb != newest {
					t.Fatalf("rotation %d: a %q %v, b %q %v; newest %q\n%s", i, ta, ea, tb, eb, newest, log)
				}
			}
			refreshes, reused, _ := p.Stats()
			if refreshes != rotations || reused != 0 {
				t.Errorf("%d refreshes, %d spent refresh tokens presented again; want %d, 0", refreshes, reused, rotations)
			}
			// Sealed at rest: no token in clear in the store.
			row, err := st1.OAuthToken(ctx, "support")
			if err != nil || row.Version == 0 || bytes.Contains(row.Token, []byte("rt-")) || bytes.Contains(row.Token, []byte("at-")) {
				t.Errorf("stored row %+v, %v", row, err)
			}
			if strings.Contains(log.String(), "rt-") || strings.Contains(log.String(), "level=ERROR") {
				t.Errorf("log:\n%s", log)
			}
		})
	}
}

// An operator pasting a new refresh token into the configuration wins
// over the older stored one, once: after that the stored successor is
// used again.
func TestConfiguredRefreshTokenWins(t *testing.T) {
	p := oauthtest.New(t, "seed-1", "seed-2")
	st, _ := stores(t)["sqlite"](t)
	c, k := newClock(), testKey(t)
	cfg := testConfig(p, "support", st, k, "a", c, nil, nil)
	ctx := t.Context()
	if _, err := New(cfg).Token(ctx); err != nil {
		t.Fatal(err)
	}
	cfg.RefreshToken = "seed-2"
	c.advance(2 * time.Hour)
	if _, err := New(cfg).Token(ctx); err != nil {
		t.Fatal(err)
	}
	if f := p.LastForm(); f["refresh_token"] != "seed-2" || f["scope"] != strings.Join(cfg.Scopes, " ") {
		t.Errorf("after a new seed: %v", f)
	}
	c.advance(2 * time.Hour)
	if _, err := New(cfg).Token(ctx); err != nil {
		t.Fatal(err)
	}
	if f := p.LastForm(); f["refresh_token"] == "seed-2" {
		t.Errorf("the spent seed was sent again: %v", f)
	}
}

// A revoked grant is an error naming the mailbox and the command that
// fixes it, logged once at error level, with the metric set; the device
// flow then stores a new grant, which the running source picks up.
func TestRevokedThenAuthorized(t *testing.T) {
	p := oauthtest.New(t, "seed-1")
	st, st2 := stores(t)["sqlite"](t)
	c, k, log, o := newClock(), testKey(t), &testenv.Buffer{}, &observed{}
	src := New(testConfig(p, "support", st, k, "a", c, slog.New(slog.NewTextHandler(log, nil)), o))
	ctx := t.Context()
	if _, err := src.Token(ctx); err != nil {
		t.Fatal(err)
	}
	p.Revoke()
	for range 3 {
		c.advance(2 * time.Hour)
		_, err := src.Token(ctx)
		if !errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), "mailbridge mailbox authorize support") {
			t.Fatalf("err = %v", err)
		}
	}
	if n := strings.Count(log.String(), "level=ERROR"); n != 1 || !strings.Contains(log.String(), "mailbox=support") ||
		!strings.Contains(log.String(), `fix="mailbridge mailbox authorize support"`) {
		t.Errorf("%d error lines:\n%s", n, log)
	}
	if !o.revoked || o.failed["invalid_grant"] != 3 || !src.Revoked() {
		t.Errorf("observed %+v", o)
	}

	// mailbridge mailbox authorize support, as another process.
	p.SetPending(2)
	var out bytes.Buffer
	acfg := testConfig(p, "support", st2, k, "", c, nil, nil)
	if err := Authorize(ctx, acfg, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "https://example.test/device") || !strings.Contains(out.String(), "ABCD-EFGH") {
		t.Errorf("authorize printed:\n%s", out.String())
	}
	if n := p.DevicePolls(); n != 3 {
		t.Errorf("%d device token polls, want 3 (2 pending)", n)
	}
	tok, err := src.Token(ctx)
	if _, _, newest := p.Stats(); err != nil || tok != newest {
		t.Fatalf("after authorize: %q, %v; want %q", tok, err, newest)
	}
	c.advance(2 * time.Hour)
	if _, err := src.Token(ctx); err != nil {
		t.Fatalf("refresh of the authorized grant: %v", err)
	}
	if o.revoked || src.Revoked() {
		t.Error("still revoked after a new grant")
	}
}

// Without a refresh token stored or configured, the error says to
// authorize.
func TestNoGrant(t *testing.T) {
	p := oauthtest.New(t)
	st, _ := stores(t)["sqlite"](t)
	cfg := testConfig(p, "sales", st, testKey(t), "a", newClock(), nil, nil)
	cfg.RefreshToken = ""
	_, err := New(cfg).Token(t.Context())
	if err == nil || !strings.Contains(err.Error(), "mailbridge mailbox authorize sales") {
		t.Errorf("err = %v", err)
	}
}

// Without a store the rotated refresh token is kept in memory.
func TestRotationInMemory(t *testing.T) {
	p := oauthtest.New(t, "seed-1")
	c := newClock()
	src := New(testConfig(p, "support", nil, nil, "", c, nil, nil))
	for range 3 {
		c.advance(2 * time.Hour)
		if _, err := src.Token(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if refreshes, reused, _ := p.Stats(); refreshes != 3 || reused != 0 {
		t.Errorf("%d refreshes, %d reused", refreshes, reused)
	}
}

// A token the server refuses is not handed out again, even though it
// has not expired.
func TestInvalidate(t *testing.T) {
	p := oauthtest.New(t, "seed-1")
	st, _ := stores(t)["sqlite"](t)
	src := New(testConfig(p, "support", st, testKey(t), "a", newClock(), nil, nil))
	first, err := src.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	src.Invalidate()
	second, err := src.Token(t.Context())
	if err != nil || second == first {
		t.Errorf("after Invalidate: %q, %v (first %q)", second, err, first)
	}
}

// Application access with a certificate: the endpoint gets an RS256
// client assertion it verifies with the certificate's public key, and
// no secret.
func TestClientAssertion(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailbridge"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "app.crt"), filepath.Join(dir, "app.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	cert, err := LoadCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.NotAfter.Equal(tmpl.NotAfter.Truncate(time.Second)) {
		t.Errorf("NotAfter %v, want %v", cert.NotAfter, tmpl.NotAfter)
	}

	p := oauthtest.New(t)
	p.RequireAssertion(&key.PublicKey)
	o := &observed{}
	src := New(Config{Mailbox: "app", Flow: Application, TokenURL: p.URL + "/token", ClientID: oauthtest.ClientID,
		ClientSecret: "ignored", Certificate: cert, Scopes: []string{"https://outlook.office365.com/.default"}, Observer: o})
	tok, err := src.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f := p.LastForm()
	if tok == "" || f["grant_type"] != "client_credentials" || f["client_secret"] != "" ||
		f["scope"] != "https://outlook.office365.com/.default" {
		t.Errorf("token %q, form %v", tok, f)
	}
	parsed, _, err := jwt.NewParser().ParseUnverified(f["client_assertion"], &jwt.RegisteredClaims{})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(der)
	if x5t := parsed.Header["x5t"]; x5t != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Errorf("x5t %v", x5t)
	}
	if o.refreshed != 1 || o.expiry.IsZero() {
		t.Errorf("observed %+v", o)
	}

	// A certificate the application does not know: invalid_client, not
	// a revoked grant.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	p.RequireAssertion(&other.PublicKey)
	src.Invalidate()
	if _, err := src.Token(t.Context()); err == nil || errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("err = %v", err)
	}
}

func TestClientSecret(t *testing.T) {
	p := oauthtest.New(t)
	p.RequireSecret("s3cret")
	src := New(Config{Mailbox: "app", Flow: Application, TokenURL: p.URL + "/token", ClientID: oauthtest.ClientID, ClientSecret: "s3cret"})
	if _, err := src.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	if tok, _ := src.Token(t.Context()); tok != "at-1" {
		t.Errorf("cached token not reused: %q", tok)
	}
	bad := New(Config{Mailbox: "app", Flow: Application, TokenURL: p.URL + "/token", ClientID: oauthtest.ClientID, ClientSecret: "wrong"})
	if _, err := bad.Token(t.Context()); err == nil || strings.Contains(err.Error(), "wrong") || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("err = %v", err)
	}
}

func TestSeal(t *testing.T) {
	k1 := testKey(t)
	k2, err := ParseKey(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	tok := storedToken{AccessToken: "at", RefreshToken: "rt", Expiry: time.Unix(1e9, 0)}.oauth2()
	b, err := seal(k1, "m", tok)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := unseal(k1, "m", b); err != nil || got.RefreshToken != "rt" || !got.Expiry.Equal(tok.Expiry) {
		t.Errorf("unseal = %+v, %v", got, err)
	}
	if _, err := unseal(k2, "m", b); !errors.Is(err, errWrongKey) {
		t.Errorf("other key: %v", err)
	}
	if _, err := unseal(k1, "other", b); err == nil {
		t.Error("opened under another mailbox")
	}
	if _, err := unseal(nil, "m", b); err == nil {
		t.Error("opened without a key")
	}
	clear, _ := seal(nil, "m", tok)
	if got, err := unseal(k1, "m", clear); err != nil || got.RefreshToken != "rt" {
		t.Errorf("clear token: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "short", base64.StdEncoding.EncodeToString(make([]byte, 16))} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}

// The code flow for Google: the user opens the printed address, and
// pastes the address the browser was sent to; the code is exchanged with
// the PKCE verifier and the tokens stored.
func TestAuthorizeInBrowser(t *testing.T) {
	p := oauthtest.New(t)
	st, _ := stores(t)["sqlite"](t)
	cfg := testConfig(p, "gmail", st, testKey(t), "", newClock(), nil, nil)
	cfg.Scopes = []string{"https://mail.google.com/"}
	pr, pw := io.Pipe()
	out := &testenv.Buffer{}
	done := make(chan error, 1)
	go func() { done <- AuthorizeInBrowser(t.Context(), cfg, "https://accounts.example.test/auth", pr, out) }()
	var auth *url.URL
	testenv.WaitFor(t, 5*time.Second, "the sign-in address", func() bool {
		for line := range strings.Lines(out.String()) {
			if u, err := url.Parse(strings.TrimSpace(line)); err == nil && u.Host == "accounts.example.test" {
				auth = u
				return true
			}
		}
		return false
	})
	q := auth.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("access_type") != "offline" || q.Get("scope") != "https://mail.google.com/" ||
		!strings.HasPrefix(q.Get("redirect_uri"), "http://127.0.0.1:") {
		t.Fatalf("sign-in address %s", auth)
	}
	p.SetChallenge(q.Get("code_challenge"))
	fmt.Fprintf(pw, "not an address\n%s?state=%s&code=code-1&scope=x\n", q.Get("redirect_uri"), q.Get("state"))
	if err := <-done; err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "paste it again") || !strings.Contains(out.String(), "Authorized") {
		t.Errorf("output:\n%s", out)
	}
	tok, err := New(cfg).Token(t.Context())
	if _, _, newest := p.Stats(); err != nil || tok != newest {
		t.Errorf("Token after authorize: %q, %v; want %q", tok, err, newest)
	}
}
