// Package oauth gets the OAuth2 access tokens IMAP mailboxes log in with
// (XOAUTH2): with a user's refresh token (Gmail, Microsoft 365 delegated
// access) or with client credentials, a secret or a certificate
// (Microsoft 365 application access). Refresh tokens that the provider
// rotates are kept in the store, sealed, for every instance and restart;
// one instance at a time spends them. Authorize obtains the first one
// with the device authorization grant.
package oauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/enneo/mailbridge/store"
)

// Flow is how a mailbox gets its tokens.
type Flow string

const (
	// Delegated: a user's grant, renewed with refresh tokens.
	Delegated Flow = "delegated"
	// Application: the application's own credentials (client credentials
	// grant), with a client secret or a certificate.
	Application Flow = "application"
)

// Store keeps delegated mailboxes' tokens (store.OAuthTokens).
type Store interface {
	OAuthToken(ctx context.Context, mailbox string) (store.OAuthToken, error)
	LockOAuthToken(ctx context.Context, mailbox, holder string, ttl time.Duration) (store.OAuthToken, bool, error)
	PutOAuthToken(ctx context.Context, mailbox string, version int64, token, seedHash []byte, holder string) (bool, error)
	UnlockOAuthToken(ctx context.Context, mailbox, holder string) error
}

// Observer hears what happens to a mailbox's tokens (metrics).
type Observer interface {
	// Refreshed: a token was fetched from the token endpoint at at.
	Refreshed(mailbox string, at time.Time)
	// Expiry: the access token in use expires at t.
	Expiry(mailbox string, t time.Time)
	// Failed: a token request failed; reason is the endpoint's error code
	// (invalid_grant, invalid_client…), "unreachable", "store" or
	// "no_grant".
	Failed(mailbox, reason string)
	// Revoked: the grant is gone (true) until a new one works (false).
	Revoked(mailbox string, revoked bool)
}

// Config is one mailbox's token source.
type Config struct {
	Mailbox       string // names the mailbox in logs, errors and the store
	Flow          Flow
	TokenURL      string
	DeviceAuthURL string // for Authorize
	ClientID      string
	ClientSecret  string
	// Certificate, for the application flow, signs a client assertion
	// (RFC 7523) instead of sending ClientSecret.
	Certificate *Certificate
	Scopes      []string
	// RefreshToken is the configured one (delegated flow). The store's
	// newest wins over it unless it changed since that was stored.
	RefreshToken string
	// Store keeps the rotated refresh tokens; nil keeps them in memory
	// only, lost at a restart.
	Store Store
	// Key seals the tokens in the store; nil stores them in clear (the
	// caller decides whether that is allowed).
	Key *Key
	// Holder names this instance in the store's refresh lock.
	Holder     string
	HTTPClient *http.Client // default: 30s timeout
	Observer   Observer     // may be nil
	Log        *slog.Logger // may be nil

	now func() time.Time // tests move the clock
}

const (
	// expiryMargin: an access token is renewed this long before it expires.
	expiryMargin = time.Minute
	// defaultLifetime is assumed when the endpoint gives no expires_in.
	defaultLifetime = time.Hour
	// lockTTL bounds one refresh under the store's lock; the request's
	// timeout is well inside it.
	lockTTL = time.Minute
	// lockWait is how long a Token waits for another instance's refresh.
	lockWait = 2 * time.Minute
	// lockPoll is how often a waiting Token looks again.
	lockPoll = 100 * time.Millisecond
)

// Source hands out access tokens for one mailbox; its Token and
// Invalidate make it an imap.TokenSource. Safe for concurrent use: the
// folders of a mailbox share one.
type Source struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	tok     *oauth2.Token // the access token in use
	refused string        // an access token the server refused
	refresh string        // without a store: the newest refresh token
	// unstored is a rotated refresh token the store failed to take, and
	// the stored version it succeeds.
	unstored struct {
		version int64
		rt      string
	}
	failing bool // the last request failed
	// revoked is read without mu: the status page and /metrics ask for
	// it while Token may hold mu through a slow token request.
	revoked atomic.Bool
}

// New returns the token source cfg describes.
func New(cfg Config) *Source {
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg, log: log.With("mailbox", cfg.Mailbox)}
}

// Token returns a valid access token, fetching one when the one in use
// is about to expire: from the store when another instance refreshed it,
// else from the token endpoint.
func (s *Source) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.usable(s.tok) {
		return s.tok.AccessToken, nil
	}
	var tok *oauth2.Token
	var err error
	switch {
	case s.cfg.Flow == Application:
		tok, err = s.request(ctx, url.Values{})
	case s.cfg.Store == nil:
		tok, err = s.refreshInMemory(ctx)
	default:
		tok, err = s.refreshShared(ctx)
	}
	if err != nil {
		s.failed(err)
		return "", err
	}
	if s.failing || s.revoked.Load() {
		s.log.Info("oauth2 token obtained again")
	}
	s.failing = false
	s.setRevoked(false)
	s.tok = tok
	s.cfg.Observer.Expiry(s.cfg.Mailbox, tok.Expiry)
	return tok.AccessToken, nil
}

// Invalidate drops the access token the server refused, so that the
// next Token gets another one.
func (s *Source) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil {
		s.refused = s.tok.AccessToken
	}
	s.tok = nil
}

// Revoked reports whether the mailbox's grant was found revoked and no
// new one has worked since.
func (s *Source) Revoked() bool {
	return s.revoked.Load()
}

func (s *Source) usable(t *oauth2.Token) bool {
	return t != nil && t.AccessToken != "" && t.AccessToken != s.refused &&
		s.cfg.now().Before(t.Expiry.Add(-expiryMargin))
}

// failed logs a failed token request: a revoked grant at error level,
// once, naming the command that fixes it; other failures once per streak
// (the poller logs its login failures too).
func (s *Source) failed(err error) {
	reason := "unreachable"
	var te *Error
	if errors.As(err, &te) {
		reason = te.reason()
	}
	switch {
	case errors.Is(err, errNoGrant):
		reason = "no_grant"
	case errors.Is(err, errStore):
		reason = "store"
	case errors.Is(err, errUnreadable):
		reason = "unreadable"
	}
	s.cfg.Observer.Failed(s.cfg.Mailbox, reason)
	if errors.Is(err, ErrRevoked) || errors.Is(err, errNoGrant) || errors.Is(err, errUnreadable) {
		if !s.revoked.Load() {
			s.log.Error("OAUTH2 GRANT MISSING, REVOKED OR EXPIRED: the mailbox cannot log in until it is authorized again",
				"fix", "mailbridge mailbox authorize "+s.cfg.Mailbox, "err", err)
		}
		s.setRevoked(true)
		return
	}
	if !s.failing {
		s.log.Warn("oauth2 token request failed", "err", err)
	}
	s.failing = true
}

func (s *Source) setRevoked(r bool) {
	if s.revoked.Load() != r || r {
		s.cfg.Observer.Revoked(s.cfg.Mailbox, r)
	}
	s.revoked.Store(r)
}

// request asks the token endpoint for a token: client credentials, or
// the grant params name. Every grant goes through clientcredentials,
// which lets params override grant_type: oauth2.Config's own refresh
// sends no scope, and Microsoft's endpoint expects one on a refresh.
func (s *Source) request(ctx context.Context, params url.Values) (*oauth2.Token, error) {
	now := s.cfg.now()
	cc := clientcredentials.Config{
		ClientID: s.cfg.ClientID, ClientSecret: s.cfg.ClientSecret, TokenURL: s.cfg.TokenURL,
		Scopes: s.cfg.Scopes, EndpointParams: params, AuthStyle: oauth2.AuthStyleInParams,
	}
	if c := s.cfg.Certificate; c != nil {
		a, err := c.assertion(s.cfg.ClientID, s.cfg.TokenURL, now)
		if err != nil {
			return nil, fmt.Errorf("mailbox %s: client assertion: %w", s.cfg.Mailbox, err)
		}
		params.Set("client_assertion_type", assertionType)
		params.Set("client_assertion", a)
		cc.ClientSecret = ""
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, s.cfg.HTTPClient)
	t, err := cc.Token(ctx)
	if err != nil {
		return nil, s.classify(err)
	}
	s.cfg.Observer.Refreshed(s.cfg.Mailbox, now)
	// Expiry counted from the request on this source's clock.
	switch life := expiresIn(t); {
	case life > 0:
		t.Expiry = now.Add(life)
	case t.Expiry.IsZero():
		t.Expiry = now.Add(defaultLifetime)
	}
	return t, nil
}

// expiresIn is the answer's expires_in, 0 if none.
func expiresIn(t *oauth2.Token) time.Duration {
	var secs float64
	switch v := t.Extra("expires_in").(type) {
	case float64:
		secs = v
	case string:
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0
		}
		secs = n
	}
	return time.Duration(secs * float64(time.Second))
}

func refreshParams(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
}

// refreshInMemory is the refresh grant without a store: the rotated
// refresh token lives as long as the process.
func (s *Source) refreshInMemory(ctx context.Context) (*oauth2.Token, error) {
	rt := s.refresh
	if rt == "" {
		rt = s.cfg.RefreshToken
	}
	if rt == "" {
		return nil, s.noGrant()
	}
	t, err := s.request(context.WithoutCancel(ctx), refreshParams(rt))
	if err != nil {
		return nil, err
	}
	if t.RefreshToken != "" {
		s.refresh = t.RefreshToken
	}
	return t, nil
}

// refreshShared is the refresh grant on the store: the newest stored
// token, spent under the store's refresh lock, its successor stored
// before the lock is released. An instance that finds the lock taken
// waits for the holder's token.
func (s *Source) refreshShared(ctx context.Context) (*oauth2.Token, error) {
	row, err := s.cfg.Store.OAuthToken(ctx, s.cfg.Mailbox)
	if err != nil {
		return nil, s.storeErr(err)
	}
	if t := s.adoptable(row); t != nil {
		return t, nil
	}
	deadline := s.cfg.now().Add(lockWait)
	for {
		row, locked, err := s.cfg.Store.LockOAuthToken(ctx, s.cfg.Mailbox, s.cfg.Holder, lockTTL)
		if err != nil {
			return nil, s.storeErr(err)
		}
		if locked {
			t, err := s.refreshLocked(ctx, row)
			if err != nil {
				if uerr := s.cfg.Store.UnlockOAuthToken(context.WithoutCancel(ctx), s.cfg.Mailbox, s.cfg.Holder); uerr != nil {
					s.log.Warn("oauth2 refresh lock not released; it expires by itself", "err", uerr)
				}
			}
			return t, err
		}
		if t := s.adoptable(row); t != nil {
			return t, nil
		}
		if s.cfg.now().After(deadline) {
			return nil, fmt.Errorf("mailbox %s: another instance holds the oauth2 refresh lock and stored no token", s.cfg.Mailbox)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(lockPoll):
		}
	}
}

// adoptable is the stored access token, if it descends from the
// configured seed and is still good.
func (s *Source) adoptable(row store.OAuthToken) *oauth2.Token {
	if row.Token == nil || s.seedChanged(row) {
		return nil
	}
	st, err := unseal(s.cfg.Key, s.cfg.Mailbox, row.Token)
	if err != nil {
		return nil
	}
	if t := st.oauth2(); s.usable(t) {
		return t
	}
	return nil
}

// seedChanged reports whether the configured refresh token is not the one
// the stored token descends from: an operator pasted a new one, which
// wins.
func (s *Source) seedChanged(row store.OAuthToken) bool {
	want := seedHash(s.cfg.ClientID, s.cfg.RefreshToken)
	return want != nil && !bytes.Equal(row.SeedHash, want)
}

// refreshLocked refreshes under the lock: row is the newest token.
func (s *Source) refreshLocked(ctx context.Context, row store.OAuthToken) (*oauth2.Token, error) {
	rt := s.cfg.RefreshToken
	switch {
	case row.Token == nil:
	case s.seedChanged(row):
		s.log.Info("oauth2: the configured refreshToken is not the one the stored token descends from; it replaces it")
	default:
		st, err := unseal(s.cfg.Key, s.cfg.Mailbox, row.Token)
		switch {
		case err != nil && rt == "":
			return nil, fmt.Errorf("mailbox %s: %w (%w; a changed or lost oauth2.encryptionKey?): run `mailbridge mailbox authorize %s`",
				s.cfg.Mailbox, errUnreadable, err, s.cfg.Mailbox)
		case err != nil:
			s.log.Warn("oauth2: the stored token cannot be read; trying the configured refreshToken", "err", err)
		default:
			// Another instance may have refreshed just before the lock.
			if t := st.oauth2(); s.usable(t) {
				if err := s.cfg.Store.UnlockOAuthToken(ctx, s.cfg.Mailbox, s.cfg.Holder); err != nil {
					s.log.Warn("oauth2 refresh lock not released; it expires by itself", "err", err)
				}
				return t, nil
			}
			rt = st.RefreshToken
		}
	}
	if s.unstored.rt != "" && s.unstored.version == row.Version {
		rt = s.unstored.rt // spent the stored one, failed to store its successor
	}
	if rt == "" {
		return nil, s.noGrant()
	}
	// A refresh token, once sent, may be spent: the request is not
	// abandoned halfway (the HTTP client's timeout bounds it), so that
	// its successor is not lost.
	t, err := s.request(context.WithoutCancel(ctx), refreshParams(rt))
	if err != nil {
		return nil, err
	}
	if t.RefreshToken == "" {
		t.RefreshToken = rt // not rotated
	}
	sealed, err := seal(s.cfg.Key, s.cfg.Mailbox, t)
	if err == nil {
		var ok bool
		ok, err = s.cfg.Store.PutOAuthToken(context.WithoutCancel(ctx), s.cfg.Mailbox, row.Version, sealed,
			seedHash(s.cfg.ClientID, s.cfg.RefreshToken), s.cfg.Holder)
		if err == nil && !ok {
			err = errors.New("another writer stored a token first")
		}
	}
	if err != nil {
		// The access token works; the refresh token that came with it may
		// be the only live one, so keep it for this process at least.
		s.log.Error("oauth2: the rotated refresh token could not be stored; a restart may need `mailbridge mailbox authorize`",
			"err", err)
		s.unstored.version, s.unstored.rt = row.Version, t.RefreshToken
		return t, nil
	}
	s.unstored.rt = ""
	return t, nil
}

var errStore = errors.New("oauth2 token store")

func (s *Source) storeErr(err error) error {
	return fmt.Errorf("mailbox %s: %w: %w", s.cfg.Mailbox, errStore, err)
}

// ErrRevoked is a refresh token the provider refuses (invalid_grant): the
// user revoked the grant, it expired, or the password changed. Only a new
// grant fixes it (mailbridge mailbox authorize).
var ErrRevoked = errors.New("oauth2 grant revoked or expired")

var errNoGrant = errors.New("no oauth2 refresh token")

// errUnreadable is a stored grant that does not open with the configured
// oauth2.encryptionKey, and no refreshToken configured to fall back on:
// like a missing grant, only a new one fixes it.
var errUnreadable = errors.New("the stored oauth2 token cannot be read")

func (s *Source) noGrant() error {
	return fmt.Errorf("mailbox %s: %w, stored or configured: run `mailbridge mailbox authorize %s`",
		s.cfg.Mailbox, errNoGrant, s.cfg.Mailbox)
}

// Error is the token endpoint's refusal.
type Error struct {
	Mailbox     string
	Status      string // HTTP status
	Code        string // OAuth2 error code, e.g. invalid_grant
	Description string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("mailbox %s: oauth2 token endpoint answered %s: %s %s", e.Mailbox, e.Status, e.Code, e.Description)
	if e.Code == "invalid_grant" {
		msg += fmt.Sprintf("; the grant was revoked or has expired: run `mailbridge mailbox authorize %s` (or configure a new oauth2.refreshToken)", e.Mailbox)
	}
	return msg
}

// Is makes an invalid_grant answer ErrRevoked.
func (e *Error) Is(target error) bool { return target == ErrRevoked && e.Code == "invalid_grant" }

func (e *Error) reason() string {
	if e.Code != "" {
		return e.Code
	}
	return "http_error"
}

// classify turns x/oauth2's error into an Error. Its own message quotes
// the answer's body, which might echo a token; error and
// error_description are meant for clients and are kept.
func (s *Source) classify(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("mailbox %s: oauth2 token endpoint: %w", s.cfg.Mailbox, err)
	}
	e := &Error{Mailbox: s.cfg.Mailbox, Code: re.ErrorCode, Description: re.ErrorDescription}
	if re.Response != nil {
		e.Status = re.Response.Status
	}
	return e
}

type nopObserver struct{}

func (nopObserver) Refreshed(string, time.Time) {}
func (nopObserver) Expiry(string, time.Time)    {}
func (nopObserver) Failed(string, string)       {}
func (nopObserver) Revoked(string, bool)        {}
