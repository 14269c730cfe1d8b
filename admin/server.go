// Package admin is mailbridge's admin HTTP listener: Prometheus metrics at
// /metrics, liveness at /healthz, readiness at /readyz, a read-only status
// page at / and, when asked for, Go's profiler under /debug/pprof/. It only
// reads: nothing here changes the queue or a source. docs/operations.md
// describes every endpoint and metric.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/enneo/mailbridge/internal/safetext"
)

// Options configure the admin listener.
type Options struct {
	Metrics *Metrics
	Store   Store
	// Mailboxes lists the IMAP folders being polled now; a reload
	// changes them, so they are asked for at each scrape and page view.
	Mailboxes func() []Mailbox
	Listeners []Listener
	// Notices are warnings the status page shows at its top (e.g. an
	// OAuth2 client secret about to expire); asked for at each view.
	Notices func() []string
	Version string
	// DryRun is shown on the status page.
	DryRun bool
	// Pprof serves net/http/pprof's handlers under /debug/pprof/.
	Pprof bool
	Log   *slog.Logger
}

// Server serves the admin endpoints.
type Server struct {
	opts     Options
	mux      *http.ServeMux
	started  time.Time
	draining atomic.Bool
	now      func() time.Time
}

// New returns a Server for o; o.Metrics gets the scrape-time collector of
// the queue and the sources.
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Mailboxes == nil {
		o.Mailboxes = func() []Mailbox { return nil }
	}
	s := &Server{opts: o, mux: http.NewServeMux(), started: time.Now(), now: time.Now}
	o.Metrics.reg.MustRegister(&collector{store: o.Store, mailboxes: o.Mailboxes, listeners: o.Listeners, now: s.clock})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(o.Metrics.reg, promhttp.HandlerOpts{
		ErrorLog: slogPrinter{o.Log}, ErrorHandling: promhttp.ContinueOnError,
	}))
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("GET /{$}", s.statusPage)
	if o.Pprof {
		// Mounted here by hand: the package's init also registers them on
		// http.DefaultServeMux, which no listener of the daemon serves.
		s.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		s.mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		s.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		s.mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return s
}

func (s *Server) clock() time.Time { return s.now() }

// ServeHTTP serves the admin endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Drain makes /readyz answer 503 from now on: the daemon is stopping, and
// a load balancer should send no new mail.
func (s *Server) Drain() { s.draining.Store(true) }

// Serve answers on ln until ctx is done, then gives requests under way a
// few seconds; their contexts end with ctx, so that a long one (a CPU
// profile) ends early and answers rather than holding up the stop. ln is
// closed when Serve returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(s.opts.Log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("admin listener: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(shutdown)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// readiness checks what taking mail needs: the queue answers, and every
// SMTP listener accepts connections. IMAP connections are not part of it:
// a mail server that is down is reported (status page, metrics), but no
// traffic to this process would bring it back.
func (s *Server) readiness(ctx context.Context) (ready bool, checks []string) {
	ready = true
	fail := func(format string, args ...any) {
		ready = false
		checks = append(checks, "FAIL "+safetext.Line(fmt.Sprintf(format, args...)))
	}
	if s.draining.Load() {
		fail("shutting down")
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err := s.opts.Store.Ping(ctx); err != nil {
		fail("store: %v", err)
	} else {
		checks = append(checks, "ok   store")
	}
	for _, l := range s.opts.Listeners {
		st := l.Status()
		if !st.Listening {
			fail("smtp listener %s (%s): not listening", st.Name, st.Address)
			continue
		}
		checks = append(checks, fmt.Sprintf("ok   smtp listener %s (%s)", st.Name, st.Address))
	}
	return ready, checks
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ready, checks := s.readiness(r.Context())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, strings.Join(checks, "\n"))
}

// slogPrinter hands promhttp's errors (a collector failing) to slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Warn("metrics: " + fmt.Sprint(v...)) }
