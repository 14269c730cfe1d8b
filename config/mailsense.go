package config

import (
	"net/mail"
	"strings"
	"time"
)

// MailSense is what mailbridge makes of a mail beyond its content: whether
// a machine sent it (auto-reply, bounce, list) and what then happens to
// it, mail loops, the sender's priority and the conversation's direction.
type MailSense struct {
	Policies    SensePolicies `yaml:"policies"`
	LoopBreaker LoopBreaker   `yaml:"loopBreaker"`
	// UrgentPriority is the enneo priority of a mail marked
	// "Priority: urgent": high (default) or urgent.
	UrgentPriority string `yaml:"urgentPriority"`
	// InternalDomains are the organisation's own mail domains; mail from
	// them (or a subdomain) is stored with direction internal.
	InternalDomains []string `yaml:"internalDomains"`
	// OwnAddresses are addresses mailbridge's mail is sent from, beyond the
	// exact smtp.routes addresses and the address-like mailbox usernames;
	// mail from them is stored with direction out.
	OwnAddresses []string `yaml:"ownAddresses"`
}

// SensePolicies say what happens to machine-written mail, per class:
// store (stored with process "false"), skip (recorded as delivered, not
// posted), deadletter, or post (like a person's mail).
type SensePolicies struct {
	AutoReply string `yaml:"autoReply"` // default store
	Bounce    string `yaml:"bounce"`    // default store
	List      string `yaml:"list"`      // default post
}

// sensePolicyValues are the values of mailSense.policies.*.
var sensePolicyValues = []string{"store", "skip", "deadletter", "post"}

// LoopBreaker holds mail from a sender who writes to one subchannel more
// often than any person would, which is what two auto-responders
// answering each other look like.
type LoopBreaker struct {
	// Max is how many mails from one sender to one subchannel pass within
	// Window (default 20); the next ones are dead-lettered. A pointer
	// because 0 turns the breaker off.
	Max    *int     `yaml:"max"`
	Window Duration `yaml:"window"` // default 10m
}

// maxLoopBreakerMax bounds the times the breaker remembers per sender.
const maxLoopBreakerMax = 10000

const defaultLoopBreakerMax = 20

func (m *MailSense) applyDefaults() {
	setDefault(&m.Policies.AutoReply, "store")
	setDefault(&m.Policies.Bounce, "store")
	// A support address that is itself a list (a Google Group, a Mailman
	// list) puts List-Id on every mail; anything but post would silence
	// every customer.
	setDefault(&m.Policies.List, "post")
	if m.LoopBreaker.Max == nil {
		n := defaultLoopBreakerMax
		m.LoopBreaker.Max = &n
	}
	setDefault(&m.LoopBreaker.Window, Duration(10*time.Minute))
	setDefault(&m.UrgentPriority, "high")
}

func (m *MailSense) validate(p *problems) {
	const path = "mailSense."
	p.oneOf(path+"policies.autoReply", m.Policies.AutoReply, sensePolicyValues...)
	p.oneOf(path+"policies.bounce", m.Policies.Bounce, sensePolicyValues...)
	p.oneOf(path+"policies.list", m.Policies.List, sensePolicyValues...)
	if n := m.LoopBreaker.Max; n != nil && (*n < 0 || *n > maxLoopBreakerMax) {
		p.add(path+"loopBreaker.max", "must be 0-%d (0 turns the loop breaker off)", maxLoopBreakerMax)
	}
	p.positive(path+"loopBreaker.window", m.LoopBreaker.Window)
	// The store call's priority is one of low, medium, high, urgent
	// (shared/spec/openapi.yaml); only the upper two fit an urgent mail.
	p.oneOf(path+"urgentPriority", m.UrgentPriority, "high", "urgent")

	domains := map[string]int{}
	for i, d := range m.InternalDomains {
		ipath := index(path+"internalDomains", i)
		key := strings.ToLower(d)
		switch {
		case strings.HasPrefix(d, "*.") || strings.HasPrefix(d, "."):
			p.add(ipath, "must be a domain such as example.com; its subdomains are included anyway (got %q)", d)
		case !validDomain(d):
			p.add(ipath, "must be a domain such as example.com, without @ (got %q)", d)
		default:
			if j, dup := domains[key]; dup {
				p.add(ipath, "duplicate domain %q (also %s)", d, index(path+"internalDomains", j))
			} else {
				domains[key] = i
			}
		}
	}
	addrs := map[string]int{}
	for i, a := range m.OwnAddresses {
		ipath := index(path+"ownAddresses", i)
		key := strings.ToLower(a)
		switch {
		case strings.Contains(a, "*"):
			p.add(ipath, "must be an exact address; wildcards are not allowed (got %q)", a)
		case !isAddress(a):
			p.add(ipath, "must be an address such as support@example.com (got %q)", a)
		default:
			if j, dup := addrs[key]; dup {
				p.add(ipath, "duplicate address %q (also %s)", a, index(path+"ownAddresses", j))
			} else {
				addrs[key] = i
			}
		}
	}
}

// validDomain accepts a bare domain name: dot-separated labels without
// the characters that would make it an address, a pattern or a list.
func validDomain(d string) bool {
	if d == "" || strings.ContainsAny(d, "@*<>,;: \t") || strings.HasSuffix(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" {
			return false
		}
	}
	return true
}

// isAddress reports whether s is a bare addr-spec (no display name, no
// brackets) with a domain.
func isAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	_, domain, ok := strings.Cut(s, "@")
	return ok && validDomain(domain)
}

// OwnAddresses are the addresses mailbridge receives for, and so the ones
// its own outgoing mail comes from: mailSense.ownAddresses, the exact
// smtp.routes addresses (a *@domain route names no sender) and the
// mailboxes[].username values that are addresses. They are lower-cased
// and listed once.
func (c *Config) OwnAddresses() []string {
	var out []string
	seen := map[string]bool{}
	add := func(a string) {
		a = strings.ToLower(strings.TrimSpace(a))
		if !seen[a] && isAddress(a) {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, a := range c.MailSense.OwnAddresses {
		add(a)
	}
	for _, r := range c.SMTP.Routes {
		if !strings.HasPrefix(r.Address, "*@") {
			add(r.Address)
		}
	}
	for _, m := range c.Mailboxes {
		add(m.Username)
	}
	return out
}
