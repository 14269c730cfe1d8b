// Command mailbench measures mailbridge end to end on the machine it runs on: it
// runs the real daemon as a child process, feeds it mail the way
// production does (SMTP clients; a Dovecot mailbox), lets it deliver to
// a lean stub of the enneo API, and prints throughput, latency, peak RSS
// and CPU per 1,000 messages.
//
//	go run ./cmd/mailbench smtp -conns 20 -messages 50000 -size 10240
//	go run ./cmd/mailbench smtp -messages 300 -size 1048576 -anchor mailpit -rounds 2
//	go run ./cmd/mailbench smtp-attack -attack auth   # MTA throughput beside an attack
//	go run ./cmd/mailbench backlog -messages 20000 -outage 10m -api-latency 100ms -api-limit 24
//	go run ./cmd/mailbench imap -messages 5000 -size 20480
//	go run ./cmd/mailbench all          # docs/benchmarks.md's table
//
// Every figure includes the load generator: it shares the machine's cores
// with the daemon, as a real MTA in front of it would.
package main

import (
	"cmp"
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
)

// common are the options of every benchmark.
type common struct {
	bin      string // mailbridge binary; built from ./cmd/mailbridge when empty
	baseline string // another mailbridge binary to run in alternating rounds; empty: none
	rounds   int    // rounds of each side where two are compared
	messages int
	workers  int    // delivery.workers of the daemon
	postgres string // the daemon's PostgreSQL DSN; empty: SQLite
	inflight int64  // delivery.inflightBytes of the daemon; 0: its default
	timeout  time.Duration
	// cpuprofile is where a CPU profile of the daemon goes, taken for
	// profileFor from the start of the load; empty: none.
	cpuprofile string
	profileFor time.Duration
}

// result is one benchmark's row of the table.
type result struct {
	Name                   string
	Messages               int
	Rejected               int
	Accepted               float64 // msgs/s taken by the source (0: not measured)
	Delivered              float64 // msgs/s stored at the API
	ReplyP50, ReplyP99     time.Duration
	LatencyP50, LatencyP99 time.Duration // source to API
	PeakRSS                int64
	DaemonCPU, LoadCPU     time.Duration
	Duplicates             int64
	Baseline               string // a comparison, e.g. fetchmail's rate
	Note                   string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := mainArgs(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mailbench:", err)
		os.Exit(1)
	}
}

func mainArgs(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: mailbench smtp|smtp-attack|backlog|imap|all [flags]; mailbench <cmd> -h for flags")
	}
	fs := flag.NewFlagSet("mailbench "+args[0], flag.ContinueOnError)
	var c common
	fs.StringVar(&c.bin, "mailbridge", "", "mailbridge binary (default: go build ./cmd/mailbridge)")
	fs.IntVar(&c.workers, "workers", 16, "delivery.workers of the daemon")
	fs.Int64Var(&c.inflight, "inflight-bytes", 0, "delivery.inflightBytes of the daemon (0: its default)")
	fs.StringVar(&c.postgres, "postgres", "", "queue in this PostgreSQL database (schema "+benchSchema+", dropped first) instead of SQLite")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "longest wait for the API to receive everything")
	compared := func() {
		fs.StringVar(&c.baseline, "baseline", "", "another mailbridge binary, run with the same load in alternating rounds and compared")
		fs.IntVar(&c.rounds, "rounds", 1, "rounds of each side with -anchor or -baseline")
		fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the daemon to `file` (go tool pprof reads it), taken through its admin listener's pprof")
		fs.DurationVar(&c.profileFor, "profile-for", 5*time.Second, "length of the -cpuprofile, from the start of the load")
	}
	so := smtpOptions{}
	im := imapOptions{}
	var results []*result
	var run func() error
	var after func(io.Writer) // printed below the table
	switch args[0] {
	case "smtp":
		fs.IntVar(&c.messages, "messages", 50000, "messages to send")
		fs.IntVar(&so.conns, "conns", 20, "concurrent SMTP connections")
		fs.IntVar(&so.size, "size", 10<<10, "bytes per message")
		fs.Float64Var(&so.rate, "rate", 0, "messages/s to offer in all (open loop); 0 sends as fast as they are accepted")
		fs.DurationVar(&so.pace.latency, "api-latency", 0, "the stub API's latency per call")
		fs.IntVar(&so.pace.limit, "api-limit", 0, "calls at a time the stub API takes; it answers 429 with Retry-After: 1 to more (0: no limit)")
		fs.BoolVar(&so.attach, "attach", false, "each message a short text and a PDF attachment that fills it up to -size")
		fs.IntVar(&so.instances, "instances", 1, "daemons sharing the queue, each with a listener of its own (more than 1 needs -postgres)")
		anchor := fs.String("anchor", "", "send the same load to "+anchorMailpit+" too, in alternating rounds, and compare")
		compared()
		mailpit := fs.String("mailpit", "", "mailpit binary (default: mailpit in PATH or ~/go/bin)")
		run = func() error {
			so.common = c
			if so.instances > 1 && c.postgres == "" {
				return errors.New("-instances: more than one instance needs -postgres")
			}
			if err := c.checkRounds(*anchor != "" || c.baseline != ""); err != nil {
				return err
			}
			var other func(context.Context) (*result, error)
			switch *anchor {
			case "":
				if c.baseline != "" {
					other = func(ctx context.Context) (*result, error) {
						o := so
						o.bin = c.baseline
						return named(benchSMTP(ctx, o))
					}
					break
				}
				r, err := benchSMTP(ctx, so)
				results = append(results, r)
				return err
			case anchorMailpit:
				if c.baseline != "" {
					return errors.New("-anchor and -baseline: one comparison at a time")
				}
				bin, err := mailpitBinary(*mailpit)
				if err != nil {
					return err
				}
				other = func(ctx context.Context) (*result, error) { return benchMailpit(ctx, bin, so) }
			default:
				return fmt.Errorf("-anchor %q: only %s", *anchor, anchorMailpit)
			}
			done, err := buildOnce(ctx, &so.bin)
			if err != nil {
				return err
			}
			defer done()
			rows, pairs, err := alternate(c.rounds, func() (*result, error) { return benchSMTP(ctx, so) },
				func() (*result, error) { return other(ctx) })
			results = append(results, rows...)
			against := cmp.Or(*anchor, "baseline")
			after = func(w io.Writer) { printComparison(w, against, pairs) }
			return err
		}
	case "smtp-attack":
		// The same SMTP load from the MTA at 127.0.0.1 without and then
		// with an attack beside it; the attacked row says which share of
		// the unattacked throughput it kept.
		fs.IntVar(&c.messages, "messages", 20000, "messages to send in each run")
		fs.IntVar(&so.conns, "conns", 20, "concurrent SMTP connections of the MTA")
		fs.IntVar(&so.size, "size", 10<<10, "bytes per message")
		fs.StringVar(&so.attack, "attack", attackAuth, "auth (40 AUTH guessers) or idle (1,000 idle connections)")
		run = func() error {
			so.common = c
			kind := so.attack
			if kind != attackAuth && kind != attackIdle {
				return fmt.Errorf("-attack %q: auth or idle", kind)
			}
			so.attack = attackNone
			base, err := benchSMTP(ctx, so)
			results = append(results, base)
			if err != nil {
				return err
			}
			settle()
			so.attack = kind
			r, err := benchSMTP(ctx, so)
			results = append(results, r)
			if err != nil {
				return err
			}
			if base.Accepted > 0 {
				r.Baseline = fmt.Sprintf("%.0f%% of unattacked accepted/s", 100*r.Accepted/base.Accepted)
			}
			return nil
		}
	case "backlog":
		// Mail arriving over SMTP while the API is down, and the drain
		// when it returns.
		bo := backlogOptions{}
		fs.IntVar(&c.messages, "messages", 20000, "messages arriving during the outage")
		fs.IntVar(&bo.conns, "conns", 20, "concurrent SMTP connections")
		fs.IntVar(&bo.size, "size", 10<<10, "bytes per message")
		fs.Float64Var(&bo.rate, "rate", 0, "messages/s to offer in all (open loop); 0 sends as fast as they are accepted")
		fs.DurationVar(&bo.outage, "outage", 10*time.Minute, "how long the API answers 503, from the first mail on")
		fs.DurationVar(&bo.pace.latency, "api-latency", 100*time.Millisecond, "the stub API's latency per call once back")
		fs.IntVar(&bo.pace.limit, "api-limit", 24, "calls at a time the stub API takes once back; it answers 429 with Retry-After: 1 to more (0: no limit)")
		// More workers than the API takes calls, so that the limit is
		// what delivery has to find.
		w := fs.Lookup("workers")
		w.DefValue = "32"
		_ = w.Value.Set(w.DefValue)
		run = func() error {
			bo.common = c
			r, err := benchBacklog(ctx, bo)
			results = append(results, r)
			return err
		}
	case "imap":
		fs.IntVar(&c.messages, "messages", 5000, "backlog messages in the mailbox")
		fs.IntVar(&im.size, "size", 20<<10, "bytes per message")
		fs.IntVar(&im.idle, "idle", 50, "messages APPENDed one by one to measure IDLE latency; 0 skips")
		fs.BoolVar(&im.fetchmail, "fetchmail", true, "drain the same backlog with fetchmail for comparison")
		fs.DurationVar(&im.poll, "poll", 0, "poll this often instead of IDLE (0: IDLE)")
		compared()
		run = func() error {
			im.common = c
			if err := c.checkRounds(c.baseline != ""); err != nil {
				return err
			}
			if c.baseline == "" {
				rs, err := benchIMAP(ctx, im)
				results = append(results, rs...)
				return err
			}
			done, err := buildOnce(ctx, &im.bin)
			if err != nil {
				return err
			}
			defer done()
			base := im
			base.bin = c.baseline
			rows, pairs, err := compareIMAP(c.rounds,
				func() ([]*result, error) { return benchIMAP(ctx, im) },
				func() ([]*result, error) { return benchIMAP(ctx, base) })
			results = append(results, rows...)
			after = func(w io.Writer) { printComparison(w, "baseline", pairs) }
			return err
		}
	case "all":
		// docs/benchmarks.md's table: SMTP closed and open loop, the IMAP backlog with
		// IDLE and fetchmail, and IMAP push latency by polling.
		run = func() error {
			for _, rate := range []float64{0, 1000} {
				o := smtpOptions{common: c, conns: 20, size: 10 << 10, rate: rate}
				o.messages = 50000
				r, err := benchSMTP(ctx, o)
				if err != nil {
					return fmt.Errorf("smtp: %w", err)
				}
				results = append(results, r)
				settle()
			}
			for _, o := range []imapOptions{
				{common: c, size: 20 << 10, idle: 30, fetchmail: true},
				{common: c, size: 20 << 10, idle: 30, poll: 200 * time.Millisecond},
			} {
				o.messages = 5000
				if o.poll > 0 {
					o.messages = 1000
				}
				rs, err := benchIMAP(ctx, o)
				results = append(results, rs...)
				if err != nil {
					return fmt.Errorf("imap: %w", err)
				}
				settle()
			}
			return nil
		}
	default:
		return fmt.Errorf("unknown benchmark %q (smtp, smtp-attack, backlog, imap or all)", args[0])
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	err := run()
	printTable(out, slices.DeleteFunc(results, func(r *result) bool { return r == nil }))
	if after != nil {
		after(out)
	}
	return err
}

// compareIMAP runs the IMAP benchmarks of mailbridge and of the baseline
// binary in alternating rounds (see alternate) and compares their backlog
// rows, each run's first. It returns all rows in the order run, each
// named by its side and, with more than one round, its round: the others
// (IDLE latency) have the same names on both sides.
func compareIMAP(rounds int, mailbridge, baseline func() ([]*result, error)) (rows []*result, pairs [][2]*result, err error) {
	side := func(bench func() ([]*result, error), label string) func() (*result, error) {
		round := 0
		return func() (*result, error) {
			round++
			rs, err := bench()
			if len(rs) == 0 {
				return nil, err
			}
			rs[0].Name += label // alternate adds the round
			for _, r := range rs[1:] {
				r.Name += label
				if rounds > 1 {
					r.Name += fmt.Sprintf(", round %d", round)
				}
			}
			rows = append(rows, rs...)
			return rs[0], err
		}
	}
	_, pairs, err = alternate(rounds, side(mailbridge, ""), side(baseline, " (baseline)"))
	return rows, pairs, err
}

// checkRounds checks -rounds, which only a comparison has, and
// -cpuprofile, which only a run of one daemon has.
func (c common) checkRounds(comparing bool) error {
	switch {
	case c.rounds < 1:
		return fmt.Errorf("-rounds %d: at least 1", c.rounds)
	case c.rounds != 1 && !comparing:
		return errors.New("-rounds: only with -anchor or -baseline")
	case c.cpuprofile != "" && comparing:
		return errors.New("-cpuprofile: not with -anchor or -baseline (one daemon, one profile)")
	case c.cpuprofile != "" && c.profileFor < time.Second:
		return fmt.Errorf("-profile-for %v: at least 1s", c.profileFor)
	}
	return nil
}

// named marks a row of the -baseline binary.
func named(r *result, err error) (*result, error) {
	if r != nil {
		r.Name += " (baseline)"
	}
	return r, err
}

// buildOnce builds the mailbridge binary into *bin unless it names one,
// for all the rounds of a comparison; done removes what it built.
func buildOnce(ctx context.Context, bin *string) (done func(), err error) {
	if *bin != "" {
		return func() {}, nil
	}
	dir, err := os.MkdirTemp("", "mailbench-bin-")
	if err != nil {
		return nil, err
	}
	if *bin, err = mailbridgeBinary(ctx, "", dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return func() { os.RemoveAll(dir) }, nil
}

// waitStored waits until n benchmark messages are at the API, the daemon
// exits, nothing arrives for a minute (mail dead-lettered or stuck: the
// daemon's log says why), or timeout passes.
func (s *stubAPI) waitStored(ctx context.Context, n int, timeout time.Duration, d *daemon) error {
	const stall = time.Minute
	deadline := time.Now().Add(timeout)
	seen, progress := s.stored.Load(), time.Now()
	for int(s.stored.Load()) < n {
		select {
		case err := <-d.done:
			d.done <- err
			return fmt.Errorf("mailbridge exited (%v) with %d of %d messages delivered: %s", err, s.stored.Load(), n, d.tail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		now := time.Now()
		if got := s.stored.Load(); got != seen {
			seen, progress = got, now
		}
		switch {
		case now.After(deadline):
			return fmt.Errorf("%d of %d messages at the API after %v", seen, n, timeout)
		case now.Sub(progress) > stall:
			return fmt.Errorf("%d of %d messages at the API, none for %v: %s", seen, n, stall, d.tail())
		}
	}
	return nil
}

// settle lets the disk finish the previous run's writes, so that they are
// not billed to the next one: after an SMTP run of 50,000 messages the
// kernel still flushes hundreds of MB, and the next run's fsyncs wait.
// A variable, so that the tests need not wait.
var settle = func() {
	syscall.Sync()
	time.Sleep(10 * time.Second)
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	slices.Sort(d)
	return d[len(d)/2], d[(len(d)*99)/100]
}

func printTable(w io.Writer, rs []*result) {
	fmt.Fprintln(w, "| benchmark | msgs | accepted/s | delivered/s | reply p50/p99 | source→API p50/p99 | peak RSS | CPU s/1k msgs (daemon + load) | dup | vs. |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		per := func(d time.Duration) string {
			if r.Messages == 0 || d == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", d.Seconds()*1000/float64(r.Messages))
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s + %s | %d | %s |\n",
			r.Name, r.Messages, num(r.Accepted), num(r.Delivered),
			pair(r.ReplyP50, r.ReplyP99), pair(r.LatencyP50, r.LatencyP99),
			mb(r.PeakRSS), per(r.DaemonCPU), per(r.LoadCPU), r.Duplicates, orDash(r.Baseline))
	}
	for _, r := range rs {
		switch {
		case r.Rejected > 0:
			fmt.Fprintf(w, "\n%s: %d rejected. %s\n", r.Name, r.Rejected, r.Note)
		case r.Note != "":
			fmt.Fprintf(w, "\n%s: %s\n", r.Name, r.Note)
		}
	}
}

func num(f float64) string {
	if f == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", f)
}

func pair(a, b time.Duration) string {
	if a == 0 && b == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s", ms(a), ms(b))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func mb(b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%d MB", b>>20)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
