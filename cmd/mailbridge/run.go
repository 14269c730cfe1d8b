package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func runCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", "[-c config.yaml]", stderr)
	cfgPath := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	a, err := openApp(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	// Sources configured in config.yaml but not part of this build would
	// look like a mailbox that never receives mail: refuse to start instead.
	if n := len(a.cfg.SMTP.Listeners); n > 0 {
		return usagef("smtp.listeners: %d configured, but this build has no SMTP source yet", n)
	}
	if n := len(a.cfg.Mailboxes); n > 0 {
		return usagef("mailboxes: %d configured, but this build has no IMAP source yet", n)
	}

	a.log.Info("mailbridge started", "version", version, "store", a.cfg.Store.Path,
		"dry_run", a.cfg.DryRun(), "workers", a.cfg.Delivery.Workers)
	if a.cfg.DryRun() {
		a.log.Info("dry run: payloads are written to files, not posted", "dir", a.cfg.API.DryRunDir)
	}
	err = a.pipeline.Run(ctx)
	a.log.Info("mailbridge stopped")
	return err
}
