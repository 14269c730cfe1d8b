package config

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// Auth is sender authentication: whether the SMTP listeners verify DKIM,
// SPF and DMARC themselves, and which other servers' verdicts
// (Authentication-Results headers) are believed.
type Auth struct {
	// Verify makes the SMTP/LMTP listeners check each message's DKIM
	// signatures, SPF for MAIL FROM and the client address, and DMARC
	// alignment, and prepend the verdict as an Authentication-Results
	// header (default false). Turn it on where mailbridge is the MX or
	// the MX passes mail on unchanged with the client address it saw
	// gone, i.e. not behind a server that verifies itself.
	Verify bool `yaml:"verify"`
	// AuthservID names mailbridge in the header it writes (default
	// smtp.hostname, else the OS hostname).
	AuthservID string `yaml:"authservId"`
	// TrustedAuthservIDs are the servers whose Authentication-Results
	// header is believed: the topmost header of one of them is read for
	// SMTP/LMTP mail when Verify is off (behind Postfix with
	// OpenDKIM/OpenDMARC) and a listener has no list of its own, and for
	// mail from the command line. IMAP mailboxes trust only their own
	// mailboxes[].trustedAuthservIds.
	TrustedAuthservIDs []string `yaml:"trustedAuthservIds"`
	// DNSServer (host:port) receives every query; default the system
	// resolver.
	DNSServer  string   `yaml:"dnsServer"`
	DNSTimeout Duration `yaml:"dnsTimeout"` // per query, default 5s
	CacheTTL   Duration `yaml:"cacheTTL"`   // default 5m
	// Timeout bounds the whole check of one message (default 15s); what
	// is not decided by then is temperror.
	Timeout Duration `yaml:"timeout"`
	// MaxSignatures is how many DKIM signatures of a message are
	// verified (default 5).
	MaxSignatures int `yaml:"maxSignatures"`
	// ProcessRejected lets the AI run on mail that fails DMARC for a
	// domain whose policy is p=reject (default false: such mail is
	// stored with process "false" whatever the subchannel's policy).
	ProcessRejected bool `yaml:"processRejected"`
}

// UnauthenticatedValues are the values of subchannels[].unauthenticated.
var UnauthenticatedValues = []string{"store", "tag", "process-false", "hold"}

const maxSignaturesLimit = 50

func (a *Auth) applyDefaults(hostname string) {
	setDefault(&a.AuthservID, hostname)
	setDefault(&a.DNSTimeout, Duration(5*time.Second))
	setDefault(&a.CacheTTL, Duration(5*time.Minute))
	setDefault(&a.Timeout, Duration(15*time.Second))
	setDefault(&a.MaxSignatures, 5)
}

func (a *Auth) validate(p *problems) {
	const path = "auth."
	p.positive(path+"dnsTimeout", a.DNSTimeout)
	p.positive(path+"cacheTTL", a.CacheTTL)
	p.positive(path+"timeout", a.Timeout)
	if a.MaxSignatures < 1 || a.MaxSignatures > maxSignaturesLimit {
		p.add(path+"maxSignatures", "must be 1-%d (got %d)", maxSignaturesLimit, a.MaxSignatures)
	}
	if a.DNSServer != "" {
		if _, _, err := net.SplitHostPort(a.DNSServer); err != nil {
			p.add(path+"dnsServer", "must be host:port (got %q)", a.DNSServer)
		}
	}
	if strings.ContainsAny(a.AuthservID, " \t;()") {
		p.add(path+"authservId", "must be one word without ; or parentheses (got %q)", a.AuthservID)
	}
	validateAuthservIDs(p, path+"trustedAuthservIds", a.TrustedAuthservIDs)
}

// validateAuthservIDs checks a list of trusted authserv-ids at path.
func validateAuthservIDs(p *problems, path string, ids []string) {
	for i, id := range ids {
		if strings.TrimSpace(id) == "" || strings.ContainsAny(id, " \t;()") {
			p.add(fmt.Sprintf("%s[%d]", path, i), "must be one word without ; or parentheses (got %q)", id)
		}
	}
}

// validateOwnAuthservID refuses a listener that trusts mailbridge's own
// authserv-id while mailbridge verifies: its own header is read only as
// the first field, so a trusted server's header of that id would never be.
func (c *Config) validateOwnAuthservID(p *problems) {
	if !c.Auth.Verify {
		return
	}
	for i, l := range c.SMTP.Listeners {
		for j, id := range l.TrustedAuthservIDs {
			if strings.EqualFold(id, c.Auth.AuthservID) {
				p.add(fmt.Sprintf("%s.trustedAuthservIds[%d]", index("smtp.listeners", i), j),
					"%q is auth.authservId, mailbridge's own: give auth.authservId another name", id)
			}
		}
	}
}
