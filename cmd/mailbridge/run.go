package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func runCmd(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runDaemon(ctx, args, stdout, stderr)
}

// runDaemon is the daemon until ctx ends; split from runCmd so that tests
// can stop it without signalling their own process.
func runDaemon(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", "[-c config.yaml] [--start-without-api]", stderr)
	cfgPath := configFlag(fs)
	// A flag, not a config key: starting blind is a decision for one
	// incident (accept mail into the queue while enneo is down), and a key
	// would stay in config.yaml and silently disable the check for good.
	withoutAPI := fs.Bool("start-without-api", false,
		"start even when the API cannot be reached to verify the subchannels (mismatches still refuse)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	tuneGC()
	// Caught from the start: SIGHUP's default action would end the daemon
	// if it came while the daemon was still starting.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	a, err := openApp(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.own(ctx); err != nil {
		return err
	}
	logWarnings(a.log, a.cfg)
	if err := a.checkSubchannels(ctx, *withoutAPI); err != nil {
		return err
	}
	listeners, err := smtpListeners(a)
	if err != nil {
		return err
	}
	// Every socket is bound before any source or worker starts, so that a
	// port in use stops the daemon before it has polled a mailbox or
	// served a client, and the error names the listener.
	sockets, err := a.bindAll(ctx)
	if err != nil {
		return err
	}
	handedOver := false
	defer func() {
		if !handedOver {
			sockets.close()
		}
	}()
	// Sources and workers share ctx: on SIGTERM the sources stop taking
	// mail and finish what they accepted, the workers finish the attempts
	// under way; anything else stays queued for the next start.
	errs := make(chan error, len(listeners)+1)
	failed := func(err error) {
		select {
		case errs <- err:
		default: // one is enough to say why the daemon stopped
		}
		stop() // a source that cannot run takes the daemon down
	}
	mailboxes := newMailboxSet(ctx, a, failed)
	if err := mailboxes.apply(a.cfg.Mailboxes); err != nil {
		return err
	}
	handedOver = true
	stopAdmin := a.startAdmin(ctx, sockets.admin, listeners, mailboxes.statuses, mailboxes.notices)
	defer stopAdmin()
	a.log.Info("mailbridge started", "version", currentVersion().String(), "store", storeName(a.cfg.Store),
		"dry_run", a.cfg.DryRun(), "workers", a.cfg.Delivery.Workers)
	if a.cfg.DryRun() {
		a.log.Info("dry run: payloads are written to files, not posted", "dir", a.cfg.API.DryRunDir)
	}
	var wg sync.WaitGroup
	for i, l := range listeners {
		wg.Go(func() {
			if err := l.Serve(ctx, sockets.smtp[i]); err != nil {
				failed(fmt.Errorf("%s: %w", l.Name(), err))
			}
		})
	}
	r := &reloader{a: a, path: *cfgPath, cfg: a.cfg, listeners: listeners, mailboxes: mailboxes}
	wg.Go(func() { r.onHangup(ctx, hup) })
	err = a.pipeline.Run(ctx)
	wg.Wait()
	mailboxes.wait()
	close(errs)
	for e := range errs {
		err = errors.Join(err, e)
	}
	a.log.Info("mailbridge stopped")
	return err
}

// owner is a store that one daemon delivers from (SQLite): the daemon owns
// it, and takes over the claims of the daemon that ran before.
type owner interface {
	Own(ctx context.Context, now time.Time, grace time.Duration) (int, error)
}

// own makes this daemon the owner of a store that has one. The messages
// that were in flight when the daemon before it stopped are attempted at
// once, as uncertain attempts, instead of after their leases.
func (a *app) own(ctx context.Context) error {
	o, ok := a.store.(owner)
	if !ok {
		return nil
	}
	// The grace is api.timeout: a request the daemon before sent last may
	// still be under way at the API that long.
	n, err := o.Own(ctx, time.Now(), a.cfg.API.Timeout.D())
	if err != nil {
		return fmt.Errorf("store %s: %w", storeName(a.cfg.Store), err)
	}
	if n > 0 {
		a.log.Warn("messages were in flight when the daemon before this one stopped; they are attempted after api.timeout, with a check at the API for an earlier store",
			"messages", n, "after", a.cfg.API.Timeout.D())
	}
	return nil
}

// checkSubchannels verifies the configured subchannels at the API before
// any source takes mail: mail accepted for a subchannel enneo rejects
// would only pile up as dead letters.
func (a *app) checkSubchannels(ctx context.Context, withoutAPI bool) error {
	if a.cfg.DryRun() {
		a.log.Info("subchannel check skipped: dry run")
		return nil
	}
	a.checkListing(ctx)
	err := verifySubchannels(ctx, a.cfg, a.api)
	var le listError
	switch {
	case err == nil:
		a.log.Info("subchannels verified", "count", len(a.cfg.Subchannels))
		return nil
	case !errors.As(err, &le):
		return err
	case le.notOffered():
		a.log.Warn("subchannel check skipped: the API does not list subchannels; check api.baseURL", "err", le.err)
		return nil
	case le.unreachable() && withoutAPI:
		a.log.Warn("subchannel check skipped: API unreachable, starting because of --start-without-api", "err", le.err)
		return nil
	case le.unreachable():
		return fmt.Errorf("%w (run with --start-without-api to start anyway)", err)
	}
	return err
}

// checkListing says once at start whether the API lacks the conversation
// listing; delivery then posts again unchecked after an uncertain attempt.
// A probe that cannot be answered says nothing: delivery finds out itself.
func (a *app) checkListing(ctx context.Context) {
	missing, err := conversationListing(ctx, a.api)
	switch {
	case missing:
		a.log.Warn(listingMissingWarning, "err", err)
	case err != nil:
		a.log.Debug("conversation listing not probed", "err", err)
	}
}

// daemonGCPercent is the daemon's GOGC unless the environment sets one.
//
// The daemon's live heap is small (a few MB of queue and connection
// state) while every message allocates several times its size, so Go's
// default of 100 collects every few MB and the collector takes a large
// share of the CPU under load. Under large mail the live heap is the mail
// in flight, and the heap grows to 1+GOGC/100 times that: with 20
// connections of 1 MB mail, 400 peaked at 660-670 MB RSS and 200 at
// 435-480 MB for the same CPU per message, and 10 KB mail cost about as
// much CPU at either (docs/benchmarks.md, "Cost per byte and per message").
// Under large mail gcHeadroom lowers it.
const daemonGCPercent = 200

// daemonMemoryLimit is the soft memory limit unless GOMEMLIMIT is set.
//
// GOGC lets the heap reach several times what is live. Under large mail
// the live heap is a few hundred MB, bounded by delivery.inflightBytes,
// and several times that is more than a small host has; with the limit the
// collector runs earlier instead, spending CPU to keep the daemon near a
// gigabyte (docs/benchmarks.md, "Memory"). Small mail never comes near it.
const daemonMemoryLimit = 1 << 30

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		tuneGCToHeap(daemonGCPercent, gcHeadroom)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit("/sys/fs/cgroup", "/proc/self/cgroup"))
	}
}

// memoryLimit is daemonMemoryLimit, or three quarters of the tightest
// cgroup v2 memory.max above the daemon when that is lower: the rest is
// for what the Go heap does not count (stacks, SQLite's page cache). The
// daemon's cgroup is read from self (/proc/self/cgroup, "0::/path"), so
// that a systemd unit's MemoryMax counts as well as a container's.
func memoryLimit(root, self string) int64 {
	limit := int64(daemonMemoryLimit)
	b, err := os.ReadFile(self)
	if err != nil {
		return limit
	}
	dir := ""
	for line := range strings.Lines(string(b)) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			dir = path.Clean("/" + p)
		}
	}
	for {
		if b, err := os.ReadFile(filepath.Join(root, dir, "memory.max")); err == nil {
			// "max" when unlimited
			if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
				limit = min(limit, n/4*3)
			}
		}
		if dir == "/" || dir == "" {
			return limit
		}
		dir = path.Dir(dir)
	}
}
