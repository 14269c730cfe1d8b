package smtp

import (
	"fmt"
	"strings"

	"github.com/enneo/mailbridge/internal/idn"
)

// Route maps recipient addresses to a subchannel: an exact address
// (support@example.com) or a whole domain (*@help.example.com).
type Route struct {
	Address      string
	SubchannelID int
}

// Router finds the subchannel of a recipient. Lookups are map hits, so the
// order of routes never matters: an exact address wins over its plus
// form, which wins over the domain wildcard.
type Router struct {
	exact         map[string]int // normalised local@domain
	domains       map[string]int // domain of *@domain, in idn.Domain's form
	caseSensitive bool
}

// NewRouter compiles routes. With caseSensitiveLocal false, local parts
// match regardless of case, as they do on nearly every real mail server.
// Domains match in either IDNA form: a route for *@bücher.example takes
// mail for xn--bcher-kva.example, and the other way round.
func NewRouter(routes []Route, caseSensitiveLocal bool) (*Router, error) {
	r := &Router{exact: map[string]int{}, domains: map[string]int{}, caseSensitive: caseSensitiveLocal}
	for _, rt := range routes {
		local, domain, ok := splitAddress(rt.Address)
		if !ok {
			return nil, fmt.Errorf("smtp: route %q: not local@domain", rt.Address)
		}
		domain, err := idn.Domain(domain)
		if err != nil {
			return nil, fmt.Errorf("smtp: route %q: %v", rt.Address, err)
		}
		if local == "*" {
			r.domains[domain] = rt.SubchannelID
			continue
		}
		r.exact[r.key(local, domain)] = rt.SubchannelID
	}
	return r, nil
}

// Lookup returns the subchannel rcpt is routed to. Plus-addressing is
// understood: support+billing@example.com goes where support@example.com
// goes unless it has a route of its own. A domain that is not valid IDNA
// matches no route.
func (r *Router) Lookup(rcpt string) (subchannel int, ok bool) {
	local, domain, ok := splitAddress(rcpt)
	if !ok {
		return 0, false
	}
	domain, err := idn.Domain(domain)
	if err != nil {
		return 0, false
	}
	if id, ok := r.exact[r.key(local, domain)]; ok {
		return id, true
	}
	if base, _, plus := strings.Cut(local, "+"); plus && base != "" {
		if id, ok := r.exact[r.key(base, domain)]; ok {
			return id, true
		}
	}
	id, ok := r.domains[domain]
	return id, ok
}

func (r *Router) key(local, domain string) string {
	if !r.caseSensitive {
		local = strings.ToLower(local)
	}
	return local + "@" + domain
}

// splitAddress splits at the last @, as a quoted local part may hold one.
func splitAddress(addr string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(addr, '@')
	if i < 1 || i == len(addr)-1 {
		return "", "", false
	}
	return addr[:i], addr[i+1:], true
}
