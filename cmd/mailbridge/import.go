package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/enneo/mailbridge/config"
	"github.com/enneo/mailbridge/internal/safetext"
	mbimap "github.com/enneo/mailbridge/mailbox/imap"
	"github.com/enneo/mailbridge/pipeline"
	"github.com/enneo/mailbridge/store"
)

// importCmd reads a mailbox's old mail into the queue as archive mail
// (posted with process "false") and delivers it, a small batch at a time
// so that live mail keeps its place in the queue.
func importCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("import", "[-c config.yaml] [--folder F] [--since YYYY-MM-DD] [--until YYYY-MM-DD] MAILBOX", stderr)
	cfgPath := configFlag(fs)
	folder := fs.String("folder", "", "the `folder` to import (default: the mailbox's folders)")
	since := fs.String("since", "", "only mail received on or after this `date` (YYYY-MM-DD, by INTERNALDATE)")
	until := fs.String("until", "", "only mail received before this `date` (YYYY-MM-DD)")
	direction := fs.String("direction", "", "the conversations' `direction`, in or out (default: out for a Sent folder, else in)")
	batch := fs.Int("batch", 20, "messages queued at a time; the next batch waits until fewer than this wait in the queue")
	wait := fs.Duration("wait", 10*time.Minute, "how long to go on delivering once everything is queued")
	verbose := fs.Bool("v", false, "log each message (log.level of the configuration); otherwise only warnings and errors")
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(names) != 1 {
		fs.Usage()
		return usagef("import: one MAILBOX expected")
	}
	opts, err := importOptions(*since, *until, *direction)
	if err != nil {
		return err
	}
	if *batch < 1 || *batch > 10000 {
		return usagef("import: --batch must be 1-10000")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if !*verbose && (cfg.Log.Level == "info" || cfg.Log.Level == "debug") {
		// Three lines per message would bury the progress.
		cfg.Log.Level = "warn"
	}
	a, err := openAppConfig(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	var m *config.Mailbox
	for i := range a.cfg.Mailboxes {
		if a.cfg.Mailboxes[i].Name == names[0] {
			m = &a.cfg.Mailboxes[i]
		}
	}
	if m == nil {
		return usagef("import: mailbox %q is not in the configuration's mailboxes", names[0])
	}
	folders := m.Folders
	if *folder != "" {
		folders = []string{*folder}
	}

	// The workers deliver what is queued, live mail included, while the
	// import runs; a daemon running meanwhile delivers too.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	workDone := make(chan error, 1)
	go func() { workDone <- a.pipeline.Run(workCtx) }()
	defer func() { stopWork(); <-workDone }()

	opts.Throttle = func(ctx context.Context) error { return waitPending(ctx, a.store, *batch) }
	account, err := a.imapAccount(*m) // one token source for all its folders
	if err != nil {
		return err
	}
	startAt, err := imapStartAt(*m)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range folders {
		show := newProgress(stdout, m.Name+"/"+f)
		opts.Progress = show.update
		opts.Live = slices.Contains(m.Folders, f)
		res, err := mbimap.Import(ctx, mbimap.Config{
			Account:         account,
			Folder:          f,
			SubchannelID:    m.SubchannelID,
			BatchSize:       *batch,
			MaxMessageBytes: m.MaxMessageBytes,
			StartAt:         startAt,
			Ingester:        a.pipeline,
			Checkpoints:     a.store,
			Permanent:       func(err error) bool { return errors.Is(err, pipeline.ErrEmpty) },
			Log:             a.log,
		}, opts)
		show.finish()
		if err != nil {
			fmt.Fprintf(stdout, "import %s/%s: stopped after %d of %d: %s (run it again to resume)\n",
				safetext.Line(m.Name), safetext.Line(f), res.Done, res.Total, safetext.Line(err.Error()))
			errs = append(errs, fmt.Errorf("import %s: %w", f, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		resumed := ""
		if res.Resumed {
			resumed = ", resuming an earlier run"
		}
		fmt.Fprintf(stdout, "import %s/%s: %s messages queued as archive (direction %s%s), %d skipped\n",
			safetext.Line(m.Name), safetext.Line(f), thousands(res.Done-res.SetAside), res.Direction, resumed, res.SetAside)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Deliver what is queued before leaving; a daemon delivers the rest.
	wctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	if err := waitPending(wctx, a.store, 1); err != nil {
		st, _ := a.store.Stats(ctx)
		fmt.Fprintf(stdout, "import: %d messages still queued; the daemon delivers them\n",
			st.Counts[store.Queued]+st.Counts[store.Inflight])
		return nil
	}
	fmt.Fprintln(stdout, "import: everything queued is delivered")
	return nil
}

// parseInterspersed parses flags before and after the positional
// arguments, so that both `import support --since D` and
// `import --since D support` work, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// importOptions parses the date range and direction flags.
func importOptions(since, until, direction string) (mbimap.ImportOptions, error) {
	var o mbimap.ImportOptions
	for _, d := range []struct {
		flag, value string
		to          *time.Time
	}{{"since", since, &o.Since}, {"until", until, &o.Until}} {
		if d.value == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, d.value)
		if err != nil {
			return o, usagef("import: --%s %q: want YYYY-MM-DD", d.flag, d.value)
		}
		*d.to = t
	}
	if !o.Since.IsZero() && !o.Until.IsZero() && !o.Until.After(o.Since) {
		return o, usagef("import: --until must be after --since")
	}
	switch direction {
	case "", "in", "out", "internal":
		o.Direction = direction
	default:
		return o, usagef("import: --direction must be in, out or internal")
	}
	return o, nil
}

// queueCounter is the part of the store waitPending reads.
type queueCounter interface {
	Stats(ctx context.Context) (store.Stats, error)
}

// The pace of waitPending's counts. A count is a query over the whole
// queue (a GROUP BY over the message table on PostgreSQL), so it counts
// again when the queue should have drained below the mark at the rate it
// drained since the last count, halved so as not to leave the workers
// idle; between pendingPollMin and pendingPollMax, and doubling while the
// queue does not drain at all (the API is slow or down).
const (
	pendingPollMin = 100 * time.Millisecond
	pendingPollMax = 2 * time.Second
)

// waitPending returns once fewer than n messages are queued or in flight,
// the import's own included: the archive is queued a batch at a time, and
// live mail queued meanwhile waits behind one batch at most.
func waitPending(ctx context.Context, st queueCounter, n int) error {
	var wait time.Duration
	var last int
	var lastAt time.Time
	for {
		s, err := st.Stats(ctx)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		pending := s.Counts[store.Queued] + s.Counts[store.Inflight]
		if pending < n {
			return nil
		}
		now := time.Now()
		if lastAt.IsZero() {
			wait = pendingPollMin
		} else {
			wait = nextPendingPoll(wait, last-pending, now.Sub(lastAt), pending-n+1)
		}
		last, lastAt = pending, now
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// nextPendingPoll is the wait before the next count, after the previous
// wait, when the queue shrank by drained in elapsed and has left more to
// go before it is below the mark.
func nextPendingPoll(wait time.Duration, drained int, elapsed time.Duration, left int) time.Duration {
	if drained <= 0 || elapsed <= 0 {
		return min(max(2*wait, pendingPollMin), pendingPollMax)
	}
	eta := time.Duration(float64(elapsed) * float64(left) / float64(drained))
	return min(max(eta/2, pendingPollMin), pendingPollMax)
}

// progress shows an import's progress: a bar with rate and ETA on a
// terminal, else a plain line every few seconds.
type progress struct {
	w     io.Writer
	name  string
	bar   *progressbar.ProgressBar // nil when not on a terminal
	start time.Time
	last  time.Time // of the last plain line
	done  int
	total int
}

// plainEvery is how often a plain progress line is written.
const plainEvery = 5 * time.Second

func newProgress(w io.Writer, name string) *progress {
	p := &progress{w: w, name: name, start: time.Now()}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("import "+safetext.Line(name)),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("msgs"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond))
	}
	return p
}

func (p *progress) update(done, total int) {
	if p.bar != nil {
		if p.bar.GetMax() != total {
			p.bar.ChangeMax(total)
		}
		_ = p.bar.Set(done)
		return
	}
	p.done, p.total = done, total
	if now := time.Now(); now.Sub(p.last) >= plainEvery || done == total {
		p.last = now
		fmt.Fprintln(p.w, p.line(now))
	}
}

// line is a plain progress line: "import support/INBOX: 120/500 (24%),
// 40 msgs/s, ETA 10s".
func (p *progress) line(now time.Time) string {
	s := fmt.Sprintf("import %s: %s/%s", safetext.Line(p.name), thousands(p.done), thousands(p.total))
	if p.total > 0 {
		s += fmt.Sprintf(" (%d%%)", p.done*100/p.total)
	}
	elapsed := now.Sub(p.start).Seconds()
	if p.done > 0 && elapsed > 0 {
		rate := float64(p.done) / elapsed
		eta := time.Duration(float64(p.total-p.done) / rate * float64(time.Second)).Round(time.Second)
		s += fmt.Sprintf(", %.0f msgs/s, ETA %s", rate, eta)
	}
	return s
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprintln(p.w)
	}
}
