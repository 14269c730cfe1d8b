package config

import (
	"slices"
	"strings"
	"testing"
)

func TestMailboxIMAPKeys(t *testing.T) {
	c := mustParse(t, valid+"mailboxes:"+mailbox+`    idle: false
    idleRestart: 10m
    afterProcess: move:Done
    errorFolder: Errors
    batchSize: 50
    timeout: 30s
    maxMessageBytes: 1048576
`)
	m := c.Mailboxes[0]
	if m.IDLEEnabled() || m.AfterProcess != "move:Done" || m.ErrorFolder != "Errors" || m.BatchSize != 50 || m.MaxMessageBytes != 1<<20 ||
		m.IdleRestart.String() != "10m0s" || m.Timeout.String() != "30s" {
		t.Errorf("parsed %+v", m)
	}
	if d := mustParse(t, valid+"mailboxes:"+mailbox).Mailboxes[0]; !d.IDLEEnabled() || d.StartAt != "unseen" {
		t.Errorf("defaults: IDLE %v, startAt %q; want IDLE on, startAt unseen", d.IDLEEnabled(), d.StartAt)
	}
}

func TestMailboxIMAPRules(t *testing.T) {
	for _, tt := range []struct {
		extra string
		want  string // a problem, "" for none
	}{
		{"    security: none\n", "mailboxes[0].security: none sends the password in clear text"},
		{"    security: none\n    allowInsecure: true\n", ""},
		{"    afterProcess: flag:$Done\n", ""},
		{"    afterProcess: delete\n", ""},
		{"    afterProcess: none\n", ""},
		{"    afterProcess: archive\n", "mailboxes[0].afterProcess: must be seen, flag:KEYWORD"},
		{"    afterProcess: 'move:'\n", "mailboxes[0].afterProcess: move:FOLDER needs a folder"},
		{"    afterProcess: 'flag:\\Seen'\n", "mailboxes[0].afterProcess: flag:KEYWORD needs a keyword"},
		{"    afterProcess: 'flag:a b'\n", "mailboxes[0].afterProcess: flag:KEYWORD needs a keyword"},
		{"    afterProcess: seen:x\n", "mailboxes[0].afterProcess: \"seen\" takes no argument"},
		{"    startAt: new\n", ""},
		{"    startAt: all\n", ""},
		{"    startAt: since:2026-01-01\n", ""},
		{"    startAt: 'since: 2026-01-01'\n", ""},
		{"    startAt: 2026-01-01\n", ""},
		{"    startAt: unread\n", "mailboxes[0].startAt: must be unseen, new, all or since:YYYY-MM-DD"},
		{"    startAt: since:2026-13-01\n", "mailboxes[0].startAt: must be unseen, new, all or since:YYYY-MM-DD"},
		{"    idleRestart: 30m\n", "mailboxes[0].idleRestart: must be at most 29m"},
		{"    batchSize: -1\n", "mailboxes[0].batchSize: must be 1-10000"},
		{"    maxMessageBytes: -5\n", "mailboxes[0].maxMessageBytes: must be at least 1"},
		{"    afterProcess: move:INBOX\n", "mailboxes[0].folders[0]: folder \"INBOX\" is also the afterProcess or errorFolder target"},
		{"    errorFolder: INBOX\n", "mailboxes[0].folders[0]: folder \"INBOX\" is also"},
		{"    process: \"false\"\n    direction: out\n", ""},
		{"    process: later\n", "mailboxes[0].process: must be one of realtime, batch, false"},
		{"    direction: sideways\n", "mailboxes[0].direction: must be one of in, out, internal"},
		{"    auth: kerberos\n", "mailboxes[0].auth: must be one of password, xoauth2"},
		{"    auth: xoauth2\n", "mailboxes[0].oauth2.tokenURL: required with auth: xoauth2"},
		{"    auth: xoauth2\n", "mailboxes[0].oauth2.clientId: required"},
		{"    auth: xoauth2\n", "mailboxes[0].oauth2: clientSecret or clientCertificateFile is required"},
		{"    auth: xoauth2\n    oauth2: {tokenURL: 'ftp://x', clientId: c, clientSecret: s}\n", "mailboxes[0].oauth2.tokenURL: must be an http(s) URL"},
		{"    auth: xoauth2\n    oauth2: {tokenURL: 'https://login.example.com/token', clientId: c, refreshToken: r, scopes: [s]}\n", ""},
		{"    auth: xoauth2\n    oauth2: {tokenURL: 'https://x/token', clientId: c, flow: delegated}\n", "mailboxes[0].oauth2.refreshToken: required unless the store keeps the tokens"},
		{"    auth: xoauth2\n    oauth2: {tokenURL: 'https://x/token', clientId: c, flow: sideways}\n", "mailboxes[0].oauth2.flow: must be one of delegated, application"},
		{"    auth: xoauth2\n    oauth2: {tokenURL: 'https://x/token', clientId: c, clientCertificateFile: a.crt}\n", "mailboxes[0].oauth2.clientCertificateFile: clientCertificateFile and clientKeyFile go together"},
		{"    auth: xoauth2\n    oauth2: {tokenURL: 'https://x/token', clientId: c, clientSecret: s, clientCertificateFile: a, clientKeyFile: b}\n", "mailboxes[0].oauth2.clientCertificateFile: cannot be used together with clientSecret"},
		{"    auth: xoauth2\n    oauth2: {tokenURL: 'https://x/token', clientId: c, clientCertificateFile: a, clientKeyFile: b, secretExpires: 2027-06-30}\n", ""},
		{"    auth: xoauth2\n    oauth2: {tokenURL: 'https://x/token', clientId: c, clientSecret: s, secretExpires: soon}\n", "mailboxes[0].oauth2.secretExpires: invalid date"},
	} {
		_, err := Parse([]byte(valid + "mailboxes:" + mailbox + tt.extra))
		if tt.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tt.extra, err)
			}
			continue
		}
		msgs := messages(t, err)
		if !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, tt.want) }) {
			t.Errorf("%q: problems %q, want one starting %q", tt.extra, msgs, tt.want)
		}
	}
}

// A delegated mailbox without a configured refresh token is valid once
// the store keeps tokens, and its device endpoint is derived for the
// providers that have one.
func TestOAuth2Store(t *testing.T) {
	c := mustParse(t, valid+"oauth2: {encryptionKey: k}\nmailboxes:"+mailbox+
		"    auth: xoauth2\n    oauth2: {tokenURL: 'https://login.microsoftonline.com/T/oauth2/v2.0/token', clientId: c, flow: delegated}\n")
	o := c.Mailboxes[0].OAuth2
	if o.GrantFlow() != FlowDelegated || o.DeviceAuthEndpoint() != "https://login.microsoftonline.com/T/oauth2/v2.0/devicecode" {
		t.Errorf("flow %s, device endpoint %s", o.GrantFlow(), o.DeviceAuthEndpoint())
	}
	if len(c.Warnings()) != 0 {
		t.Errorf("warnings %v", c.Warnings())
	}
	o.TokenURL = "https://oauth2.googleapis.com/token"
	if o.DeviceAuthEndpoint() != "https://oauth2.googleapis.com/device/code" || !o.Google() ||
		o.AuthEndpoint() != "https://accounts.google.com/o/oauth2/v2/auth" {
		t.Errorf("google: %s, %s", o.DeviceAuthEndpoint(), o.AuthEndpoint())
	}
	// Without a key, rotated tokens are kept in memory: a warning.
	c = mustParse(t, valid+"mailboxes:"+mailbox+
		"    auth: xoauth2\n    oauth2: {tokenURL: 'https://x/token', clientId: c, refreshToken: r}\n")
	if w := c.Warnings(); len(w) != 1 || w[0].Path != "mailboxes[0].oauth2.refreshToken" {
		t.Errorf("warnings %v", w)
	}
}
