// Package smtp is mailbridge's SMTP and LMTP source: the listener that
// mail servers (Postfix, Exim, Microsoft 365 and Google Workspace
// connectors) forward support mail to.
//
// A message is answered 250 only after mailbox.Ingester committed it for
// every subchannel its recipients are routed to; if the queue cannot take
// it the answer is 451 4.3.0, so the sending server keeps it and retries.
// Recipients no route matches are refused at RCPT with 550 5.1.1, and
// clients outside AllowedNetworks must authenticate, so the listener is
// never an open relay.
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gosmtp "github.com/enneo/mailbridge/internal/gosmtp"

	"github.com/enneo/mailbridge/mailbox"
)

// Options configure one listener.
type Options struct {
	// Name identifies the listener in logs and in each message's origin.
	Name    string
	Address string // host:port, for Run
	LMTP    bool
	// Hostname is this host's name in the greeting and Received headers
	// (default: os.Hostname).
	Hostname string

	// TLS enables STARTTLS, or TLS from the first byte with ImplicitTLS.
	TLS         *tls.Config
	ImplicitTLS bool
	// AllowInsecureAuth offers AUTH on connections without TLS.
	AllowInsecureAuth bool

	Router *Router
	// AllowedNetworks may send without AUTH; everyone else must log in as
	// one of Users.
	AllowedNetworks []netip.Prefix
	Users           []User

	MaxMessageBytes     int64
	MaxRecipients       int
	MaxLineLength       int
	MaxConnections      int
	MaxConnectionsPerIP int
	ReadTimeout         time.Duration // waiting for a command
	WriteTimeout        time.Duration
	DataTimeout         time.Duration // the whole DATA transfer

	// Clients outside AllowedNetworks, until they have authenticated and
	// sent MAIL FROM, share MaxConnections-ReservedConnections slots, at
	// most OutsideConnectionsPerIP from one address, wait at most
	// OutsideReadTimeout for a command and are disconnected after
	// OutsideSessionLifetime. Everyone else is disconnected after
	// SessionLifetime (between commands: a message transfer under way
	// finishes first).
	ReservedConnections     int
	OutsideConnectionsPerIP int
	OutsideReadTimeout      time.Duration
	OutsideSessionLifetime  time.Duration
	SessionLifetime         time.Duration
	// MaxErrors is how many refusals (unknown recipients, refused
	// senders or messages) a connection may collect since its last
	// accepted message before it is closed with 421 4.7.0.
	MaxErrors int
	// DataBudget bounds the message data buffered at once; listeners of
	// one process share one. Nil: a budget of DataBytesInFlight for this
	// listener alone. A message that cannot get budget within
	// DataBudgetWait is answered 452 4.3.1.
	DataBudget        *DataBudget
	DataBytesInFlight int64
	DataBudgetWait    time.Duration
	// ShutdownTimeout bounds how long Run waits, once its context is done,
	// for transactions under way to finish before it cuts them off.
	ShutdownTimeout time.Duration

	// Observer is told of refusals (metrics); nil ignores them.
	Observer Observer
	// Verifier checks each message's sender (DKIM, SPF, DMARC) once its
	// data is in; the header it returns is prepended to the message. Nil
	// checks nothing.
	Verifier Verifier
	// AuthGuard throttles AUTH; listeners that share one share its
	// lockouts and its bound on password checks. Nil: a guard of this
	// listener's own with DefaultAuthLimits.
	AuthGuard *AuthGuard
}

// Verifier authenticates a message's sender from what the session knows:
// the client address, its HELO name and MAIL FROM. It returns an
// Authentication-Results header (CRLF-terminated) and must bound its own
// work.
type Verifier interface {
	AuthenticationResults(ctx context.Context, ip netip.Addr, helo, mailFrom string, raw []byte) []byte
}

// ingestTimeout bounds one commit. A store slower than this is down for
// practical purposes, and 451 lets the sender retry later.
const ingestTimeout = time.Minute

// Server is one SMTP or LMTP listener feeding an Ingester.
type Server struct {
	opts     Options
	ingester mailbox.Ingester
	log      *slog.Logger
	// policy is who may send, as whom, to where; Reconfigure replaces it
	// while the listener runs.
	policy   atomic.Pointer[policy]
	draining atomic.Bool
	obs      Observer
	// quiet rate-limits the listener's own lines (refused connections,
	// lifetimes reached).
	quiet quietLog
	mu    sync.Mutex
	lim   *limitListener // set while serving
	// ctx is Serve's context without its cancellation: a commit that has
	// begun finishes even while the server shuts down.
	ctx context.Context
	// live is Serve's context: waits that may be cut short (the delay
	// before an AUTH failure's answer) end with it.
	live  context.Context
	guard *AuthGuard
}

// New checks opts, fills in defaults and returns a server ready to Run.
func New(opts Options, ing mailbox.Ingester, log *slog.Logger) (*Server, error) {
	if opts.Router == nil {
		return nil, errors.New("smtp: no router")
	}
	if opts.ImplicitTLS && opts.TLS == nil {
		return nil, errors.New("smtp: implicit TLS without a certificate")
	}
	if opts.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			h = "localhost"
		}
		opts.Hostname = h
	}
	setDefault(&opts.MaxMessageBytes, 25<<20)
	setDefault(&opts.MaxRecipients, 100)
	setDefault(&opts.MaxLineLength, 2000)
	setDefault(&opts.MaxConnections, 200)
	setDefault(&opts.MaxConnectionsPerIP, 20)
	setDefault(&opts.ReadTimeout, 5*time.Minute)
	setDefault(&opts.WriteTimeout, time.Minute)
	setDefault(&opts.DataTimeout, 10*time.Minute)
	setDefault(&opts.ShutdownTimeout, 30*time.Second)
	setDefault(&opts.ReservedConnections, opts.MaxConnections/4)
	setDefault(&opts.OutsideConnectionsPerIP, 5)
	setDefault(&opts.OutsideReadTimeout, time.Minute)
	setDefault(&opts.OutsideSessionLifetime, 10*time.Minute)
	setDefault(&opts.SessionLifetime, time.Hour)
	setDefault(&opts.MaxErrors, 100)
	setDefault(&opts.DataBytesInFlight, 128<<20)
	setDefault(&opts.DataBudgetWait, 30*time.Second)
	if opts.ReservedConnections >= opts.MaxConnections {
		return nil, errors.New("smtp: ReservedConnections must be below MaxConnections")
	}
	if opts.DataBudget == nil {
		opts.DataBudget = NewDataBudget(opts.DataBytesInFlight)
	}
	if opts.DataBudget.Size() < opts.MaxMessageBytes {
		return nil, errors.New("smtp: the data budget is smaller than MaxMessageBytes")
	}
	if opts.Name == "" {
		opts.Name = opts.Address
	}
	obs := opts.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	mode := "smtp"
	if opts.LMTP {
		mode = "lmtp"
	}
	s := &Server{
		opts:     opts,
		ingester: ing,
		log:      log.With("source", "smtp", "listener", opts.Name, "mode", mode),
		obs:      obs,
		ctx:      context.Background(),
		live:     context.Background(),
		guard:    opts.AuthGuard,
	}
	if s.guard == nil {
		s.guard = NewAuthGuard(AuthLimits{}, log)
	}
	s.policy.Store(&policy{router: opts.Router, networks: opts.AllowedNetworks, users: newUsers(opts.Users)})
	return s, nil
}

// policy is the part of Options a reload may change.
type policy struct {
	router   *Router
	networks []netip.Prefix
	users    users
}

// Reconfigure replaces the routes, the networks that may send without
// AUTH and the AUTH users (a SIGHUP reload). Connections stay open; each
// command from now on is judged by the new policy, so a transaction under
// way keeps the recipients it was granted.
func (s *Server) Reconfigure(router *Router, networks []netip.Prefix, list []User) error {
	if router == nil {
		return errors.New("smtp: no router")
	}
	s.policy.Store(&policy{router: router, networks: networks, users: newUsers(list)})
	return nil
}

// Name implements the daemon's source interface.
func (s *Server) Name() string { return "smtp " + s.opts.Name }

// Run listens on Options.Address and serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Address)
	if err != nil {
		return fmt.Errorf("smtp listener %s: %w", s.opts.Name, err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx is done. Then it stops
// accepting, closes idle connections with 421, lets transactions under
// way (MAIL FROM to the end of DATA) finish within ShutdownTimeout, and
// returns. ln is closed when Serve returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.ctx = context.WithoutCancel(ctx)
	s.live = ctx
	o := s.opts
	lim := newLimitListener(ln, admission{
		max: o.MaxConnections, perIP: o.MaxConnectionsPerIP,
		reserved: o.ReservedConnections, perIPOutside: o.OutsideConnectionsPerIP,
		idleOutside: o.OutsideReadTimeout, lifetime: o.SessionLifetime, lifetimeOutside: o.OutsideSessionLifetime,
	}, func(ip netip.Addr) bool { return s.policy.Load().allowedNetwork(ip) })
	lim.refused = func(ip netip.Addr, outside bool) {
		s.obs.Rejected(s.opts.Name, ReasonTooManyConns)
		s.quiet.log(s.log, slog.LevelWarn, "connection refused: too many connections; answered 421",
			"client_ip", ip.String(), "outside", outside)
	}
	lim.expired = func(ip netip.Addr) {
		s.obs.Rejected(s.opts.Name, ReasonLifetime)
		s.quiet.log(s.log, slog.LevelInfo, "session lifetime reached; answered 421 and closed",
			"client_ip", ip.String())
	}
	defer s.quiet.flush(s.log)
	s.setListener(lim)
	defer s.setListener(nil)
	var l net.Listener = lim
	if s.opts.ImplicitTLS {
		l = tls.NewListener(lim, s.opts.TLS)
	}
	srv := s.newSMTPServer()
	s.log.Info("listening", "address", ln.Addr().String(), "tls", s.tlsMode())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		_ = srv.Close()
		return fmt.Errorf("smtp listener %s: %w", s.opts.Name, err)
	case <-ctx.Done():
	}
	s.shutdown(srv, lim)
	<-errc
	return nil
}

func (s *Server) setListener(l *limitListener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lim = l
}

func (s *Server) newSMTPServer() *gosmtp.Server {
	srv := gosmtp.NewServer(&backend{s: s})
	srv.LMTP = s.opts.LMTP
	srv.Domain = s.opts.Hostname
	srv.TLSConfig = s.opts.TLS
	srv.AllowInsecureAuth = s.opts.AllowInsecureAuth
	// No limit for go-smtp: with one it answers MAIL FROM … SIZE= and
	// BDAT beyond it with 552 itself, unseen by the session, so neither
	// logged nor counted. Without one, EHLO announces SIZE without a
	// number (RFC 1870: the client declares, the server judges), Mail
	// refuses a declared size above MaxMessageBytes and Data stops
	// reading at it.
	srv.MaxMessageBytes = 0
	srv.MaxRecipients = s.opts.MaxRecipients
	srv.MaxLineLength = s.opts.MaxLineLength
	srv.ReadTimeout = s.opts.ReadTimeout
	srv.WriteTimeout = s.opts.WriteTimeout
	// Addresses and headers are stored as received; nothing downstream
	// needs them in ASCII.
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = errorLog{s.log}
	return srv
}

func (s *Server) tlsMode() string {
	switch {
	case s.opts.ImplicitTLS:
		return "implicit"
	case s.opts.TLS != nil:
		return "starttls"
	}
	return "none"
}

// shutdown drains srv: no new connections, no new transactions, idle
// clients told 421, transactions under way given ShutdownTimeout.
func (s *Server) shutdown(srv *gosmtp.Server, lim *limitListener) {
	s.draining.Store(true)
	// Stop accepting before the first idle client hears 421, so that it
	// cannot reconnect to a listener about to go away.
	_ = lim.Close()
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()

	// An idle client sits in a read; a read deadline in the past ends it
	// and go-smtp answers 421 4.4.2 and hangs up. go-smtp renews the
	// deadline before each command, so keep nudging until all are gone.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, c := range lim.idle() {
			_ = c.SetReadDeadline(time.Now())
		}
		select {
		case err := <-done:
			if err != nil {
				s.log.Warn("shutdown timeout: cutting off transactions under way; their senders will retry",
					"timeout", s.opts.ShutdownTimeout)
				_ = srv.Close()
			}
			s.log.Info("listener stopped")
			return
		case <-tick.C:
		}
	}
}

func (p *policy) allowedNetwork(ip netip.Addr) bool {
	for _, n := range p.networks {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// errorLog routes go-smtp's own messages (failed TLS handshakes, broken
// connections) to slog at debug level: they are the client's problem.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Printf(format string, v ...any) { e.print(fmt.Sprintf(format, v...)) }
func (e errorLog) Println(v ...any)               { e.print(fmt.Sprint(v...)) }

func (e errorLog) print(msg string) {
	if strings.HasPrefix(msg, "panic") {
		e.log.Error(msg) // a bug of ours, caught by go-smtp
		return
	}
	e.log.Debug(msg)
}
