package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/enneo/mailbridge/internal/safetext"
	"github.com/enneo/mailbridge/store/lease"
)

func checkCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check", "[-c config.yaml]", stderr)
	cfgPath := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx := context.Background()
	a, err := openApp(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	// run's own builders, so that check refuses whatever run would: the
	// listeners' certificates, routes, networks and users, the pollers.
	// Nothing is bound or started.
	if _, err := smtpListeners(a); err != nil {
		return err
	}
	for _, m := range a.cfg.Mailboxes {
		if _, err := mailboxSources(a, m, lease.Holder()); err != nil {
			return err
		}
	}
	cfg := a.cfg
	fmt.Fprintf(stdout, "config %s: ok\n", safetext.Line(*cfgPath))
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stdout, "warning: %s\n", safetext.Line(w.Error()))
	}
	stats, err := a.store.Stats(ctx)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	fmt.Fprintf(stdout, "store %s: ok (%d queued, %d inflight, %d dead)\n", safetext.Line(storeName(cfg.Store)),
		stats.Counts["queued"], stats.Counts["inflight"], stats.Counts["dead"])
	if cfg.DryRun() {
		fmt.Fprintf(stdout, "api: dry run, payloads go to %s\n", safetext.Line(cfg.API.DryRunDir))
	} else {
		fmt.Fprintf(stdout, "api: %s\n", safetext.Line(cfg.API.BaseURL))
	}
	for _, s := range cfg.Subchannels {
		fmt.Fprintf(stdout, "subchannel %d %q: process=%s direction=%s\n", s.ID, s.Name, s.Process, s.Direction)
	}
	// Unlike run, check has no way to start anyway: an API it cannot ask
	// is a failure (exit 1), a list that contradicts the configuration a
	// configuration error (exit 2). Either way the mailboxes are still
	// checked, so that one run shows everything to fix.
	var subErr error
	if cfg.DryRun() {
		fmt.Fprintln(stdout, "subchannels: not verified (dry run)")
	} else if subErr = verifySubchannels(ctx, cfg, newAPI(cfg).(subchannelLister)); subErr == nil {
		fmt.Fprintf(stdout, "subchannels: ok (%d exist at the API, channel email, enabled)\n", len(cfg.Subchannels))
	} else {
		fmt.Fprintln(stdout, "subchannels: FAILED")
	}
	if !cfg.DryRun() {
		// Not a failure: delivery works without the listing, only less
		// safely after a 5xx or a timeout.
		switch missing, err := conversationListing(ctx, newAPI(cfg)); {
		case missing:
			fmt.Fprintf(stdout, "warning: %s\n", listingMissingWarning)
		case err != nil:
			fmt.Fprintf(stdout, "conversation listing: not verified: %s\n", safetext.Line(err.Error()))
		default:
			fmt.Fprintln(stdout, "conversation listing: ok (a retry after a 5xx or a timeout checks before posting again)")
		}
	}
	// Logging in to every mailbox is what tells an admin that a password or
	// host is wrong before the daemon runs into it.
	mctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return errors.Join(subErr, checkMailboxes(mctx, cfg, a.store, stdout))
}
