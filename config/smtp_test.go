package config

import (
	"strings"
	"testing"
	"time"
)

// smtpDefaults is the smtp section as applyDefaults leaves it with these
// listeners and nothing else set.
func smtpDefaults(listeners ...Listener) SMTP {
	return SMTP{
		Listeners:       listeners,
		AllowedNetworks: []string{"127.0.0.0/8", "::1/128"},
		Limits: SMTPLimits{
			MaxMessageBytes: 25 << 20, MaxRecipients: 100, MaxConnections: 200, MaxConnectionsPerIP: 20,
			MaxLineLength: 2000, ReadTimeout: Duration(5 * time.Minute), WriteTimeout: Duration(time.Minute),
			DataTimeout: Duration(10 * time.Minute), ShutdownTimeout: Duration(30 * time.Second),
			ReservedConnections: 50, OutsideConnectionsPerIP: 5, OutsideReadTimeout: Duration(time.Minute),
			OutsideSessionLifetime: Duration(10 * time.Minute), SessionLifetime: Duration(time.Hour),
			MaxErrors: 100, DataBytesInFlight: 128 << 20,
		},
	}
}

func TestSMTPDefaults(t *testing.T) {
	c := mustParse(t, `
subchannels: [{id: 1}]
smtp:
  listeners:
    - address: 127.0.0.1:2525
    - address: 127.0.0.1:2465
      tls: {mode: implicit, certFile: c.pem, keyFile: k.pem}
    - address: 127.0.0.1:2587
      tls: {certFile: c.pem, keyFile: k.pem}
`)
	got := []string{c.SMTP.Listeners[0].TLS.Mode, c.SMTP.Listeners[1].TLS.Mode, c.SMTP.Listeners[2].TLS.Mode}
	if strings.Join(got, ",") != "none,implicit,starttls" {
		t.Errorf("tls modes = %v, want none,implicit,starttls", got)
	}
	if c.SMTP.Listeners[0].Name != "127.0.0.1:2525" {
		t.Errorf("name = %q, want the address", c.SMTP.Listeners[0].Name)
	}
	if n := c.SMTP.AllowedNetworks; len(n) != 2 {
		t.Errorf("allowedNetworks = %v, want loopback", n)
	}
	// An explicit empty list means "AUTH only" and must stay empty.
	c = mustParse(t, "subchannels: [{id: 1}]\nsmtp: {allowedNetworks: []}")
	if n := c.SMTP.AllowedNetworks; n == nil || len(n) != 0 {
		t.Errorf("allowedNetworks: [] became %#v", n)
	}
}

func TestSMTPValidate(t *testing.T) {
	_, err := Parse([]byte(`
subchannels: [{id: 1}]
smtp:
  listeners:
    - address: 127.0.0.1:2525
      tls: {mode: starttls}
    - address: 127.0.0.1:2526
      tls: {mode: sometimes, certFile: c, keyFile: k}
  allowedNetworks: [10.0.0.0/8, 10.0.0.1, nonsense]
  users:
    - {username: a, password: x, passwordHash: "$2a$10$abc"}
    - {username: a, password: y}
    - {username: b}
    - {username: c, passwordHash: "md5:abc"}
  limits:
    maxConnections: 5
    maxConnectionsPerIP: 6
    maxLineLength: 512
    readTimeout: -1s
    reservedConnections: 5
    outsideSessionLifetime: -1s
    maxErrors: 10
    maxMessageBytes: 2000
    dataBytesInFlight: 1000
`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"smtp.listeners[0].tls: certFile and keyFile are required with mode starttls",
		"smtp.listeners[1].tls.mode: must be one of none, starttls, implicit",
		`smtp.allowedNetworks[1]: must be a CIDR`,
		`smtp.allowedNetworks[2]: must be a CIDR`,
		"smtp.users[0].password: exactly one of",
		`smtp.users[1].username: duplicate user "a"`,
		"smtp.users[2].password: exactly one of",
		"smtp.users[3].passwordHash: must be a bcrypt hash",
		"smtp.limits.maxConnectionsPerIP: must be 1-5",
		"smtp.limits.maxLineLength: must be at least 1000",
		"smtp.limits.readTimeout: must be positive",
		"smtp.limits.reservedConnections: must be 0-4 (below maxConnections)",
		"smtp.limits.outsideSessionLifetime: must be positive",
		"smtp.limits.maxErrors: must be at least maxRecipients (100)",
		"smtp.limits.dataBytesInFlight: must be at least maxMessageBytes (2000)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "allowedNetworks[0]") {
		t.Errorf("10.0.0.0/8 rejected:\n%v", err)
	}
}

// smtp.users[].passwordFile is read by Load like every other secret file,
// so `mailbridge check` reports a bad file before the daemon starts.
func TestSMTPUserPasswordFile(t *testing.T) {
	t.Chdir(t.TempDir())
	writeFile(t, "pw", "smtp-pw\n")
	writeFile(t, "empty", "\n")
	users := func(file string) string {
		return valid + "smtp:\n  users:\n    - username: relay\n      passwordFile: " + file + "\n"
	}
	writeFile(t, "config.yaml", users("pw"))
	c, err := Load("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if u := c.SMTP.Users[0]; u.Password.Value() != "smtp-pw" || u.PasswordFile != "" {
		t.Errorf("user password %q, passwordFile %q", u.Password.Value(), u.PasswordFile)
	}
	writeFile(t, "config.yaml", users("empty"))
	if _, err := Load("config.yaml"); err == nil || !strings.Contains(err.Error(), "smtp.users[0].passwordFile: file empty is empty") {
		t.Errorf("empty file: %v", err)
	}
}
