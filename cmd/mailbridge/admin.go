package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/enneo/mailbridge/admin"
	"github.com/enneo/mailbridge/config"
	"github.com/enneo/mailbridge/internal/safetext"
	"github.com/enneo/mailbridge/mailbox/smtp"
)

// subchannelIDs are the configured subchannels, whose delivery counters
// start at 0.
func subchannelIDs(cfg *config.Config) []int {
	ids := make([]int, len(cfg.Subchannels))
	for i, s := range cfg.Subchannels {
		ids[i] = s.ID
	}
	return ids
}

// startAdmin serves the admin endpoints on ln, bound by bindAll, over the
// store and the sources; with ln nil (admin.listen: off) it does nothing.
// From the moment ctx ends /readyz answers 503, while the sources and
// workers finish; the listener itself stays until stop, which the daemon
// calls once they have.
func (a *app) startAdmin(ctx context.Context, ln net.Listener, listeners []*smtp.Server, mailboxes func() []admin.Mailbox, notices func() []string) (stop func()) {
	if ln == nil {
		a.log.Info("admin listener off (admin.listen)")
		return func() {}
	}
	o := admin.Options{Metrics: a.metrics, Store: a.store, Mailboxes: mailboxes, Notices: notices, Version: currentVersion().String(), DryRun: a.cfg.DryRun(), Pprof: a.cfg.Admin.Pprof, Log: a.log}
	for _, l := range listeners {
		o.Listeners = append(o.Listeners, l)
	}
	srv := admin.New(o)
	a.log.Info("admin listener: /metrics, /healthz, /readyz and the status page", "address", ln.Addr().String(), "pprof", o.Pprof)
	serveCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(serveCtx, ln); err != nil {
			a.log.Error("admin listener failed", "err", err)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			srv.Drain()
		case <-done:
		}
	}()
	return func() { cancel(); <-done }
}

// defaultHealthURL is /healthz at admin.listen's default.
const defaultHealthURL = "http://" + config.DefaultAdminListen + "/healthz"

// healthCmd asks a running daemon's admin listener whether it is alive:
// exit 0 for a 200, 1 otherwise. It is the Docker image's HEALTHCHECK,
// which has no shell or curl to do it.
func healthCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("health", "[-url URL] [-timeout D]", stderr)
	url := fs.String("url", defaultHealthURL, "`URL` to GET; /readyz asks whether it takes mail")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this `duration`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return usagef("health: unexpected arguments %q", fs.Args())
	}
	client := &http.Client{Timeout: *timeout}
	resp, err := client.Get(*url)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %s: %s", *url, resp.Status, safetext.Line(string(body)))
	}
	fmt.Fprint(stdout, safetext.Text(string(body)))
	return nil
}
