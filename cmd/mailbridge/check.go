package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

func checkCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check", "[-c config.yaml]", stderr)
	cfgPath := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if _, err := pipelineConfig(cfg); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "config %s: ok\n", *cfgPath)

	ctx := context.Background()
	st, err := openStore(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	stats, err := st.Stats(ctx)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	fmt.Fprintf(stdout, "store %s: ok (%d queued, %d inflight, %d dead)\n", storeName(cfg.Store),
		stats.Counts["queued"], stats.Counts["inflight"], stats.Counts["dead"])
	if cfg.DryRun() {
		fmt.Fprintf(stdout, "api: dry run, payloads go to %s\n", cfg.API.DryRunDir)
	} else {
		fmt.Fprintf(stdout, "api: %s\n", cfg.API.BaseURL)
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
	// Logging in to every mailbox is what tells an admin that a password or
	// host is wrong before the daemon runs into it.
	mctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return errors.Join(subErr, checkMailboxes(mctx, cfg, stdout))
}
