package config

import (
	"net"
	"net/netip"

	"golang.org/x/crypto/bcrypt"
)

// Warnings lists settings that are legal but probably a mistake: mailbridge
// runs with them, and `mailbridge check` and the daemon's start say so.
// Each names its key, like a validation error.
func (c *Config) Warnings() []FieldError {
	var p problems
	s := &c.SMTP
	for i, n := range s.AllowedNetworks {
		pfx, err := netip.ParsePrefix(n)
		if err != nil {
			continue // a validation error
		}
		switch {
		case pfx.Bits() == 0:
			p.add(index("smtp.allowedNetworks", i), "%s lets every client on the internet that reaches a listener send mail without AUTH", n)
		case !internalPrefix(pfx.Masked()):
			p.add(index("smtp.allowedNetworks", i), "%s holds public addresses; clients from them send mail without AUTH", n)
		}
	}
	for i, l := range s.Listeners {
		if l.AllowInsecureAuth && l.TLS.Mode != "implicit" && !loopbackAddress(l.Address) {
			p.add(index("smtp.listeners", i)+".allowInsecureAuth",
				"passwords cross the network in clear text on %s, which is not a loopback address", l.Address)
		}
	}
	for i, u := range s.Users {
		if cost, err := bcrypt.Cost([]byte(u.PasswordHash)); err == nil && cost < bcrypt.DefaultCost {
			p.add(index("smtp.users", i)+".passwordHash", "bcrypt cost %d is below %d; a leaked hash is cheap to crack", cost, bcrypt.DefaultCost)
		}
	}
	c.oauth2Warnings(&p)
	return p
}

// internalPrefix reports whether every address of pfx is loopback, private
// (RFC 1918, RFC 4193) or link-local.
func internalPrefix(pfx netip.Prefix) bool {
	for _, q := range internalPrefixes {
		if q.Bits() <= pfx.Bits() && q.Contains(pfx.Addr()) {
			return true
		}
	}
	return false
}

var internalPrefixes = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
}

// loopbackAddress reports whether a listening address is on loopback
// only; an empty host listens on every interface.
func loopbackAddress(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
