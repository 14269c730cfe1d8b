package smtp

import (
	"container/list"
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	gosmtp "github.com/enneo/mailbridge/internal/gosmtp"
)

// AuthLimits bound what failed SMTP AUTH attempts can cost, in the manner
// of Postfix's anvil and Dovecot's auth penalty. Zero fields take the
// defaults of DefaultAuthLimits.
type AuthLimits struct {
	// MaxFailuresPerConnection: after this many failed or refused AUTH
	// commands on one connection the answer is 421 4.7.0 and the
	// connection is closed.
	MaxFailuresPerConnection int
	// TarpitInitial is the delay before the answer to a client address's
	// first failure; each further failure within LockoutWindow doubles it,
	// up to TarpitMax.
	TarpitInitial, TarpitMax time.Duration
	// LockoutFailures failures within LockoutWindow lock a client address,
	// or a user name, out for LockoutDuration.
	LockoutFailures int
	LockoutWindow   time.Duration
	LockoutDuration time.Duration
	// MaxConcurrentChecks bounds the password checks (bcrypt) running at
	// once across all listeners sharing the guard; a check that waits
	// longer than CheckQueueTimeout is answered 454 4.7.0.
	MaxConcurrentChecks int
	CheckQueueTimeout   time.Duration
	// MaxTracked bounds the client addresses and the user names
	// remembered (each); beyond it the least recently seen are forgotten.
	MaxTracked int
	// LogInterval: failures from one client address are logged once per
	// interval, with their count.
	LogInterval time.Duration
}

// DefaultAuthLimits are anvil- and Dovecot-like: a delay of 1s, 2s, 4s…
// up to 15s (Dovecot's cap), a disconnect after 3 failures on a
// connection, 10 failures in 10 minutes locking out for 15 minutes.
var DefaultAuthLimits = AuthLimits{
	MaxFailuresPerConnection: 3,
	TarpitInitial:            time.Second,
	TarpitMax:                15 * time.Second,
	LockoutFailures:          10,
	LockoutWindow:            10 * time.Minute,
	LockoutDuration:          15 * time.Minute,
	MaxConcurrentChecks:      1,
	CheckQueueTimeout:        10 * time.Second,
	MaxTracked:               10000,
	LogInterval:              time.Minute,
}

func (l AuthLimits) withDefaults() AuthLimits {
	d := DefaultAuthLimits
	setDefault(&l.MaxFailuresPerConnection, d.MaxFailuresPerConnection)
	setDefault(&l.TarpitInitial, d.TarpitInitial)
	setDefault(&l.TarpitMax, d.TarpitMax)
	setDefault(&l.LockoutFailures, d.LockoutFailures)
	setDefault(&l.LockoutWindow, d.LockoutWindow)
	setDefault(&l.LockoutDuration, d.LockoutDuration)
	setDefault(&l.MaxConcurrentChecks, d.MaxConcurrentChecks)
	setDefault(&l.CheckQueueTimeout, d.CheckQueueTimeout)
	setDefault(&l.MaxTracked, d.MaxTracked)
	setDefault(&l.LogInterval, d.LogInterval)
	l.TarpitMax = max(l.TarpitMax, l.TarpitInitial)
	return l
}

// AuthObserver, when the Observer implements it too, is told of each
// failed AUTH and each lockout, for metrics.
type AuthObserver interface {
	AuthFailed(listener string)
	// AuthLockedOut: scope is "address" or "user".
	AuthLockedOut(listener, scope string)
}

// Refusals of AUTH other than a wrong password.
const (
	ReasonAuthLocked Reason = "auth_locked" // AUTH: 454 4.7.0, address or user locked out
	ReasonAuthBusy   Reason = "auth_busy"   // AUTH: 454 4.7.0, too many checks waiting
)

var (
	// 454, not 535: the password was not looked at, so the answer must
	// not read as "wrong password". A legitimate client whose address or
	// account an attacker got locked keeps its mail and retries later
	// instead of bouncing it or asking its user for a new password.
	errAuthLocked = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
		Message: "Temporary authentication failure, try again later"}
	errAuthBusy = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
		Message: "Temporary authentication failure: server busy, try again later"}
	errAuthTooMany = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
		Message: "Too many authentication failures, closing connection"}
)

// maxKeptUserName bounds the bytes of a user name kept as a key: the name
// comes from the client.
const maxKeptUserName = 256

// keptGoodAddresses is how many client addresses are remembered per user
// as having logged in; the per-user lockout does not bind them.
const keptGoodAddresses = 16

// AuthGuard throttles AUTH for the listeners that share it: a delay that
// grows with each failure of a client address, lockouts per address and
// per user name, a bound on concurrent password checks and a
// rate-limited log. Its state is in memory and bounded by MaxTracked.
type AuthGuard struct {
	log    *slog.Logger
	limits atomic.Pointer[AuthLimits]
	sem    atomic.Pointer[chan struct{}]
	// now is the clock; tests replace it.
	now func() time.Time

	mu        sync.Mutex
	addrs     lru[netip.Prefix, *failures]
	names     lru[string, *failures]
	good      map[string]map[netip.Prefix]time.Time // user → addresses that logged in, and when
	lastSweep time.Time

	// checking and peak count password checks under way, for tests.
	checking, peak atomic.Int32
}

// failures is what the guard knows of one client address or user name.
type failures struct {
	n           int       // failures since first
	first       time.Time // start of the window; zero: none
	lockedUntil time.Time
	// The rate-limited log (addresses only).
	pending  int // failures not yet logged
	loggedAt time.Time
	lastUser string
	locked   int // refusals while locked, not yet logged
}

// NewAuthGuard returns a guard with limits (zero fields: defaults),
// logging to log.
func NewAuthGuard(limits AuthLimits, log *slog.Logger) *AuthGuard {
	g := &AuthGuard{log: log.With("source", "smtp"), now: time.Now, good: map[string]map[netip.Prefix]time.Time{}}
	g.SetLimits(limits)
	return g
}

// SetLimits replaces the limits (a SIGHUP reload); what the guard
// remembers stays. Checks under way finish under the old concurrency
// bound.
func (g *AuthGuard) SetLimits(limits AuthLimits) {
	l := limits.withDefaults()
	if old := g.limits.Load(); old == nil || old.MaxConcurrentChecks != l.MaxConcurrentChecks {
		sem := make(chan struct{}, l.MaxConcurrentChecks)
		g.sem.Store(&sem)
	}
	g.limits.Store(&l)
}

// AuthGuard returns the listener's guard, for a reload to give it new
// limits.
func (s *Server) AuthGuard() *AuthGuard { return s.guard }

// Limits returns the limits in effect.
func (g *AuthGuard) Limits() AuthLimits { return *g.limits.Load() }

// addrKey is what a client address counts as: IPv6 clients by their /64,
// which one subscriber usually holds whole.
func addrKey(ip netip.Addr) netip.Prefix {
	bits := ip.BitLen()
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

func nameKey(user string) string {
	if len(user) > maxKeptUserName {
		return user[:maxKeptUserName]
	}
	return user
}

// verdict is the guard's answer before a password is checked.
type verdict struct {
	locked string // "address" or "user" if locked out, else ""
}

// admit says whether ip may try user's password now. The per-user
// lockout does not bind addresses that have logged in as user before, so
// that an attacker guessing a real name cannot lock its owner out.
func (g *AuthGuard) admit(ip netip.Addr, user string) verdict {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.sweep(now)
	ak := addrKey(ip)
	if f, ok := g.addrs.peek(ak); ok && now.Before(f.lockedUntil) {
		return verdict{locked: "address"}
	}
	if _, known := g.good[user][ak]; !known {
		if f, ok := g.names.peek(nameKey(user)); ok && now.Before(f.lockedUntil) {
			return verdict{locked: "user"}
		}
	}
	return verdict{}
}

// check runs the password check within the concurrency bound. ok is
// false with busy true when no slot came free in time or ctx ended.
func (g *AuthGuard) check(ctx context.Context, u users, user, password string) (ok, busy bool) {
	sem := *g.sem.Load()
	t := time.NewTimer(g.limits.Load().CheckQueueTimeout)
	defer t.Stop()
	select {
	case sem <- struct{}{}:
	case <-t.C:
		return false, true
	case <-ctx.Done():
		return false, true
	}
	defer func() { <-sem }()
	n := g.checking.Add(1)
	defer g.checking.Add(-1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	return u.check(user, password), false
}

// succeeded remembers that ip logged in as user.
func (g *AuthGuard) succeeded(ip netip.Addr, user string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.good[user]
	if m == nil {
		m = map[netip.Prefix]time.Time{}
		g.good[user] = m
	}
	m[addrKey(ip)] = g.now()
	if len(m) > keptGoodAddresses {
		var oldest netip.Prefix
		var at time.Time
		for k, t := range m {
			if at.IsZero() || t.Before(at) {
				oldest, at = k, t
			}
		}
		delete(m, oldest)
	}
}

// outcome is what a failure or a refusal leads to.
type outcome struct {
	delay    time.Duration
	lockouts []string // scopes newly locked out
}

// failed records a wrong password from ip for user and returns the delay
// before the answer and any lockouts it caused. A failure from an
// address that has logged in as user does not count against user.
func (g *AuthGuard) failed(ip netip.Addr, user string) outcome {
	l := g.limits.Load()
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	ak := addrKey(ip)
	var out outcome
	a := g.addrs.get(ak, l.MaxTracked, newFailures)
	if a.count(now, l) {
		out.lockouts = append(out.lockouts, "address")
		g.log.Warn("authentication locked out: too many failures from this client address",
			"client_ip", ak.String(), "failures", l.LockoutFailures, "within", l.LockoutWindow, "for", l.LockoutDuration)
	}
	if _, known := g.good[user][ak]; !known {
		if g.names.get(nameKey(user), l.MaxTracked, newFailures).count(now, l) {
			out.lockouts = append(out.lockouts, "user")
			g.log.Warn("authentication locked out: too many failures for this user name",
				"user", nameKey(user), "failures", l.LockoutFailures, "within", l.LockoutWindow, "for", l.LockoutDuration)
		}
	}
	a.pending++
	a.lastUser = nameKey(user)
	g.logFailures(ak, a, now, l)
	out.delay = a.delay(l)
	return out
}

// refusedLocked records an attempt refused by a lockout and returns the
// delay before the answer: the longest, as for the failure that locked.
func (g *AuthGuard) refusedLocked(ip netip.Addr, user string) time.Duration {
	l := g.limits.Load()
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	ak := addrKey(ip)
	a := g.addrs.get(ak, l.MaxTracked, newFailures)
	a.locked++
	a.lastUser = nameKey(user)
	g.logFailures(ak, a, now, l)
	return l.TarpitMax
}

func newFailures() *failures { return &failures{} }

// count adds a failure and reports whether it started a lockout.
func (f *failures) count(now time.Time, l *AuthLimits) bool {
	if f.first.IsZero() || now.Sub(f.first) >= l.LockoutWindow {
		f.first, f.n = now, 0
	}
	f.n++
	if f.n >= l.LockoutFailures && !now.Before(f.lockedUntil) {
		f.lockedUntil = now.Add(l.LockoutDuration)
		return true
	}
	return false
}

// delay is TarpitInitial doubled for each earlier failure in the window.
func (f *failures) delay(l *AuthLimits) time.Duration {
	d := l.TarpitInitial
	for i := 1; i < f.n && d < l.TarpitMax; i++ {
		d *= 2
	}
	return min(d, l.TarpitMax)
}

// logFailures writes one line per address per LogInterval, with the
// failures since the last one; the rest wait for the next line or the
// sweep.
func (g *AuthGuard) logFailures(ak netip.Prefix, a *failures, now time.Time, l *AuthLimits) {
	if a.pending+a.locked == 0 || now.Sub(a.loggedAt) < l.LogInterval {
		return
	}
	g.log.Warn("authentication failures", "client_ip", ak.String(), "failures", a.pending,
		"refused_locked", a.locked, "last_user", a.lastUser, "locked", now.Before(a.lockedUntil))
	a.pending, a.locked, a.loggedAt = 0, 0, now
}

// sweep, at most once per LogInterval, logs failures still pending and
// forgets entries whose window and lockout are over.
func (g *AuthGuard) sweep(now time.Time) {
	l := g.limits.Load()
	if now.Sub(g.lastSweep) < l.LogInterval {
		return
	}
	g.lastSweep = now
	stale := func(f *failures) bool {
		return now.Sub(f.first) >= l.LockoutWindow && !now.Before(f.lockedUntil)
	}
	g.addrs.each(func(k netip.Prefix, f *failures) bool {
		g.logFailures(k, f, now, l)
		return stale(f) && f.pending+f.locked == 0
	})
	g.names.each(func(_ string, f *failures) bool { return stale(f) })
}

// tracked returns how many addresses and user names the guard remembers.
func (g *AuthGuard) tracked() (addrs, names int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.addrs.len(), g.names.len()
}

// lru is a map bounded by evicting the least recently used entry.
type lru[K comparable, V any] struct {
	m     map[K]*list.Element
	order list.List // front: most recent
}

type lruEntry[K comparable, V any] struct {
	k K
	v V
}

func (c *lru[K, V]) peek(k K) (V, bool) {
	if e, ok := c.m[k]; ok {
		return e.Value.(*lruEntry[K, V]).v, true
	}
	var zero V
	return zero, false
}

// get returns k's value, made by mk if absent, and marks it most
// recently used; the map is kept to max entries.
func (c *lru[K, V]) get(k K, max int, mk func() V) V {
	if c.m == nil {
		c.m = map[K]*list.Element{}
	}
	if e, ok := c.m[k]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*lruEntry[K, V]).v
	}
	for len(c.m) >= max {
		last := c.order.Back()
		delete(c.m, last.Value.(*lruEntry[K, V]).k)
		c.order.Remove(last)
	}
	v := mk()
	c.m[k] = c.order.PushFront(&lruEntry[K, V]{k: k, v: v})
	return v
}

// each calls f on every entry and removes those for which it is true.
func (c *lru[K, V]) each(f func(K, V) bool) {
	for e := c.order.Front(); e != nil; {
		next := e.Next()
		en := e.Value.(*lruEntry[K, V])
		if f(en.k, en.v) {
			delete(c.m, en.k)
			c.order.Remove(e)
		}
		e = next
	}
}

func (c *lru[K, V]) len() int { return len(c.m) }

// authenticate is the SASL callback: the lockouts, the bounded password
// check, the delay before a failure's answer and the disconnect after
// MaxFailuresPerConnection.
func (s *session) authenticate(identity, username, password string) error {
	g := s.srv.guard
	if v := g.admit(s.ip, username); v.locked != "" {
		s.refused(ReasonAuthLocked)
		return s.authRefused(g.refusedLocked(s.ip, username), errAuthLocked)
	}
	ok, busy := g.check(s.srv.live, s.srv.policy.Load().users, username, password)
	if busy {
		s.quiet.log(s.log, slog.LevelInfo, "authentication refused: too many password checks waiting", "user", nameKey(username))
		s.refused(ReasonAuthBusy)
		return errAuthBusy
	}
	// Acting for someone else (an authorization identity) has no meaning
	// here: there are no mailboxes to act on.
	if ok && (identity == "" || identity == username) {
		g.succeeded(s.ip, username)
		s.user = username
		s.log = s.log.With("user", username)
		return nil
	}
	out := g.failed(s.ip, username)
	s.refused(ReasonAuthFailed)
	if ao, ok := s.srv.obs.(AuthObserver); ok {
		ao.AuthFailed(s.srv.opts.Name)
		for _, scope := range out.lockouts {
			ao.AuthLockedOut(s.srv.opts.Name, scope)
		}
	}
	return s.authRefused(out.delay, gosmtp.ErrAuthFailed)
}

// authRefused waits delay (the client's own connection waits, nothing
// shared), then answers reply, or 421 and closes the connection when this
// was one refusal too many.
func (s *session) authRefused(delay time.Duration, reply *gosmtp.SMTPError) error {
	t := time.NewTimer(delay)
	select {
	case <-t.C:
	case <-s.srv.live.Done():
		t.Stop()
	}
	s.authFailures++
	if s.authFailures < s.srv.guard.Limits().MaxFailuresPerConnection {
		return reply
	}
	// go-smtp has no way to close after an AUTH reply: write the 421
	// here and close; its own reply then goes nowhere and its next read
	// ends the session.
	nc := s.conn.Conn()
	_ = nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = nc.Write([]byte("421 4.7.0 " + errAuthTooMany.Message + "\r\n"))
	_ = nc.Close()
	return reply
}
