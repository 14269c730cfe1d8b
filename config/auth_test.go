package config

import "testing"

func TestAuthRules(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"all set", "auth: {verify: true, authservId: mx.example.com, trustedAuthservIds: [mx.google.com], dnsServer: '127.0.0.1:53', dnsTimeout: 2s, cacheTTL: 1m, timeout: 10s, maxSignatures: 3, processRejected: true}", nil},
		{"bad values", "auth: {authservId: 'a b', trustedAuthservIds: [ok.example, 'x;y', ''], dnsServer: 127.0.0.1, dnsTimeout: -1s, maxSignatures: 100}",
			[]string{
				`auth.authservId: must be one word without ; or parentheses (got "a b")`,
				`auth.dnsServer: must be host:port (got "127.0.0.1")`,
				`auth.dnsTimeout: must be positive (got -1s)`,
				`auth.maxSignatures: must be 1-50 (got 100)`,
				`auth.trustedAuthservIds[1]: must be one word without ; or parentheses (got "x;y")`,
				`auth.trustedAuthservIds[2]: must be one word without ; or parentheses (got "")`,
			}},
		{"typo", "auth: {trustedAuthServIds: [x]}", []string{`auth.trustedAuthServIds: unknown key (did you mean "trustedAuthservIds"?)`}},
		{"listener trusts own id", "auth: {verify: true, authservId: mx.example.com}\nsmtp: {listeners: [{address: '127.0.0.1:2525', trustedAuthservIds: [MX.example.com, 'a;b']}]}",
			[]string{`smtp.listeners[0].trustedAuthservIds[0]: "MX.example.com" is auth.authservId, mailbridge's own: give auth.authservId another name`,
				`smtp.listeners[0].trustedAuthservIds[1]: must be one word without ; or parentheses (got "a;b")`}},
		{"per source", "smtp: {listeners: [{address: '127.0.0.1:2525', trustedAuthservIds: [mx.example.com]}]}\nmailboxes: [{name: m, subchannelId: 4, host: imap.example.com, username: u, password: p, trustedAuthservIds: [mx.google.com]}]", nil},
		{"policy", "subchannels: [{id: 1, unauthenticated: hold}, {id: 4, unauthenticated: process-false}]", nil},
		{"bad policy", "subchannels: [{id: 1, unauthenticated: reject}, {id: 4}]",
			[]string{`subchannels[0].unauthenticated: must be one of store, tag, process-false, hold (got "reject")`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectProblems(t, valid+tt.doc, tt.want)
		})
	}
}

func TestAuthDefaultID(t *testing.T) {
	c := mustParse(t, valid+"smtp: {hostname: mx.example.com}")
	if c.Auth.AuthservID != "mx.example.com" {
		t.Errorf("authservId = %q, want smtp.hostname", c.Auth.AuthservID)
	}
}
