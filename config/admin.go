package config

import (
	"net"
	"strconv"
)

// DefaultAdminListen is admin.listen when the key is unset: loopback only,
// since the status page shows senders and subjects of dead letters.
const DefaultAdminListen = "127.0.0.1:9090"

// Admin is the HTTP listener for metrics, health checks and the status
// page.
type Admin struct {
	// Listen is host:port; "off" or "" turns the listener off. A pointer,
	// so that an explicit "" differs from an unset key (the default).
	Listen *string `yaml:"listen"`
	// Pprof serves Go's profiler (net/http/pprof) under /debug/pprof/.
	Pprof bool `yaml:"pprof"`
}

// AdminAddress is where the admin listener listens, "" when it is off.
func (c *Config) AdminAddress() string {
	if c.Admin.Listen == nil || *c.Admin.Listen == "off" {
		return ""
	}
	return *c.Admin.Listen
}

func (a *Admin) applyDefaults() {
	if a.Listen == nil {
		s := DefaultAdminListen
		a.Listen = &s
	}
}

// validate accepts port 0 (any free port, which the daemon logs), unlike
// the SMTP listeners: tests run several daemons at once.
func (a *Admin) validate(p *problems, addr string) {
	if addr == "" {
		if a.Pprof {
			p.add("admin.pprof", "needs the admin listener, and admin.listen is off")
		}
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add("admin.listen", `must be host:port or "off" (got %q)`, addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add("admin.listen", "port must be 0-65535 (got %q)", port)
	}
}
