package config

import (
	"slices"
	"time"
)

// Defaults of the keys whose default is not the zero value. Zero in the
// configuration means "unset", except for mapper.inlineImageMaxBytes,
// which is a pointer because 0 disables inlining.
const (
	defaultInlineImageMaxBytes = 256 << 10
	defaultBodyMaxBytes        = 1 << 20
	minBodyMaxBytes            = 64 << 10
	defaultIMAPPort            = 143
	defaultIMAPSPort           = 993
)

// defaultTicketFields are the mail facts sent when a ticket is created:
// all of them. The ticket's rawData is small (the thread key); the mail's
// own rawData goes with its conversation. The body is
// api.ticket.ticketBody's to decide.
var defaultTicketFields = []string{
	"subchannelId", "from", "fromName", "to", "cc", "subject", "createdAt", "externalTicketId", "rawData",
}

// DryRun reports whether payloads are written to api.dryRunDir instead
// of being sent, which is always so without an api.baseURL.
func (c *Config) DryRun() bool { return c.API.DryRun || c.API.BaseURL == "" }

// applyDefaults fills in every key left unset. It runs before validation,
// so that validation sees the values mailbridge will use.
func (c *Config) applyDefaults() {
	setDefault(&c.Log.Level, "info")
	setDefault(&c.Log.Format, "text")
	c.Admin.applyDefaults()

	setDefault(&c.Store.Driver, "sqlite")
	if c.Store.Driver == "sqlite" {
		setDefault(&c.Store.Path, "./data/mailbridge.db")
	}
	setDefault(&c.Store.KeepDelivered, Duration(7*24*time.Hour))

	c.API.applyDefaults()
	c.Delivery.applyDefaults()

	setDefault(&c.Mapper.Timezone, "UTC")
	setDefault(&c.Mapper.BodyMaxBytes, defaultBodyMaxBytes)
	setDefault(&c.Mapper.Timeout, Duration(60*time.Second))
	if c.Mapper.InlineImageMaxBytes == nil {
		n := defaultInlineImageMaxBytes
		c.Mapper.InlineImageMaxBytes = &n
	}

	c.MailSense.applyDefaults()
	c.Threading.applyDefaults()

	for i := range c.Subchannels {
		s := &c.Subchannels[i]
		setDefault(&s.Process, "batch")
		setDefault(&s.Direction, "in")
		setDefault(&s.Unauthenticated, "tag")
	}
	c.SMTP.applyDefaults()
	c.Auth.applyDefaults(c.SMTP.Hostname)
	for i := range c.Mailboxes {
		c.Mailboxes[i].applyDefaults()
	}
}

func (a *API) applyDefaults() {
	if a.BaseURL == "" {
		a.DryRun = true
	}
	setDefault(&a.Timeout, Duration(60*time.Second))
	setDefault(&a.DryRunDir, "./data/outbox")

	t := &a.Ticket
	setDefault(&t.Path, "/ticket")
	setDefault(&t.IDField, "id")
	setDefault(&t.Process, "batch")
	setDefault(&t.TicketBody, "none")
	// nil, not empty: "fields: []" and "static: {}" mean "send none".
	if t.Fields == nil {
		t.Fields = slices.Clone(defaultTicketFields)
	}
	if t.Static == nil {
		t.Static = map[string]any{"channel": "email"}
	}
}

func (d *Delivery) applyDefaults() {
	setDefault(&d.Workers, 16)
	setDefault(&d.MaxAttempts, 25)
	setDefault(&d.MaxAge, Duration(72*time.Hour))
	setDefault(&d.Backoff.Initial, Duration(5*time.Second))
	setDefault(&d.Backoff.Max, Duration(30*time.Minute))
	setDefault(&d.AuthRetry, Duration(5*time.Minute))
	setDefault(&d.Lease, Duration(5*time.Minute))
	setDefault(&d.Poll, Duration(time.Second))
	setDefault(&d.InflightBytes, 32<<20)
}

func (s *SMTP) applyDefaults() {
	for i := range s.Listeners {
		l := &s.Listeners[i]
		setDefault(&l.Mode, "smtp")
		setDefault(&l.Name, l.Address)
		if l.TLS.CertFile != "" {
			setDefault(&l.TLS.Mode, "starttls")
		}
		setDefault(&l.TLS.Mode, "none")
	}
	// nil, not empty: "allowedNetworks: []" means "nobody without AUTH".
	if s.AllowedNetworks == nil {
		s.AllowedNetworks = []string{"127.0.0.0/8", "::1/128"}
	}
	l := &s.Limits
	setDefault(&l.MaxMessageBytes, 25<<20)
	setDefault(&l.MaxRecipients, 100)
	setDefault(&l.MaxConnections, 200)
	setDefault(&l.MaxConnectionsPerIP, 20)
	setDefault(&l.MaxLineLength, 2000)
	setDefault(&l.ReadTimeout, Duration(5*time.Minute))
	setDefault(&l.WriteTimeout, Duration(time.Minute))
	setDefault(&l.DataTimeout, Duration(10*time.Minute))
	setDefault(&l.ShutdownTimeout, Duration(30*time.Second))
	setDefault(&l.ReservedConnections, l.MaxConnections/4)
	// Five, or fewer when the outside pool is smaller, so that a small
	// maxConnections stays valid without more settings.
	setDefault(&l.OutsideConnectionsPerIP, max(1, min(5, l.MaxConnections-l.ReservedConnections)))
	setDefault(&l.OutsideReadTimeout, Duration(time.Minute))
	setDefault(&l.OutsideSessionLifetime, Duration(10*time.Minute))
	setDefault(&l.SessionLifetime, Duration(time.Hour))
	setDefault(&l.MaxErrors, 100)
	setDefault(&l.DataBytesInFlight, 128<<20)
	a := &s.Auth
	setDefault(&a.MaxFailuresPerConnection, 3)
	setDefault(&a.TarpitInitial, Duration(time.Second))
	setDefault(&a.TarpitMax, Duration(15*time.Second))
	setDefault(&a.LockoutFailures, 10)
	setDefault(&a.LockoutWindow, Duration(10*time.Minute))
	setDefault(&a.LockoutDuration, Duration(15*time.Minute))
	setDefault(&a.MaxConcurrentChecks, 1)
	setDefault(&a.CheckQueueTimeout, Duration(10*time.Second))
	setDefault(&a.MaxTracked, 10000)
	setDefault(&a.LogInterval, Duration(time.Minute))
}

// DefaultIMAPMaxMessageBytes is mailboxes[].maxMessageBytes unless set: above
// the largest mail Microsoft 365 (150 MB at most, 35 MB unless raised) and
// Gmail (50 MB) deliver with their default settings, encoding included.
const DefaultIMAPMaxMessageBytes = 64 << 20

func (m *Mailbox) applyDefaults() {
	setDefault(&m.Security, "tls")
	if m.Security == "tls" {
		setDefault(&m.Port, defaultIMAPSPort)
	} else {
		setDefault(&m.Port, defaultIMAPPort)
	}
	if m.Folders == nil {
		m.Folders = []string{"INBOX"}
	}
	setDefault(&m.PollInterval, Duration(60*time.Second))
	setDefault(&m.IdleRestart, Duration(25*time.Minute))
	setDefault(&m.AfterProcess, "seen")
	setDefault(&m.StartAt, "unseen")
	setDefault(&m.BatchSize, 400)
	setDefault(&m.MaxMessageBytes, DefaultIMAPMaxMessageBytes)
	setDefault(&m.Timeout, Duration(60*time.Second))
}

// setDefault sets *p to v if *p is the zero value.
func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
