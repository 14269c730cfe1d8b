package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// OAuth2Tokens is how the refresh tokens of delegated OAuth2 mailboxes
// are kept in the store, where every instance and restart finds the
// newest one.
type OAuth2Tokens struct {
	// EncryptionKey seals the tokens in the store (AES-256-GCM): 32
	// random bytes in base64 or hex, e.g. ${MAILBRIDGE_TOKEN_KEY}.
	EncryptionKey Secret `yaml:"encryptionKey"`
	// AllowPlaintextTokens stores them in clear when there is no key.
	// Without a key and without this, rotated refresh tokens live in
	// memory only, and `mailbridge mailbox authorize` refuses to run.
	AllowPlaintextTokens bool `yaml:"allowPlaintextTokens"`
}

// Persist reports whether tokens are kept in the store.
func (t OAuth2Tokens) Persist() bool { return t.EncryptionKey != "" || t.AllowPlaintextTokens }

// Flow values of OAuth2.Flow.
const (
	FlowDelegated   = "delegated"
	FlowApplication = "application"
)

// GrantFlow is the flow in effect: the configured one, else delegated
// when a refresh token is configured and application otherwise.
func (o *OAuth2) GrantFlow() string {
	switch {
	case o.Flow != "":
		return o.Flow
	case o.RefreshToken != "":
		return FlowDelegated
	}
	return FlowApplication
}

// DeviceAuthEndpoint is DeviceAuthURL, or the device authorization
// endpoint beside a Microsoft identity platform or Google token endpoint.
func (o *OAuth2) DeviceAuthEndpoint() string {
	if o.DeviceAuthURL != "" {
		return o.DeviceAuthURL
	}
	return o.besideToken("devicecode", "https://oauth2.googleapis.com/device/code")
}

// AuthEndpoint is AuthURL, or the authorization endpoint beside a
// Microsoft identity platform or Google token endpoint.
func (o *OAuth2) AuthEndpoint() string {
	if o.AuthURL != "" {
		return o.AuthURL
	}
	return o.besideToken("authorize", "https://accounts.google.com/o/oauth2/v2/auth")
}

// besideToken is Microsoft's endpoint named microsoft in the tokenURL's
// tenant, or google for Google's token endpoint; "" for other providers.
func (o *OAuth2) besideToken(microsoft, google string) string {
	u, err := url.Parse(o.TokenURL)
	if err != nil {
		return ""
	}
	switch {
	case u.Host == "login.microsoftonline.com" && strings.HasSuffix(u.Path, "/oauth2/v2.0/token"):
		u.Path = strings.TrimSuffix(u.Path, "token") + microsoft
		return u.String()
	case u.Host == "oauth2.googleapis.com":
		return google
	}
	return ""
}

// Google reports whether the token endpoint is Google's, whose device
// flow does not grant the mail scope.
func (o *OAuth2) Google() bool {
	u, err := url.Parse(o.TokenURL)
	return err == nil && u.Host == "oauth2.googleapis.com"
}

func (o *OAuth2) validate(p *problems, path string, tokens OAuth2Tokens) {
	if o.Flow != "" {
		p.oneOf(path+".flow", o.Flow, FlowDelegated, FlowApplication)
	}
	cert := o.ClientCertificateFile != "" || o.ClientKeyFile != ""
	if cert && (o.ClientCertificateFile == "" || o.ClientKeyFile == "") {
		p.add(path+".clientCertificateFile", "clientCertificateFile and clientKeyFile go together")
	}
	for key, v := range map[string]string{"deviceAuthURL": o.DeviceAuthURL, "authURL": o.AuthURL} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.add(path+"."+key, "must be an http(s) URL")
		}
	}
	switch o.GrantFlow() {
	case FlowApplication:
		switch {
		case o.ClientSecret == "" && !cert:
			p.add(path, "clientSecret or clientCertificateFile is required with flow application (or set refreshToken, or flow: delegated)")
		case o.ClientSecret != "" && cert:
			p.add(path+".clientCertificateFile", "cannot be used together with clientSecret")
		}
		if o.RefreshToken != "" {
			p.add(path+".refreshToken", "not used with flow application")
		}
	case FlowDelegated:
		if cert {
			p.add(path+".clientCertificateFile", "only with flow application")
		}
		if o.RefreshToken == "" && !tokens.Persist() {
			p.add(path+".refreshToken", "required unless the store keeps the tokens: set oauth2.encryptionKey and run `mailbridge mailbox authorize NAME`")
		}
	}
}

// oauth2Warnings: tokens that rotate but are not persisted, or are
// persisted in clear.
func (c *Config) oauth2Warnings(p *problems) {
	delegated := false
	for i, m := range c.Mailboxes {
		if m.Auth != "xoauth2" || m.OAuth2.GrantFlow() != FlowDelegated {
			continue
		}
		delegated = true
		if !c.OAuth2.Persist() {
			p.add(index("mailboxes", i)+".oauth2.refreshToken",
				"rotated refresh tokens are kept in memory only (no oauth2.encryptionKey): after a restart the configured one is used, which the provider may have retired, and instances sharing a store each spend it on their own")
		}
	}
	if delegated && c.OAuth2.EncryptionKey == "" && c.OAuth2.AllowPlaintextTokens {
		p.add("oauth2.allowPlaintextTokens", "OAuth2 refresh tokens are stored in clear in the store; set oauth2.encryptionKey")
	}
}

// Date is a calendar day written 2027-06-30 (or an RFC 3339 time).
type Date struct{ time.Time }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Date) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be a date such as 2027-06-30")
	}
	if n.Value == "" {
		d.Time = time.Time{}
		return nil
	}
	for _, layout := range []string{time.DateOnly, time.RFC3339} {
		if t, err := time.Parse(layout, n.Value); err == nil {
			d.Time = t
			return nil
		}
	}
	return fmt.Errorf("invalid date %q (want e.g. 2027-06-30)", n.Value)
}

// MarshalYAML implements yaml.Marshaler.
func (d Date) MarshalYAML() (any, error) {
	if d.IsZero() {
		return "", nil
	}
	return d.Format(time.DateOnly), nil
}
