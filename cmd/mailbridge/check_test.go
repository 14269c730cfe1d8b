package main

import (
	"strings"
	"testing"
)

// check refuses what run refuses, with the same message and exit code:
// what run builds (certificates, routes, users) check builds too.
func TestCheckRefusesWhatRunRefuses(t *testing.T) {
	for _, tt := range []struct {
		name, smtp, want string
	}{
		{"missing certificate",
			"smtp:\n  listeners: [{name: mta, address: '127.0.0.1:2525', tls: {certFile: /nonexistent/cert.pem, keyFile: /nonexistent/key.pem}}]\n",
			"smtp.listeners[0].tls: open /nonexistent/cert.pem"},
		{"placeholder hash",
			"smtp:\n  users: [{username: relay, passwordHash: '$2a$10$...'}]\n",
			"smtp.users[0].passwordHash: must be a bcrypt hash"},
		{"invalid IDNA route",
			"smtp:\n  routes: [{address: '*@xn--zzzzz-999.example', subchannelId: 4}]\n",
			"smtp.routes[0].address: not a valid domain name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t, tt.smtp)
			code, stdout, stderr := run(t, "check", "-c", cfg)
			if code != exitUsage || !strings.Contains(stderr, tt.want) || strings.Contains(stdout, "ok") {
				t.Errorf("check: exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, exitUsage, tt.want, stdout, stderr)
			}
			code, _, runErr := run(t, "run", "-c", cfg)
			if code != exitUsage || !strings.Contains(runErr, tt.want) {
				t.Errorf("run: exit %d, want %d with %q\nstderr: %s", code, exitUsage, tt.want, runErr)
			}
		})
	}
}

// Settings that are legal but open the gateway up pass check with a
// warning each, naming the key.
func TestCheckWarns(t *testing.T) {
	cfg := writeConfig(t, `smtp:
  listeners:
    - {name: lo, address: '127.0.0.1:2525', allowInsecureAuth: true}
    - {name: all, address: ':2526', allowInsecureAuth: true}
  allowedNetworks: [127.0.0.0/8, 10.0.0.0/8, 0.0.0.0/0, '::/0', 198.51.100.0/24]
`)
	code, stdout, stderr := run(t, "check", "-c", cfg)
	if code != exitOK {
		t.Fatalf("check: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"warning: smtp.allowedNetworks[2]: 0.0.0.0/0 lets every client",
		"warning: smtp.allowedNetworks[3]: ::/0 lets every client",
		"warning: smtp.allowedNetworks[4]: 198.51.100.0/24 holds public addresses",
		"warning: smtp.listeners[1].allowInsecureAuth: passwords cross the network in clear text on :2526",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, stdout)
		}
	}
	if n := strings.Count(stdout, "warning:"); n != 4 {
		t.Errorf("%d warnings, want 4:\n%s", n, stdout)
	}
}
