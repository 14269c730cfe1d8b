package mailauth

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"
)

// Resolver is the DNS a check asks. Its method set is the one the SPF
// library takes, so one resolver serves DKIM, SPF and DMARC. A lookup that
// finds no record returns a *net.DNSError with IsNotFound; any other
// failure must not look like an answer (see Cache, which makes it a
// temporary *net.DNSError).
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// NewNetResolver is the system resolver, or, with server set (host:port),
// a resolver that sends every query to that server.
func NewNetResolver(server string) *net.Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
}

// Cache wraps a Resolver with a per-lookup timeout and a bounded cache of
// answers, including "no such record" answers. Failures are not cached,
// and each comes back as a temporary *net.DNSError, so that DKIM, SPF and
// DMARC all read it as temperror, never as an absent record or a pass.
type Cache struct {
	next    Resolver
	timeout time.Duration
	ttl     time.Duration
	max     int
	now     func() time.Time

	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	val     any
	err     error // nil or a not-found *net.DNSError
	expires time.Time
}

// NewCache returns a cache over next. timeout bounds each lookup (default
// 5s), ttl is how long an answer is kept (default 5m), max the number of
// answers kept (default 10000; the cache is emptied when full).
func NewCache(next Resolver, timeout, ttl time.Duration, max int) *Cache {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	if max <= 0 {
		max = 10000
	}
	return &Cache{next: next, timeout: timeout, ttl: ttl, max: max, now: time.Now, entries: map[string]cacheEntry{}}
}

func (c *Cache) LookupTXT(ctx context.Context, name string) ([]string, error) {
	v, err := lookup(c, ctx, "txt", name, c.next.LookupTXT)
	return v, err
}

func (c *Cache) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return lookup(c, ctx, "mx", name, c.next.LookupMX)
}

func (c *Cache) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return lookup(c, ctx, "ip", host, c.next.LookupIPAddr)
}

func (c *Cache) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return lookup(c, ctx, "ptr", addr, c.next.LookupAddr)
}

// Key returns what fill returned for name within the cache's ttl (parsed
// DKIM keys, kept beside the records they come from); a failure is not
// kept.
func (c *Cache) Key(name string, fill func() (any, error)) (any, error) {
	key := "key " + strings.ToLower(name)
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.val, nil
	}
	v, err := fill()
	if err != nil {
		return nil, err
	}
	c.store(key, cacheEntry{val: v, expires: now.Add(c.ttl)})
	return v, nil
}

func (c *Cache) store(key string, e cacheEntry) {
	c.mu.Lock()
	if len(c.entries) >= c.max {
		clear(c.entries)
	}
	c.entries[key] = e
	c.mu.Unlock()
}

func lookup[T any](c *Cache, ctx context.Context, kind, name string, f func(context.Context, string) (T, error)) (T, error) {
	key := kind + " " + strings.ToLower(strings.TrimSuffix(name, "."))
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		v, _ := e.val.(T)
		return v, e.err
	}
	lctx, cancel := context.WithTimeout(ctx, c.timeout)
	v, err := f(lctx, name)
	cancel()
	if err != nil {
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			var zero T
			return zero, &net.DNSError{Err: "lookup failed: " + err.Error(), Name: name, IsTemporary: true}
		}
		err = &net.DNSError{Err: de.Err, Name: name, IsNotFound: true}
	}
	c.store(key, cacheEntry{val: v, err: err, expires: now.Add(c.ttl)})
	return v, err
}
