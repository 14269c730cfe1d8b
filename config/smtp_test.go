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
		Auth: defaultSMTPAuth,
	}
}

var defaultSMTPAuth = SMTPAuth{MaxFailuresPerConnection: 3, TarpitInitial: Duration(time.Second),
	TarpitMax: Duration(15 * time.Second), LockoutFailures: 10, LockoutWindow: Duration(10 * time.Minute),
	LockoutDuration: Duration(15 * time.Minute), MaxConcurrentChecks: 1,
	CheckQueueTimeout: Duration(10 * time.Second), MaxTracked: 10000, LogInterval: Duration(time.Minute)}

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
	if c.SMTP.Auth != defaultSMTPAuth {
		t.Errorf("smtp.auth = %+v, want %+v", c.SMTP.Auth, defaultSMTPAuth)
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
  auth:
    maxFailuresPerConnection: -1
    tarpitInitial: 20s
    tarpitMax: 10s
    lockoutWindow: -1m
    maxTracked: 5
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
		"smtp.auth.maxFailuresPerConnection: must be at least 1",
		"smtp.auth.tarpitMax: must be at least tarpitInitial (20s)",
		"smtp.auth.lockoutWindow: must be positive",
		"smtp.auth.maxTracked: must be at least 100",
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

// A placeholder or damaged bcrypt hash is refused when the configuration
// loads, as it would refuse every password once the daemon runs.
func TestSMTPPasswordHashParsed(t *testing.T) {
	const good = "$2a$10$R0KireRNEDP0SZrCM/ZYsORjWW0mhCs8RQ/0ztFhRfIKU06iFOk5K"
	for _, tt := range []struct {
		hash string
		ok   bool
	}{
		{good, true},
		{"$2y$" + good[4:], true},
		{"$2a$10$...", false},                 // the documentation's placeholder
		{good[:59], false},                    // one character lost in copying
		{good + "x", false},                   // one too many
		{"$2a$99$" + good[7:], false},         // no such cost
		{"$2a$10$" + good[7:59] + "!", false}, // not bcrypt's base64
		{"$2a$10$" + good[7:20] + " " + good[21:], false},
	} {
		_, err := Parse([]byte(valid + "smtp:\n  users:\n    - username: u\n      passwordHash: '" + tt.hash + "'\n"))
		if tt.ok != (err == nil) {
			t.Errorf("passwordHash %q: %v", tt.hash, err)
		}
		if err != nil && !strings.Contains(err.Error(), "smtp.users[0].passwordHash: must be a bcrypt hash") {
			t.Errorf("passwordHash %q: %v", tt.hash, err)
		}
		if err != nil && strings.Contains(err.Error(), tt.hash) {
			t.Errorf("the error quotes the hash: %v", err)
		}
	}
}

func TestWarnings(t *testing.T) {
	c := mustParse(t, valid+`
smtp:
  listeners:
    - {name: lo, address: '127.0.0.1:2525', allowInsecureAuth: true}
    - {name: lo6, address: '[::1]:2525', allowInsecureAuth: true}
    - {name: all, address: ':2526', allowInsecureAuth: true}
    - {name: lan, address: '10.0.0.5:2527', allowInsecureAuth: true}
    - {name: plain, address: ':2528'}
  allowedNetworks: [127.0.0.0/8, 10.1.0.0/16, 172.17.0.0/16, 'fd00::/8', 0.0.0.0/0, '::/0', 203.0.113.0/24, 10.0.0.0/7]
  users:
    - {username: weak, passwordHash: '$2a$04$R0KireRNEDP0SZrCM/ZYsORjWW0mhCs8RQ/0ztFhRfIKU06iFOk5K'}
    - {username: ok, passwordHash: '$2a$10$R0KireRNEDP0SZrCM/ZYsORjWW0mhCs8RQ/0ztFhRfIKU06iFOk5K'}
`)
	var got []string
	for _, w := range c.Warnings() {
		got = append(got, w.Path)
	}
	want := []string{
		"smtp.allowedNetworks[4]", "smtp.allowedNetworks[5]", "smtp.allowedNetworks[6]", "smtp.allowedNetworks[7]",
		"smtp.listeners[2].allowInsecureAuth", "smtp.listeners[3].allowInsecureAuth",
		"smtp.users[0].passwordHash",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("warnings on %v\nwant %v\n%v", got, want, c.Warnings())
	}
	if w := mustParse(t, valid).Warnings(); len(w) != 0 {
		t.Errorf("the defaults warn: %v", w)
	}
}
