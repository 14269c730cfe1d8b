// Package config holds mailbridge's configuration: the types behind
// config.yaml, strict loading with ${ENV} expansion and secrets from files,
// and validation whose errors name the key path (mailboxes[1].port: ...).
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole of config.yaml.
type Config struct {
	Log         Log          `yaml:"log"`
	Admin       Admin        `yaml:"admin"`
	Store       Store        `yaml:"store"`
	API         API          `yaml:"api"`
	Delivery    Delivery     `yaml:"delivery"`
	Mapper      Mapper       `yaml:"mapper"`
	MailSense   MailSense    `yaml:"mailSense"`
	Threading   Threading    `yaml:"threading"`
	Subchannels []Subchannel `yaml:"subchannels"`
	SMTP        SMTP         `yaml:"smtp"`
	Mailboxes   []Mailbox    `yaml:"mailboxes"`
	// OAuth2 is how the mailboxes' OAuth2 tokens are kept in the store.
	OAuth2 OAuth2Tokens `yaml:"oauth2"`
	Auth   Auth         `yaml:"auth"`
	Rules  []Rule       `yaml:"rules"`
}

// Log configures log/slog.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error (default info)
	Format string `yaml:"format"` // text | json (default text)
}

// Store selects the durable queue.
type Store struct {
	Driver string `yaml:"driver"` // sqlite (default) | postgres
	Path   string `yaml:"path"`   // sqlite database file (default ./data/mailbridge.db)
	DSN    Secret `yaml:"dsn"`    // postgres connection string (URL or key=value)
	// KeepDelivered is how long a delivered message's raw bytes stay in
	// the queue (default 168h); its row stays as the dedup record.
	KeepDelivered Duration `yaml:"keepDelivered"`
}

// API is the enneo API endpoint.
type API struct {
	// BaseURL is e.g. https://demo.enneo.ai/api/mind. Empty means dry run.
	BaseURL string `yaml:"baseURL"`
	Token   Secret `yaml:"token"`
	// TokenFile is read at start when Token is empty (Docker/K8s secrets);
	// Load moves its content into Token and clears it.
	TokenFile string   `yaml:"tokenFile"`
	Timeout   Duration `yaml:"timeout"` // per request (default 60s)
	// DryRun writes each payload to DryRunDir instead of calling the API.
	// It is on when BaseURL is empty.
	DryRun    bool         `yaml:"dryRun"`
	DryRunDir string       `yaml:"dryRunDir"` // default ./data/outbox
	Ticket    TicketCreate `yaml:"ticket"`
}

// TicketCreate describes the call that opens a new ticket for a mail that
// belongs to none.
type TicketCreate struct {
	Path    string `yaml:"path"`    // default /ticket
	IDField string `yaml:"idField"` // field of the answer holding the new id (default id; dotted paths allowed)
	Process string `yaml:"process"` // query parameter process (default batch)
	// Fields lists the mail facts sent in the body, by enneo field name:
	// subchannelId from fromName to cc subject createdAt externalTicketId
	// rawData. Default: all of them.
	Fields []string `yaml:"fields"`
	// TicketBody is what the ticket's body holds: none, subject-only or
	// full (default none: the mail stored right after is the first
	// conversation, and a full body would show it twice).
	TicketBody string `yaml:"ticketBody"`
	// Static adds constant fields (default channel: email).
	Static map[string]any `yaml:"static"`
}

// Delivery tunes the workers that post queued messages.
type Delivery struct {
	Workers     int      `yaml:"workers"`     // default 16
	MaxAttempts int      `yaml:"maxAttempts"` // default 25; then dead letter
	MaxAge      Duration `yaml:"maxAge"`      // default 72h; then dead letter
	Backoff     Backoff  `yaml:"backoff"`
	// AuthRetry is the fixed wait after a 401 or 403: the token is wrong and
	// retrying fast helps nobody (default 5m). Never dead-letters.
	AuthRetry Duration `yaml:"authRetry"`
	Lease     Duration `yaml:"lease"`        // claim lease (default 5m; must exceed api.timeout)
	Poll      Duration `yaml:"pollInterval"` // idle queue poll (default 1s)
	// InflightBytes bounds the raw bytes of the messages all workers map
	// and post at once (default 32 MiB); a larger message goes alone.
	InflightBytes int64 `yaml:"inflightBytes"`
}

// Backoff is capped exponential backoff with equal jitter: half of each
// wait is fixed, half random.
type Backoff struct {
	Initial Duration `yaml:"initial"` // default 5s
	Max     Duration `yaml:"max"`     // default 30m
}

// Mapper tunes the email → payload mapping.
type Mapper struct {
	// Timezone of createdAt (IANA name, default UTC).
	Timezone string `yaml:"timezone"`
	// InlineImageMaxBytes: cid: images up to this size are also inlined in
	// the HTML body as data: URIs (default 262144; 0 disables).
	InlineImageMaxBytes *int `yaml:"inlineImageMaxBytes"`
	// BodyMaxBytes: each of body, bodyPlain and bodyClean is cut at this
	// many bytes (of JSON) with a note, and the full text attached
	// (default 1048576; at least 65536).
	BodyMaxBytes int `yaml:"bodyMaxBytes"`
	// Timeout bounds the mapping of one message; a message that takes
	// longer is a dead letter (default 60s).
	Timeout Duration `yaml:"timeout"`
}

// Subchannel is one enneo subchannel (mailbox) mail may be stored to.
type Subchannel struct {
	ID        int    `yaml:"id"`
	Name      string `yaml:"name"`
	Process   string `yaml:"process"`   // realtime | batch | false (default batch)
	Direction string `yaml:"direction"` // in | out | internal (default in)
	// Unauthenticated is what happens to mail whose sender is not
	// authenticated (see auth): store | tag | process-false | hold
	// (default tag).
	Unauthenticated string `yaml:"unauthenticated"`
}

// SMTP configures the SMTP/LMTP source.
type SMTP struct {
	Listeners []Listener `yaml:"listeners"`
	Routes    []Route    `yaml:"routes"`
	// Hostname names this host in the greeting and the Received header
	// (default: the OS hostname).
	Hostname string `yaml:"hostname"`
	// LocalPartCaseSensitive makes routes match the local part exactly;
	// by default Support@ and support@ are the same mailbox, as they are
	// on nearly every real server. Domains are always case-insensitive.
	LocalPartCaseSensitive bool `yaml:"localPartCaseSensitive"`
	// AllowedNetworks are the client networks (CIDRs) that may send
	// without AUTH. nil means loopback only (127.0.0.0/8, ::1/128); an
	// explicit [] means nobody, so that every client must authenticate.
	AllowedNetworks []string   `yaml:"allowedNetworks"`
	Users           []SMTPUser `yaml:"users"`
	Limits          SMTPLimits `yaml:"limits"`
	Auth            SMTPAuth   `yaml:"auth"`
}

// SMTPUser is an account that may send after SMTP AUTH. Exactly one of
// Password, PasswordFile and PasswordHash is set.
type SMTPUser struct {
	Username     string `yaml:"username"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"passwordFile"` // read by Load into Password, then cleared
	PasswordHash Secret `yaml:"passwordHash"` // bcrypt ($2a$, $2b$, $2y$)
}

// SMTPLimits bound what one client can make a listener do.
type SMTPLimits struct {
	MaxMessageBytes     int64    `yaml:"maxMessageBytes"`     // default 26214400 (25 MiB)
	MaxRecipients       int      `yaml:"maxRecipients"`       // per message, default 100
	MaxConnections      int      `yaml:"maxConnections"`      // per listener, default 200
	MaxConnectionsPerIP int      `yaml:"maxConnectionsPerIP"` // per listener, default 20
	MaxLineLength       int      `yaml:"maxLineLength"`       // default 2000 (RFC 5321 doubled)
	ReadTimeout         Duration `yaml:"readTimeout"`         // idle wait for a command, default 5m
	WriteTimeout        Duration `yaml:"writeTimeout"`        // default 1m
	DataTimeout         Duration `yaml:"dataTimeout"`         // whole DATA transfer, default 10m
	ShutdownTimeout     Duration `yaml:"shutdownTimeout"`     // wait for open transactions, default 30s

	// Clients outside allowedNetworks, until authenticated, share
	// maxConnections-reservedConnections slots (docs/smtp.md).
	ReservedConnections     int      `yaml:"reservedConnections"`     // default maxConnections/4
	OutsideConnectionsPerIP int      `yaml:"outsideConnectionsPerIP"` // default 5
	OutsideReadTimeout      Duration `yaml:"outsideReadTimeout"`      // default 1m
	OutsideSessionLifetime  Duration `yaml:"outsideSessionLifetime"`  // default 10m
	SessionLifetime         Duration `yaml:"sessionLifetime"`         // allowed and authenticated, default 1h
	MaxErrors               int      `yaml:"maxErrors"`               // refusals before 421 4.7.0, default 100
	DataBytesInFlight       int64    `yaml:"dataBytesInFlight"`       // message data buffered at once, default 128 MiB
}

// SMTPAuth throttles failed SMTP AUTH, for all listeners together
// (docs/smtp.md, "AUTH under attack"). A reload applies it.
type SMTPAuth struct {
	MaxFailuresPerConnection int      `yaml:"maxFailuresPerConnection"` // then 421 4.7.0, default 3
	TarpitInitial            Duration `yaml:"tarpitInitial"`            // delay before the first failure's answer, doubling, default 1s
	TarpitMax                Duration `yaml:"tarpitMax"`                // default 15s
	LockoutFailures          int      `yaml:"lockoutFailures"`          // per address or user within lockoutWindow, default 10
	LockoutWindow            Duration `yaml:"lockoutWindow"`            // default 10m
	LockoutDuration          Duration `yaml:"lockoutDuration"`          // default 15m
	MaxConcurrentChecks      int      `yaml:"maxConcurrentChecks"`      // password checks at once, default 2
	CheckQueueTimeout        Duration `yaml:"checkQueueTimeout"`        // then 454 4.7.0, default 10s
	MaxTracked               int      `yaml:"maxTracked"`               // addresses and user names remembered, each, default 10000
	LogInterval              Duration `yaml:"logInterval"`              // one line per client address per interval, default 1m
}

// Listener is one SMTP or LMTP listening socket.
type Listener struct {
	Name    string      `yaml:"name"`    // for logs and the message origin (default: the address)
	Address string      `yaml:"address"` // host:port
	Mode    string      `yaml:"mode"`    // smtp (default) | lmtp
	TLS     ListenerTLS `yaml:"tls"`
	// AllowInsecureAuth offers AUTH without TLS; only for a listener on
	// loopback or a network no one else can read.
	AllowInsecureAuth bool `yaml:"allowInsecureAuth"`
	// TrustedAuthservIDs, when set, are the servers whose
	// Authentication-Results header is believed in this listener's mail,
	// instead of auth.trustedAuthservIds (or none, with auth.verify).
	TrustedAuthservIDs []string `yaml:"trustedAuthservIds"`
}

// ListenerTLS configures TLS on a listener.
type ListenerTLS struct {
	// Mode is starttls (default when certFile is set), implicit (TLS from
	// the first byte, as on port 465) or none (default otherwise).
	Mode     string `yaml:"mode"`
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
}

// Route maps recipient addresses to a subchannel.
type Route struct {
	// Address is an exact address (support@example.com) or a domain
	// wildcard (*@help.example.com).
	Address      string `yaml:"address"`
	SubchannelID int    `yaml:"subchannelId"`
}

// Mailbox is one IMAP account; each watched folder feeds one subchannel.
type Mailbox struct {
	Name         string   `yaml:"name"`
	SubchannelID int      `yaml:"subchannelId"`
	Host         string   `yaml:"host"`
	Port         int      `yaml:"port"`     // default 993 (tls) or 143
	Security     string   `yaml:"security"` // tls (default) | starttls | none
	Username     string   `yaml:"username"`
	Password     Secret   `yaml:"password"`
	PasswordFile string   `yaml:"passwordFile"` // read by Load into Password, then cleared
	Folders      []string `yaml:"folders"`      // default [INBOX]
	PollInterval Duration `yaml:"pollInterval"` // default 60s
	// AllowInsecure must be set for security: none, which sends the
	// password in clear text.
	AllowInsecure bool `yaml:"allowInsecure"`
	// IDLE waits for new mail in IMAP IDLE where the server offers it
	// (default true); otherwise the folder is polled every PollInterval.
	IDLE *bool `yaml:"idle"`
	// IdleRestart re-issues IDLE this often (default 25m, at most 29m:
	// servers may drop an IDLE older than 30 minutes).
	IdleRestart Duration `yaml:"idleRestart"`
	// StartAt is what a folder's first start (no checkpoint yet) reads of
	// the mail already there: unseen (default), new, all or since:DATE
	// (YYYY-MM-DD, by the server's INTERNALDATE). See ParseStartAt.
	StartAt string `yaml:"startAt"`
	// AfterProcess is done on the server once a message is queued:
	// seen (default) | flag:KEYWORD | move:FOLDER | delete | none.
	AfterProcess string `yaml:"afterProcess"`
	// Process and Direction override the subchannel's for this mailbox's
	// mail (empty: the subchannel's). A Sent folder read as its own
	// mailbox is the case in point: direction out on the same subchannel.
	Process   string `yaml:"process"`
	Direction string `yaml:"direction"`
	// ErrorFolder receives messages the queue rejects for good (e.g.
	// empty ones); without it they are flagged $MailbridgeError and skipped.
	ErrorFolder string `yaml:"errorFolder"`
	// BatchSize is the number of messages fetched per UID FETCH (default 400).
	BatchSize int `yaml:"batchSize"`
	// MaxMessageBytes is the largest message read from the folder (default
	// 64 MiB); larger ones are set aside like those the queue rejects.
	MaxMessageBytes int64 `yaml:"maxMessageBytes"`
	// Timeout bounds dialling and each command, a NOOP included (default 60s).
	Timeout Duration `yaml:"timeout"`
	// Auth is password (default, LOGIN) or xoauth2 (AUTHENTICATE XOAUTH2
	// with an access token from OAuth2; Microsoft 365, Gmail).
	Auth   string `yaml:"auth"`
	OAuth2 OAuth2 `yaml:"oauth2"`
	// TrustedAuthservIDs are the servers whose Authentication-Results
	// header is believed in this mailbox's mail (default none): only
	// those that verify every mail the mailbox gets and remove copies of
	// their header a sender wrote (Gmail: mx.google.com).
	TrustedAuthservIDs []string `yaml:"trustedAuthservIds"`
}

// OAuth2 is where a mailbox with auth: xoauth2 gets its access tokens: a
// user's grant renewed with refresh tokens (flow delegated), or the
// application's client credentials (flow application).
type OAuth2 struct {
	// Flow is delegated or application (default: delegated when
	// RefreshToken is set, else application).
	Flow         string   `yaml:"flow"`
	TokenURL     string   `yaml:"tokenURL"` // e.g. https://login.microsoftonline.com/TENANT/oauth2/v2.0/token
	ClientID     string   `yaml:"clientId"`
	ClientSecret Secret   `yaml:"clientSecret"`
	RefreshToken Secret   `yaml:"refreshToken"`
	Scopes       []string `yaml:"scopes"` // e.g. [https://outlook.office365.com/.default]
	// DeviceAuthURL is the device authorization endpoint of `mailbridge
	// mailbox authorize` (default: derived from a Microsoft or Google
	// tokenURL).
	DeviceAuthURL string `yaml:"deviceAuthURL"`
	// AuthURL is the authorization endpoint of `mailbridge mailbox
	// authorize NAME --browser` (default: derived from a Microsoft or
	// Google tokenURL).
	AuthURL string `yaml:"authURL"`
	// ClientCertificateFile and ClientKeyFile (PEM, RSA) sign a client
	// assertion instead of sending ClientSecret (flow application).
	ClientCertificateFile string `yaml:"clientCertificateFile"`
	ClientKeyFile         string `yaml:"clientKeyFile"`
	// SecretExpires is when the client secret expires; warnings begin 30
	// days before. A certificate's own expiry counts too.
	SecretExpires Date `yaml:"secretExpires"`
}

// IDLEEnabled reports whether the mailbox may use IMAP IDLE.
func (m *Mailbox) IDLEEnabled() bool { return m.IDLE == nil || *m.IDLE }

// Secret is a string that never prints itself: fmt, slog, YAML and JSON
// all show "[redacted]" (or "" when unset), so a config dump cannot leak it.
type Secret string

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// Value returns the secret itself, for the one place that needs it.
func (s Secret) Value() string { return string(s) }

// GoString implements fmt.GoStringer for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// Format implements fmt.Formatter. Stringer alone is not enough: fmt
// ignores it for verbs such as %d and then prints the raw string.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, s.GoString())
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), s.String())
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalYAML implements yaml.Marshaler.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// Duration is a time.Duration written as "30s", "5m", "72h".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String implements fmt.Stringer.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML implements yaml.Marshaler, so that a dumped config loads
// again.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML implements yaml.Unmarshaler. It accepts what
// time.ParseDuration does; a bare number is refused because its unit
// would be a guess.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be a duration such as 30s, 5m or 72h")
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		if _, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return fmt.Errorf("invalid duration %q (missing unit, e.g. %q)", n.Value, n.Value+"s")
		}
		return fmt.Errorf("invalid duration %q", n.Value)
	}
	*d = Duration(v)
	return nil
}
