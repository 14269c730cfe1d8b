package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/enneo/mailbridge/config"
	"github.com/enneo/mailbridge/internal/oauth"
	"github.com/enneo/mailbridge/store/lease"
)

// tokenSource is the OAuth2 token source of a mailbox with auth: xoauth2.
func (a *app) tokenSource(m config.Mailbox) (*oauth.Source, error) {
	c, err := a.oauthConfig(m)
	if err != nil {
		return nil, err
	}
	return oauth.New(c), nil
}

func (a *app) oauthConfig(m config.Mailbox) (oauth.Config, error) {
	o := m.OAuth2
	c := oauth.Config{
		Mailbox: m.Name, Flow: oauth.Flow(o.GrantFlow()),
		TokenURL: o.TokenURL, DeviceAuthURL: o.DeviceAuthEndpoint(),
		ClientID: o.ClientID, ClientSecret: o.ClientSecret.Value(), Scopes: o.Scopes,
		RefreshToken: o.RefreshToken.Value(),
		Holder:       lease.Holder(), Observer: a.metrics.OAuth(), Log: a.log,
	}
	if o.ClientCertificateFile != "" {
		cert, err := oauth.LoadCertificate(o.ClientCertificateFile, o.ClientKeyFile)
		if err != nil {
			return c, usagef("mailboxes %s: oauth2.clientCertificateFile: %v", m.Name, err)
		}
		c.Certificate = cert
	}
	a.metrics.OAuth().SecretExpires(m.Name, secretExpiry(m, c.Certificate))
	if !a.cfg.OAuth2.Persist() {
		return c, nil // rotated refresh tokens in memory only (a config warning)
	}
	st, ok := a.store.(oauth.Store)
	if !ok {
		return c, fmt.Errorf("store %s keeps no OAuth2 tokens", storeName(a.cfg.Store))
	}
	c.Store = st
	if key := a.cfg.OAuth2.EncryptionKey; key != "" {
		k, err := oauth.ParseKey(key.Value())
		if err != nil {
			return c, usagef("oauth2.encryptionKey: %v", err)
		}
		c.Key = k
	}
	return c, nil
}

// authorizeMailbox is `mailbridge mailbox authorize NAME`: the device
// authorization grant, its tokens stored for the daemon.
// inBrowser chooses the authorization code flow with a loopback redirect
// instead: Google's device flow does not grant the mail scope.
func authorizeMailbox(ctx context.Context, a *app, m config.Mailbox, inBrowser bool, in io.Reader, w io.Writer) error {
	if m.Auth != "xoauth2" || m.OAuth2.GrantFlow() != config.FlowDelegated {
		return usagef("mailbox %s: authorize is for auth: xoauth2 with oauth2.flow: delegated", m.Name)
	}
	c, err := a.oauthConfig(m)
	if err != nil {
		return err
	}
	switch {
	case c.Store == nil:
		return usagef("mailbox %s: nowhere to keep the tokens: set oauth2.encryptionKey (or oauth2.allowPlaintextTokens)", m.Name)
	case inBrowser && m.OAuth2.AuthEndpoint() == "":
		return usagef("mailbox %s: oauth2.authURL is required for this token endpoint", m.Name)
	case !inBrowser && c.DeviceAuthURL == "":
		return usagef("mailbox %s: oauth2.deviceAuthURL is required for this token endpoint", m.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	if inBrowser {
		return oauth.AuthorizeInBrowser(ctx, c, m.OAuth2.AuthEndpoint(), in, w)
	}
	return oauth.Authorize(ctx, c, w)
}

// secretExpiry is when a mailbox's client secret or certificate expires,
// the earlier; zero when neither is known.
func secretExpiry(m config.Mailbox, cert *oauth.Certificate) time.Time {
	t := m.OAuth2.SecretExpires.Time
	if cert != nil && (t.IsZero() || cert.NotAfter.Before(t)) {
		t = cert.NotAfter
	}
	return t
}

// notice is a warning about a mailbox's credentials for the log and the
// status page.
type notice struct {
	What  string // what expires
	Left  time.Duration
	Level slog.Level
	Msg   string
}

// stage is 30 for the first warning, 7 for the urgent one, 0 once
// expired.
func (n notice) stage() int {
	switch {
	case n.Left <= 0:
		return 0
	case n.Left <= 7*24*time.Hour:
		return 7
	}
	return 30
}

// secretNotices warns from 30 days before a client secret or certificate
// expires, more urgently from 7, and at error level once it has.
func secretNotices(m config.Mailbox, now time.Time) []notice {
	if m.Auth != "xoauth2" {
		return nil
	}
	var out []notice
	add := func(what string, at time.Time) {
		if at.IsZero() {
			return
		}
		left := at.Sub(now)
		days := int(left.Hours() / 24)
		switch {
		case left <= 0:
			out = append(out, notice{what, left, slog.LevelError, fmt.Sprintf("mailbox %s: the OAuth2 %s expired on %s; logins fail until it is renewed",
				m.Name, what, at.Format(time.DateOnly))})
		case left <= 30*24*time.Hour:
			out = append(out, notice{what, left, slog.LevelWarn, fmt.Sprintf("mailbox %s: the OAuth2 %s expires on %s, in %d days; renew it",
				m.Name, what, at.Format(time.DateOnly), days)})
		}
	}
	add("client secret (oauth2.secretExpires)", m.OAuth2.SecretExpires.Time)
	if f := m.OAuth2.ClientCertificateFile; f != "" {
		if cert, err := oauth.LoadCertificate(f, m.OAuth2.ClientKeyFile); err == nil {
			add("client certificate "+f, cert.NotAfter)
		}
	}
	return out
}

// credentialWatch runs beside an OAuth2 mailbox's pollers: it logs, as
// they come due, the warnings about its client secret or certificate (30
// and 7 days before it expires, and once it has), and gives the status
// page those and a revoked grant.
type credentialWatch struct {
	m      config.Mailbox
	tokens *oauth.Source
	log    *slog.Logger
}

// credentialCheck is how often the watch looks at the calendar.
const credentialCheck = time.Hour

func (w *credentialWatch) Name() string { return "oauth2:" + w.m.Name }

// Run logs each notice once per stage: the 30-day warning, the 7-day one,
// the expiry.
func (w *credentialWatch) Run(ctx context.Context) error {
	logged := map[string]int{} // by what expires: the last stage logged
	for {
		now := time.Now()
		for _, n := range secretNotices(w.m, now) {
			// A stage of 0 (expired) is logged too, when it is the first.
			if st, seen := logged[n.What]; !seen || st != n.stage() {
				logged[n.What] = n.stage()
				w.log.Log(ctx, n.Level, n.Msg, "mailbox", w.m.Name)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(credentialCheck):
		}
	}
}

// notices are the status page's lines for the mailbox.
func (w *credentialWatch) notices(now time.Time) []string {
	var out []string
	if w.tokens.Revoked() {
		out = append(out, fmt.Sprintf("mailbox %s: the OAuth2 grant is revoked, expired or missing: run `mailbridge mailbox authorize %s`",
			w.m.Name, w.m.Name))
	}
	for _, n := range secretNotices(w.m, now) {
		out = append(out, n.Msg)
	}
	return out
}

// notices are the running mailboxes' credential warnings.
// The watches are collected under the set's lock and asked outside it,
// so that nothing a token source does holds up /metrics or a reload.
func (s *mailboxSet) notices() []string {
	var watches []*credentialWatch
	s.mu.Lock()
	for _, r := range s.running {
		for _, p := range r.pollers {
			if w, ok := p.(*credentialWatch); ok {
				watches = append(watches, w)
			}
		}
	}
	s.mu.Unlock()
	now := time.Now()
	var out []string
	for _, w := range watches {
		out = append(out, w.notices(now)...)
	}
	slices.Sort(out)
	return out
}
