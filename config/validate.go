package config

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/enneo/mailbridge/internal/idn"

	// mailbridge ships as a static binary on a scratch image, which has
	// no zoneinfo for mapper.timezone to load.
	_ "time/tzdata"
)

// ticketFields are the names api.ticket.fields accepts.
var ticketFields = []string{
	"subchannelId", "from", "fromName", "to", "cc", "subject",
	"createdAt", "externalTicketId", "rawData",
}

// Validate checks c as it would be used: defaults are not applied. It
// returns a *ValidationError listing every problem, or nil.
func (c *Config) Validate() error {
	return newValidationError("", c.validate())
}

// problems collects FieldErrors; its methods keep the checks one line each.
type problems []FieldError

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) oneOf(path, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		p.add(path, "must be one of %s (got %q)", strings.Join(allowed, ", "), v)
	}
}

func (p *problems) positive(path string, d Duration) {
	if d <= 0 {
		p.add(path, "must be positive (got %s)", d)
	}
}

func (c *Config) validate() []FieldError {
	var p problems
	p.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	p.oneOf("log.format", c.Log.Format, "text", "json")
	c.Admin.validate(&p, c.AdminAddress())
	c.Store.validate(&p)
	c.API.validate(&p)
	c.Delivery.validate(&p, c.API.Timeout)
	c.Mapper.validate(&p)
	c.MailSense.validate(&p)
	c.Threading.validate(&p)
	c.Auth.validate(&p)
	subchannels := validateSubchannels(&p, c.Subchannels)
	c.SMTP.validate(&p, subchannels)
	c.validateOwnAuthservID(&p)
	validateMailboxes(&p, c.Mailboxes, subchannels, c.OAuth2)
	validateRules(&p, c.Rules, subchannels)
	return p
}

func (s *Store) validate(p *problems) {
	p.positive("store.keepDelivered", s.KeepDelivered)
	switch s.Driver {
	case "sqlite":
		if s.Path == "" {
			p.add("store.path", "required for the sqlite driver")
		}
		if s.DSN != "" {
			p.add("store.dsn", "only for the postgres driver (store.driver is sqlite)")
		}
	case "postgres":
		if s.Path != "" {
			p.add("store.path", "only for the sqlite driver (store.driver is postgres)")
		}
		if msg := checkDSN(s.DSN.Value()); msg != "" {
			p.add("store.dsn", "%s", msg)
		}
	default:
		p.oneOf("store.driver", s.Driver, "sqlite", "postgres")
	}
}

// checkDSN looks at the form of a PostgreSQL connection string; the store
// reads it in full when it connects. The string is a secret, so the
// message does not quote it.
func checkDSN(dsn string) string {
	switch {
	case dsn == "":
		return "required for the postgres driver"
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		if _, err := url.Parse(dsn); err != nil {
			return "not a valid postgres:// URL"
		}
	case !strings.Contains(dsn, "="):
		return "must be a postgres:// URL or key=value pairs (host=... dbname=...)"
	}
	return ""
}

func (a *API) validate(p *problems) {
	if a.BaseURL != "" {
		u, err := url.Parse(a.BaseURL)
		if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
			p.add("api.baseURL", "must be an absolute http(s) URL (got %q)", a.BaseURL)
		}
		if !a.DryRun && a.Token == "" && a.TokenFile == "" {
			p.add("api.token", "required when api.baseURL is set (or use api.tokenFile)")
		}
	}
	p.positive("api.timeout", a.Timeout)
	if a.DryRun && a.DryRunDir == "" {
		p.add("api.dryRunDir", "required in dry run")
	}
	a.Ticket.validate(p)
}

func (t *TicketCreate) validate(p *problems) {
	if !strings.HasPrefix(t.Path, "/") {
		p.add("api.ticket.path", `must start with "/" (got %q)`, t.Path)
	}
	if t.IDField == "" {
		p.add("api.ticket.idField", "required")
	}
	p.oneOf("api.ticket.process", t.Process, "realtime", "batch", "false")
	p.oneOf("api.ticket.ticketBody", t.TicketBody, "none", "subject-only", "full")
	seen := map[string]int{}
	for i, f := range t.Fields {
		path := index("api.ticket.fields", i)
		if j, dup := seen[f]; dup {
			p.add(path, "duplicate field %q (also %s)", f, index("api.ticket.fields", j))
			continue
		}
		seen[f] = i
		if f == "body" {
			p.add(path, `"body" is chosen by api.ticket.ticketBody (none, subject-only or full)`)
			continue
		}
		if !slices.Contains(ticketFields, f) {
			p.add(path, "unknown field %q %s", f, hint(f, ticketFields))
		}
	}
}

func (d *Delivery) validate(p *problems, apiTimeout Duration) {
	if d.Workers < 1 || d.Workers > 256 {
		p.add("delivery.workers", "must be 1-256")
	}
	if d.MaxAttempts < 1 {
		p.add("delivery.maxAttempts", "must be at least 1")
	}
	p.positive("delivery.maxAge", d.MaxAge)
	p.positive("delivery.backoff.initial", d.Backoff.Initial)
	p.positive("delivery.backoff.max", d.Backoff.Max)
	p.positive("delivery.authRetry", d.AuthRetry)
	p.positive("delivery.lease", d.Lease)
	p.positive("delivery.pollInterval", d.Poll)
	if d.InflightBytes < 1 {
		p.add("delivery.inflightBytes", "must be at least 1")
	}
	if d.Backoff.Initial > d.Backoff.Max {
		p.add("delivery.backoff.initial", "must not exceed delivery.backoff.max (%s)", d.Backoff.Max)
	}
	if d.Lease > 0 && d.Lease <= apiTimeout {
		p.add("delivery.lease", "must be longer than api.timeout (%s): a lease that runs out "+
			"while a request is still in flight lets a second worker post the same message", apiTimeout)
	}
}

func (m *Mapper) validate(p *problems) {
	if _, err := time.LoadLocation(m.Timezone); err != nil {
		p.add("mapper.timezone", "unknown time zone %q", m.Timezone)
	}
	if n := m.InlineImageMaxBytes; n != nil && *n < 0 {
		p.add("mapper.inlineImageMaxBytes", "must not be negative (0 disables inlining)")
	}
	if m.BodyMaxBytes < minBodyMaxBytes {
		p.add("mapper.bodyMaxBytes", "must be at least %d: a body field shorter than that cuts ordinary mail", minBodyMaxBytes)
	}
	if m.Timeout < 0 {
		p.add("mapper.timeout", "must not be negative")
	}
}

// validateSubchannels checks the subchannels and returns where each id is
// configured, for the checks of the keys that refer to one.
func validateSubchannels(p *problems, subs []Subchannel) map[int]int {
	if len(subs) == 0 {
		p.add("subchannels", "at least one subchannel is required")
	}
	ids := map[int]int{}
	for i, s := range subs {
		path := index("subchannels", i)
		if s.ID < 1 {
			p.add(path+".id", "must be at least 1 (the enneo subchannel id)")
		} else if j, dup := ids[s.ID]; dup {
			p.add(path+".id", "duplicate subchannel %d (also %s)", s.ID, index("subchannels", j))
		} else {
			ids[s.ID] = i
		}
		p.oneOf(path+".process", s.Process, "realtime", "batch", "false")
		p.oneOf(path+".direction", s.Direction, "in", "out", "internal")
		p.oneOf(path+".unauthenticated", s.Unauthenticated, UnauthenticatedValues...)
	}
	return ids
}

// subchannelRef checks a key that names a subchannel by id.
func (p *problems) subchannelRef(path string, id int, subchannels map[int]int) {
	if _, ok := subchannels[id]; ok {
		return
	}
	if id == 0 {
		p.add(path, "required")
		return
	}
	var ids []string
	for _, id := range slices.Sorted(maps.Keys(subchannels)) {
		ids = append(ids, strconv.Itoa(id))
	}
	p.add(path, "unknown subchannel %d (configured: %s)", id, cmp.Or(strings.Join(ids, ", "), "none"))
}

func (s *SMTP) validate(p *problems, subchannels map[int]int) {
	names := map[string]int{}
	for i, l := range s.Listeners {
		path := index("smtp.listeners", i)
		validateAddress(p, path+".address", l.Address)
		p.oneOf(path+".mode", l.Mode, "smtp", "lmtp")
		if j, dup := names[l.Name]; dup {
			p.add(path+".name", "duplicate listener %q (also %s)", l.Name, index("smtp.listeners", j))
		} else {
			names[l.Name] = i
		}
		l.TLS.validate(p, path+".tls")
		validateAuthservIDs(p, path+".trustedAuthservIds", l.TrustedAuthservIDs)
	}
	for i, n := range s.AllowedNetworks {
		if _, err := netip.ParsePrefix(n); err != nil {
			p.add(index("smtp.allowedNetworks", i), "must be a CIDR such as 10.0.0.0/8 (got %q)", n)
		}
	}
	s.validateUsers(p)
	s.Limits.validate(p)
	s.Auth.validate(p)
	routes := map[string]int{}
	for i, r := range s.Routes {
		path := index("smtp.routes", i)
		key, err := routeKey(r.Address)
		switch {
		case !validRoute(r.Address):
			p.add(path+".address", "must be local@domain or *@domain (got %q)", r.Address)
		case err != nil:
			p.add(path+".address", "%v", err)
		default:
			if j, dup := routes[key]; dup {
				p.add(path+".address", "duplicate route %q (also %s)", r.Address, index("smtp.routes", j))
			} else {
				routes[key] = i
			}
		}
		p.subchannelRef(path+".subchannelId", r.SubchannelID, subchannels)
	}
}

func (t *ListenerTLS) validate(p *problems, path string) {
	p.oneOf(path+".mode", t.Mode, "none", "starttls", "implicit")
	if t.Mode != "none" && (t.CertFile == "" || t.KeyFile == "") {
		p.add(path, "certFile and keyFile are required with mode %s", t.Mode)
	}
}

func (s *SMTP) validateUsers(p *problems) {
	names := map[string]int{}
	for i, u := range s.Users {
		path := index("smtp.users", i)
		if u.Username == "" {
			p.add(path+".username", "required")
		} else if j, dup := names[u.Username]; dup {
			p.add(path+".username", "duplicate user %q (also %s)", u.Username, index("smtp.users", j))
		} else {
			names[u.Username] = i
		}
		n := 0
		for _, set := range []bool{u.Password != "", u.PasswordFile != "", u.PasswordHash != ""} {
			if set {
				n++
			}
		}
		if n != 1 {
			p.add(path+".password", "exactly one of password, passwordFile and passwordHash is required")
		}
		if h := string(u.PasswordHash); h != "" {
			if msg := checkBcrypt(h); msg != "" {
				p.add(path+".passwordHash", "%s", msg)
			}
		}
	}
}

// checkBcrypt parses a bcrypt hash as the listener will when a client logs
// in: a placeholder or a truncated hash would otherwise load, and then
// refuse every password. The hash is a secret; the message does not quote
// it.
func checkBcrypt(h string) string {
	const form = "must be a bcrypt hash: $2a$, $2b$ or $2y$, a cost, and 53 characters of salt and hash (htpasswd -nbB user password)"
	if !strings.HasPrefix(h, "$2a$") && !strings.HasPrefix(h, "$2b$") && !strings.HasPrefix(h, "$2y$") {
		return form
	}
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return fmt.Sprintf("%s; %v", form, err)
	}
	// Cost does not look at the salt and hash; their base64 alphabet is
	// ./A-Za-z0-9, after "$2a$10$".
	if len(h) != 60 || h[6] != '$' || strings.Trim(h[7:], "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
		return form
	}
	return ""
}

func (l *SMTPLimits) validate(p *problems) {
	const path = "smtp.limits."
	if l.MaxMessageBytes < 1 {
		p.add(path+"maxMessageBytes", "must be at least 1")
	}
	if l.MaxRecipients < 1 {
		p.add(path+"maxRecipients", "must be at least 1")
	}
	if l.MaxConnections < 1 {
		p.add(path+"maxConnections", "must be at least 1")
	}
	if l.MaxConnectionsPerIP < 1 || l.MaxConnectionsPerIP > l.MaxConnections {
		p.add(path+"maxConnectionsPerIP", "must be 1-%d (maxConnections)", l.MaxConnections)
	}
	if l.MaxLineLength < 1000 {
		// RFC 5321 4.5.3.1.6: a server must take lines of 1000 octets.
		p.add(path+"maxLineLength", "must be at least 1000 (RFC 5321)")
	}
	p.positive(path+"readTimeout", l.ReadTimeout)
	p.positive(path+"writeTimeout", l.WriteTimeout)
	p.positive(path+"dataTimeout", l.DataTimeout)
	p.positive(path+"shutdownTimeout", l.ShutdownTimeout)
	if l.ReservedConnections < 0 || l.ReservedConnections >= l.MaxConnections {
		p.add(path+"reservedConnections", "must be 0-%d (below maxConnections)", l.MaxConnections-1)
	}
	if outside := l.MaxConnections - l.ReservedConnections; l.OutsideConnectionsPerIP < 1 || l.OutsideConnectionsPerIP > outside {
		p.add(path+"outsideConnectionsPerIP", "must be 1-%d (maxConnections - reservedConnections)", outside)
	}
	p.positive(path+"outsideReadTimeout", l.OutsideReadTimeout)
	p.positive(path+"outsideSessionLifetime", l.OutsideSessionLifetime)
	p.positive(path+"sessionLifetime", l.SessionLifetime)
	if l.MaxErrors < l.MaxRecipients {
		// Else one message with many unknown recipients would be cut
		// off, retried and cut off again until it bounces.
		p.add(path+"maxErrors", "must be at least maxRecipients (%d)", l.MaxRecipients)
	}
	if l.DataBytesInFlight < l.MaxMessageBytes {
		p.add(path+"dataBytesInFlight", "must be at least maxMessageBytes (%d)", l.MaxMessageBytes)
	}
}

func (a *SMTPAuth) validate(p *problems) {
	const path = "smtp.auth."
	for _, n := range []struct {
		key string
		v   int
	}{{"maxFailuresPerConnection", a.MaxFailuresPerConnection}, {"lockoutFailures", a.LockoutFailures},
		{"maxConcurrentChecks", a.MaxConcurrentChecks}} {
		if n.v < 1 {
			p.add(path+n.key, "must be at least 1")
		}
	}
	// Fewer would let an attacker push a lockout out of memory with a
	// handful of addresses or names.
	if a.MaxTracked < 100 {
		p.add(path+"maxTracked", "must be at least 100")
	}
	p.positive(path+"tarpitInitial", a.TarpitInitial)
	p.positive(path+"tarpitMax", a.TarpitMax)
	if a.TarpitMax < a.TarpitInitial {
		p.add(path+"tarpitMax", "must be at least tarpitInitial (%s)", a.TarpitInitial)
	}
	// The answer must come before the client gives up on it (RFC 5321
	// 4.5.3.2: clients wait 5 minutes for most replies).
	if a.TarpitMax > Duration(time.Minute) {
		p.add(path+"tarpitMax", "must be at most 1m")
	}
	p.positive(path+"lockoutWindow", a.LockoutWindow)
	p.positive(path+"lockoutDuration", a.LockoutDuration)
	p.positive(path+"checkQueueTimeout", a.CheckQueueTimeout)
	p.positive(path+"logInterval", a.LogInterval)
}

// validateAddress checks a listening address. The host may be empty, as
// in ":2525", to listen on every interface.
func validateAddress(p *problems, path, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(path, "must be host:port (got %q)", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		p.add(path, "port must be 1-65535 (got %q)", port)
	}
}

// validRoute reports whether addr is local@domain or *@domain. Wildcards
// stand for the whole local part only: routing on parts of it would make
// the order of routes matter.
func validRoute(addr string) bool {
	local, domain, ok := strings.Cut(addr, "@")
	return ok && local != "" && domain != "" &&
		(local == "*" || !strings.Contains(local, "*")) &&
		!strings.ContainsAny(domain, "@* \t") && !strings.ContainsAny(local, " \t")
}

// routeKey is a route as the router compares it, ignoring the local
// part's case: two routes with the same key are one route, even when one
// spells the domain in Unicode and the other in punycode.
func routeKey(addr string) (string, error) {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return "", nil
	}
	domain, err := idn.Domain(addr[i+1:])
	if err != nil {
		return "", fmt.Errorf("not a valid domain name: %v", err)
	}
	return strings.ToLower(addr[:i]) + "@" + domain, nil
}

func validateMailboxes(p *problems, mailboxes []Mailbox, subchannels map[int]int, tokens OAuth2Tokens) {
	names := map[string]int{}
	folders := map[string]string{} // host, username, folder → first path
	for i, m := range mailboxes {
		path := index("mailboxes", i)
		if m.Name == "" {
			p.add(path+".name", "required")
		} else if j, dup := names[m.Name]; dup {
			p.add(path+".name", "duplicate mailbox %q (also %s)", m.Name, index("mailboxes", j))
		} else {
			names[m.Name] = i
		}
		p.subchannelRef(path+".subchannelId", m.SubchannelID, subchannels)
		m.validate(p, path, tokens)
		validateAuthservIDs(p, path+".trustedAuthservIds", m.TrustedAuthservIDs)
		for k, f := range m.Folders {
			fpath := index(path+".folders", k)
			if f == "" {
				p.add(fpath, "must not be empty")
				continue
			}
			// The same folder polled twice would store each mail twice.
			key := strings.ToLower(m.Host) + "\x00" + m.Username + "\x00" + f
			if first, dup := folders[key]; dup {
				p.add(fpath, "duplicate folder %q of %s on %s (also %s)", f, m.Username, m.Host, first)
			} else {
				folders[key] = fpath
			}
		}
	}
}

func (m *Mailbox) validate(p *problems, path string, tokens OAuth2Tokens) {
	if m.Host == "" {
		p.add(path+".host", "required")
	}
	if m.Port < 1 || m.Port > 65535 {
		p.add(path+".port", "must be 1-65535")
	}
	p.oneOf(path+".security", m.Security, "tls", "starttls", "none")
	if m.Username == "" {
		p.add(path+".username", "required")
	}
	if m.Auth != "" {
		p.oneOf(path+".auth", m.Auth, "password", "xoauth2")
	}
	switch {
	case m.Auth == "xoauth2":
		if m.OAuth2.TokenURL == "" {
			p.add(path+".oauth2.tokenURL", "required with auth: xoauth2")
		} else if u, err := url.Parse(m.OAuth2.TokenURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.add(path+".oauth2.tokenURL", "must be an http(s) URL")
		}
		if m.OAuth2.ClientID == "" {
			p.add(path+".oauth2.clientId", "required with auth: xoauth2")
		}
		m.OAuth2.validate(p, path+".oauth2", tokens)
	case m.Password == "" && m.PasswordFile == "":
		p.add(path+".password", "required (or use passwordFile)")
	case m.Password != "" && m.PasswordFile != "":
		p.add(path+".passwordFile", "cannot be used together with password")
	}
	p.positive(path+".pollInterval", m.PollInterval)
	if len(m.Folders) == 0 {
		p.add(path+".folders", "at least one folder is required")
	}
	if m.Security == "none" && !m.AllowInsecure {
		p.add(path+".security", "none sends the password in clear text; set allowInsecure: true to allow it")
	}
	p.positive(path+".idleRestart", m.IdleRestart)
	if m.IdleRestart > Duration(29*time.Minute) {
		p.add(path+".idleRestart", "must be at most 29m (servers drop IDLE after 30 minutes)")
	}
	p.positive(path+".timeout", m.Timeout)
	if m.BatchSize < 1 || m.BatchSize > 10000 {
		p.add(path+".batchSize", "must be 1-10000")
	}
	if m.MaxMessageBytes < 1 {
		p.add(path+".maxMessageBytes", "must be at least 1")
	}
	if _, _, err := ParseStartAt(m.StartAt); err != nil {
		p.add(path+".startAt", "%v", err)
	}
	if err := ValidAfterProcess(m.AfterProcess); err != nil {
		p.add(path+".afterProcess", "%v", err)
	}
	if m.Process != "" {
		p.oneOf(path+".process", m.Process, "realtime", "batch", "false")
	}
	if m.Direction != "" {
		p.oneOf(path+".direction", m.Direction, "in", "out", "internal")
	}
	for k, f := range m.Folders {
		if f != "" && (f == m.ErrorFolder || "move:"+f == m.AfterProcess) {
			p.add(index(path+".folders", k), "folder %q is also the afterProcess or errorFolder target", f)
		}
	}
}

// ParseStartAt parses a mailboxes[].startAt value: unseen, new, all, or
// since:YYYY-MM-DD ("since: 2026-01-01", which YAML needs quoted, and a
// bare date are taken too);
// empty is unseen, the default.
// It returns the kind (unseen, new, all or since) and, for since, the
// date at midnight UTC.
func ParseStartAt(s string) (kind string, since time.Time, err error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return "unseen", time.Time{}, nil
	case "unseen", "new", "all":
		return s, time.Time{}, nil
	}
	date := s
	if verb, arg, ok := strings.Cut(s, ":"); ok && strings.TrimSpace(verb) == "since" {
		date = strings.TrimSpace(arg)
	}
	since, err = time.Parse(time.DateOnly, date)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("must be unseen, new, all or since:YYYY-MM-DD; got %q", s)
	}
	return "since", since, nil
}

// ValidAfterProcess checks a mailboxes[].afterProcess value.
func ValidAfterProcess(s string) error {
	verb, arg, hasArg := strings.Cut(s, ":")
	switch verb {
	case "seen", "delete", "none":
		if hasArg {
			return fmt.Errorf("%q takes no argument", verb)
		}
		return nil
	case "flag":
		if arg == "" || strings.HasPrefix(arg, "\\") || strings.ContainsAny(arg, " ()[]{}%*\"\\") {
			return fmt.Errorf("flag:KEYWORD needs a keyword (an atom, not a system flag), got %q", arg)
		}
		return nil
	case "move":
		if arg == "" {
			return fmt.Errorf("move:FOLDER needs a folder")
		}
		return nil
	}
	return fmt.Errorf("must be seen, flag:KEYWORD, move:FOLDER, delete or none; got %q", s)
}
