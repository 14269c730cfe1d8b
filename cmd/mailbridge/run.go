package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
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
	tuneGC()

	a, err := openApp(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	sources, err := buildSources(a)
	if err != nil {
		return err
	}
	a.log.Info("mailbridge started", "version", version, "store", a.cfg.Store.Path,
		"dry_run", a.cfg.DryRun(), "workers", a.cfg.Delivery.Workers)
	if a.cfg.DryRun() {
		a.log.Info("dry run: payloads are written to files, not posted", "dir", a.cfg.API.DryRunDir)
	}
	// Sources and workers share ctx: on SIGTERM the sources stop taking
	// mail and finish what they accepted, the workers finish the attempts
	// under way; anything else stays queued for the next start.
	var wg sync.WaitGroup
	errs := make(chan error, len(sources))
	for _, s := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", s.Name(), err)
				stop() // a source that cannot run takes the daemon down
			}
		}()
	}
	err = a.pipeline.Run(ctx)
	wg.Wait()
	close(errs)
	for e := range errs {
		err = errors.Join(err, e)
	}
	a.log.Info("mailbridge stopped")
	return err
}

// daemonGCPercent is the daemon's GOGC unless the environment sets one.
//
// The daemon's live heap is small (a few MB of queue and connection
// state) while every message allocates several times its size, so Go's
// default of 100 collects every few MB: under SMTP load a third of the
// daemon's CPU went to the collector. At 400 it took 30% less CPU per
// message for ~15 MB more RSS (mailbench smtp, README). Big attachments
// scale the heap with them, so containers with a memory limit should
// also set GOMEMLIMIT, which the runtime honours by itself.
const daemonGCPercent = 400

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(daemonGCPercent)
	}
}
