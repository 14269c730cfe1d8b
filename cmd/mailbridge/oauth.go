package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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
func authorizeMailbox(ctx context.Context, a *app, m config.Mailbox, w io.Writer) error {
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
	case c.DeviceAuthURL == "":
		return usagef("mailbox %s: oauth2.deviceAuthURL is required for this token endpoint", m.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
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
	Level slog.Level
	Msg   string
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
			out = append(out, notice{slog.LevelError, fmt.Sprintf("mailbox %s: the OAuth2 %s expired on %s; logins fail until it is renewed",
				m.Name, what, at.Format(time.DateOnly))})
		case left <= 30*24*time.Hour:
			out = append(out, notice{slog.LevelWarn, fmt.Sprintf("mailbox %s: the OAuth2 %s expires on %s, in %d days; renew it",
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
