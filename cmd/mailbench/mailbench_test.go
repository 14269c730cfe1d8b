package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/enmime"
	"github.com/enneo/mailbridge/internal/testenv"
)

// The load command is itself tested at a small scale, so that the figures
// in docs/benchmarks.md come from a tool known to count right.

func buildMailbridge(t *testing.T) string {
	t.Helper()
	bin, err := mailbridgeBinary(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestSMTPLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	o := smtpOptions{common: common{bin: buildMailbridge(t), messages: 300, workers: 4, timeout: time.Minute}, conns: 5, size: 4 << 10}
	r, err := benchSMTP(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Messages != 300 || r.Rejected != 0 || r.Duplicates != 0 {
		t.Errorf("messages %d, rejected %d, duplicates %d; want 300, 0, 0", r.Messages, r.Rejected, r.Duplicates)
	}
	if r.Accepted <= 0 || r.Delivered <= 0 || r.Delivered > r.Accepted*1.01 {
		t.Errorf("accepted %.0f/s, delivered %.0f/s: delivery cannot outrun acceptance", r.Accepted, r.Delivered)
	}
	if r.ReplyP50 <= 0 || r.ReplyP99 < r.ReplyP50 || r.LatencyP50 <= 0 || r.LatencyP99 < r.LatencyP50 {
		t.Errorf("latencies: reply %v/%v, to API %v/%v", r.ReplyP50, r.ReplyP99, r.LatencyP50, r.LatencyP99)
	}
	if r.PeakRSS < 1<<20 || r.DaemonCPU <= 0 {
		t.Errorf("peak RSS %d, daemon CPU %v: /proc was not read", r.PeakRSS, r.DaemonCPU)
	}
	var b strings.Builder
	printTable(&b, []*result{r})
	if !strings.Contains(b.String(), "| SMTP 5 conns × 4 KB | 300 |") {
		t.Errorf("table:\n%s", b.String())
	}
}

// skipWithoutDovecot skips t where benchIMAP cannot start its own Dovecot,
// unless the end-to-end tests must run.
func skipWithoutDovecot(t *testing.T) {
	t.Helper()
	d, err := testenv.NewDovecot()
	if err != nil {
		var missing *testenv.MissingError
		if errors.As(err, &missing) && os.Getenv("MAILBRIDGE_E2E") != "1" {
			t.Skip(missing.What)
		}
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestIMAPLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon and Dovecot")
	}
	skipWithoutDovecot(t)
	_, fmErr := exec.LookPath("fetchmail")
	o := imapOptions{common: common{bin: buildMailbridge(t), messages: 200, workers: 4, timeout: time.Minute},
		size: 4 << 10, idle: 3, fetchmail: fmErr == nil}
	rs, err := benchIMAP(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 {
		t.Fatalf("%d results, want drain, idle and idle's part in mailbridge", len(rs))
	}
	drain, idle, part := rs[0], rs[1], rs[2]
	if drain.Messages != 200 || drain.Delivered <= 0 || drain.Duplicates != 0 {
		t.Errorf("drain: %d messages at %.0f/s, %d duplicates", drain.Messages, drain.Delivered, drain.Duplicates)
	}
	if o.fetchmail && (!strings.HasPrefix(drain.Baseline, "fetchmail ") || !strings.Contains(drain.Baseline, "bare UID FETCH ")) {
		t.Errorf("no fetchmail or bare fetch baseline: %q %s", drain.Baseline, drain.Note)
	}
	if idle.Messages != 3 || idle.LatencyP50 <= 0 || idle.LatencyP50 > 10*time.Second {
		t.Errorf("idle: %d messages, p50 %v", idle.Messages, idle.LatencyP50)
	}
	// mailbridge's part is what is left of the whole after the server
	// announced the message, so it is smaller; a median of three such
	// differences of a few ms each can come out just below zero.
	if part.Messages != 3 || part.LatencyP50 < -idle.LatencyP50/10 || part.LatencyP50 >= idle.LatencyP50 ||
		!strings.Contains(part.Note, "Dovecot announced") {
		t.Errorf("mailbridge's part: %d messages, p50 %v of %v; %q", part.Messages, part.LatencyP50, idle.LatencyP50, part.Note)
	}
}

func TestAnchorFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"smtp", "-anchor", "postfix"}, `-anchor "postfix": only mailpit`},
		{[]string{"smtp", "-rounds", "3", "-mailbridge", "/nonexistent"}, "-rounds: only with -anchor or -baseline"},
		{[]string{"imap", "-rounds", "3", "-mailbridge", "/nonexistent"}, "-rounds: only with -anchor or -baseline"},
		{[]string{"imap", "-rounds", "0", "-baseline", "/nonexistent", "-mailbridge", "/nonexistent"}, "-rounds 0: at least 1"},
		{[]string{"smtp", "-anchor", "mailpit", "-rounds", "0", "-mailbridge", "/nonexistent"}, "-rounds 0: at least 1"},
		{[]string{"smtp", "-baseline", "/nonexistent", "-cpuprofile", "/tmp/x", "-mailbridge", "/nonexistent"}, "-cpuprofile: not with -anchor or -baseline"},
		{[]string{"imap", "-cpuprofile", "/tmp/x", "-profile-for", "500ms", "-mailbridge", "/nonexistent"}, "-profile-for 500ms: at least 1s"},
		{[]string{"smtp", "-anchor", "mailpit", "-mailpit", "/nonexistent/mailpit", "-mailbridge", "/nonexistent/mailbridge", "-messages", "1"},
			"mailbridge"},
	} {
		var out strings.Builder
		err := mainArgs(context.Background(), tc.args, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one with %q", tc.args, err, tc.want)
		}
	}
	if bin, err := mailpitBinary("/opt/mailpit"); bin != "/opt/mailpit" || err != nil {
		t.Errorf("-mailpit /opt/mailpit: %q, %v", bin, err)
	}
	args := strings.Join(mailpitArgs("127.0.0.1:1", "127.0.0.1:2", "/tmp/x.db"), " ")
	if !strings.Contains(args, "--smtp 127.0.0.1:1 --listen 127.0.0.1:2 --database /tmp/x.db") || !strings.Contains(args, "--max 0") {
		t.Errorf("mailpit args: %s", args)
	}
}

// -cpuprofile writes a CPU profile of the daemon under load, taken
// through its admin listener: a gzipped profile.proto of CPU samples.
func TestCPUProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	bin := buildMailbridge(t)
	file := filepath.Join(t.TempDir(), "cpu.pprof")
	var out strings.Builder
	args := []string{"smtp", "-mailbridge", bin, "-messages", "300", "-conns", "4", "-size", "4096", "-workers", "4",
		"-timeout", "1m", "-cpuprofile", file, "-profile-for", "1s"}
	if err := mainArgs(context.Background(), args, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "| 300 |") {
		t.Errorf("no row of 300 messages:\n%s", out.String())
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("the profile is not gzipped: %v", err)
	}
	proto, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	// The string table of a CPU profile names its sample types and the
	// daemon's own functions.
	for _, want := range []string{"samples", "cpu", "nanoseconds", "github.com/enneo/mailbridge/"} {
		if !bytes.Contains(proto, []byte(want)) {
			t.Errorf("no %q in the profile (%d bytes)", want, len(proto))
		}
	}
}

func TestPrintComparison(t *testing.T) {
	pair := func(acc1, acc2 float64, cpu1, cpu2 time.Duration, rss1, rss2 int64) [2]*result {
		return [2]*result{
			{Messages: 100, Accepted: acc1, DaemonCPU: cpu1, PeakRSS: rss1 << 20},
			{Messages: 100, Accepted: acc2, DaemonCPU: cpu2, PeakRSS: rss2 << 20},
		}
	}
	var b strings.Builder
	printComparison(&b, "mailpit", [][2]*result{
		pair(300, 200, 2*time.Second, time.Second, 100, 200),
		pair(100, 100, time.Second, time.Second, 300, 200),
	})
	for _, want := range []string{
		"| round | accepted/s: mailbridge / mailpit | server CPU ms/msg: mailbridge / mailpit | peak RSS: mailbridge / mailpit |",
		"| 1 | 300 / 200 (1.50×) | 20.00 / 10.00 (2.00×) | 100 MB / 200 MB (0.50×) |",
		"| 2 | 100 / 100 (1.00×) | 10.00 / 10.00 (1.00×) | 300 MB / 200 MB (1.50×) |",
		"| median | (1.25×) | (1.50×) | (1.00×) |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
	if median([]float64{3, 1, 2}) != 2 || median(nil) != 0 {
		t.Error("median")
	}
}

func TestMailpitAnchor(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon and mailpit")
	}
	bin, err := mailpitBinary("")
	if err != nil {
		t.Skip(err)
	}
	defer func(s func()) { settle = s }(settle)
	settle = func() {}
	o := smtpOptions{common: common{bin: buildMailbridge(t), messages: 100, workers: 4, timeout: time.Minute}, conns: 4, size: 4 << 10}
	ctx := context.Background()
	rows, pairs, err := alternate(2, func() (*result, error) { return benchSMTP(ctx, o) },
		func() (*result, error) { return benchMailpit(ctx, bin, o) })
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || len(pairs) != 2 {
		t.Fatalf("%d rows, %d pairs; want 4 and 2", len(rows), len(pairs))
	}
	// Alternating: the second round starts with mailpit.
	if !strings.HasPrefix(rows[2].Name, "mailpit, ") || !strings.HasSuffix(rows[2].Name, "round 2") || strings.HasPrefix(rows[3].Name, "mailpit") {
		t.Errorf("order: %q, %q, %q, %q", rows[0].Name, rows[1].Name, rows[2].Name, rows[3].Name)
	}
	for _, p := range pairs {
		mbr, mp := p[0], p[1]
		if mbr.Messages != 100 || mbr.Delivered <= 0 || strings.HasPrefix(mbr.Name, "mailpit") {
			t.Errorf("mailbridge: %d messages, delivered %.0f/s, %q", mbr.Messages, mbr.Delivered, mbr.Name)
		}
		if mp.Messages != 100 || mp.Rejected != 0 || mp.Accepted <= 0 || mp.Delivered != 0 {
			t.Errorf("mailpit: %d messages, %d rejected, accepted %.0f/s, delivered %.0f/s", mp.Messages, mp.Rejected, mp.Accepted, mp.Delivered)
		}
		if mp.PeakRSS < 1<<20 || mp.DaemonCPU <= 0 {
			t.Errorf("mailpit: peak RSS %d, CPU %v: /proc was not read", mp.PeakRSS, mp.DaemonCPU)
		}
	}
}

// -baseline runs a second binary with the same load in alternating
// rounds and compares the two; for the IMAP drain, by delivered/s.
func TestBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	defer func(s func()) { settle = s }(settle)
	settle = func() {}
	bin := buildMailbridge(t)
	for _, tc := range []struct {
		args []string
		rate string
	}{
		{[]string{"smtp", "-messages", "60", "-conns", "4", "-size", "4096"}, "accepted/s"},
		{[]string{"imap", "-messages", "60", "-size", "4096", "-idle", "0", "-fetchmail=false"}, "delivered/s"},
	} {
		t.Run(tc.args[0], func(t *testing.T) {
			if tc.args[0] == "imap" {
				skipWithoutDovecot(t)
			}
			var out strings.Builder
			args := append(tc.args, "-mailbridge", bin, "-baseline", bin, "-rounds", "2", "-workers", "4", "-timeout", "1m")
			if err := mainArgs(context.Background(), args, &out); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			got := out.String()
			for _, want := range []string{"(baseline), round 1 |", "(baseline), round 2 |", ", round 2 |",
				"| round | " + tc.rate + ": mailbridge / baseline |", "| median | ("} {
				if !strings.Contains(got, want) {
					t.Errorf("no %q in\n%s", want, got)
				}
			}
			// Four rows of 60 messages each, no duplicates.
			if n := strings.Count(got, "| 60 |"); n != 4 {
				t.Errorf("%d rows of 60 messages, want 4:\n%s", n, got)
			}
		})
	}
	var out strings.Builder
	err := mainArgs(context.Background(), []string{"smtp", "-anchor", "mailpit", "-baseline", bin, "-mailbridge", bin}, &out)
	if err == nil || !strings.Contains(err.Error(), "one comparison at a time") {
		t.Errorf("-anchor with -baseline: %v", err)
	}
}

func TestBacklogAfterOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	o := backlogOptions{outage: 3 * time.Second, smtpOptions: smtpOptions{
		common: common{bin: buildMailbridge(t), messages: 200, workers: 8, timeout: time.Minute},
		conns:  4, size: 4 << 10, pace: apiPace{latency: 20 * time.Millisecond, limit: 4},
	}}
	r, err := benchBacklog(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	printTable(&b, []*result{r})
	t.Log(b.String())
	if r.Messages != 200 || r.Rejected != 0 || r.Duplicates != 0 || r.Delivered <= 0 {
		t.Errorf("messages %d, rejected %d, duplicates %d, delivered %.0f/s", r.Messages, r.Rejected, r.Duplicates, r.Delivered)
	}
	// Every mail was tried while the API was down, and none got through.
	for _, want := range []string{"calls answered 503 during the outage; 0 dead letters; 0 duplicates", "% of the API's capacity", "API peak "} {
		if !strings.Contains(r.Note+r.Baseline, want) {
			t.Errorf("no %q in %q / %q", want, r.Note, r.Baseline)
		}
	}
	if strings.Contains(r.Note, "stored during the outage") || strings.Contains(r.Note, " 0 calls answered 503") {
		t.Errorf("the outage did not hold: %s", r.Note)
	}
}

func TestMetricValue(t *testing.T) {
	text := "# HELP x\nmailbridge_queue_messages{state=\"dead\"} 3\nmailbridge_queue_messages{state=\"deadish\"} 9\n"
	n, err := metricValue(bufio.NewScanner(strings.NewReader(text)), `mailbridge_queue_messages{state="dead"}`)
	if n != 3 || err != nil {
		t.Errorf("dead letters %d, %v; want 3", n, err)
	}
	if _, err := metricValue(bufio.NewScanner(strings.NewReader("# nothing\n")), "x"); err == nil {
		t.Error("a missing sample read as 0")
	}
	cfg := withAdmin(daemonConfig("/d", "http://api", common{workers: 1, inflight: 8 << 20}), "127.0.0.1:7")
	if !strings.Contains(cfg, `admin: {listen: "127.0.0.1:7"}`) || !strings.Contains(cfg, "  workers: 1\n  inflightBytes: 8388608\n") {
		t.Errorf("admin or inflightBytes not set:\n%s", cfg)
	}
}

func TestAttachmentMessage(t *testing.T) {
	for _, size := range []int{10 << 10, 1 << 20} {
		var b strings.Builder
		if err := writeAttachmentMessage(&b, "run", 7, size); err != nil {
			t.Fatal(err)
		}
		msg := b.String()
		if len(msg) < size || len(msg) > size+200 {
			t.Errorf("size %d: %d bytes", size, len(msg))
		}
		env, err := enmime.ReadEnvelope(strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		if len(env.Attachments) != 1 || env.Attachments[0].FileName != "invoice-7.pdf" || len(env.Attachments[0].Content) < size*6/10 ||
			!strings.Contains(env.Text, "invoice for order 4711") || len(env.Errors) != 0 {
			t.Errorf("size %d: %d attachments, text %q, errors %v", size, len(env.Attachments), env.Text, env.Errors)
		}
		if !strings.Contains(msg, "Message-ID: <mb-7.run@mailbench>") {
			t.Errorf("no benchmark Message-ID")
		}
	}
}

func TestPGCountersNote(t *testing.T) {
	c0, c := pgCounters{commits: 100, walSyncs: 50}, pgCounters{commits: 1100, walSyncs: 800}
	if got, want := c.note(c0, 1000), "1.00 commits, 0.75 WAL flushes per msg"; got != want {
		t.Errorf("note = %q, want %q", got, want)
	}
	// A server without pg_stat_wal counts commits only.
	c0.walSyncs, c.walSyncs = -1, -1
	if got, want := c.note(c0, 1000), "1.00 commits per msg"; got != want {
		t.Errorf("note without pg_stat_wal = %q, want %q", got, want)
	}
	// Counters that could not be read before the run say nothing.
	if got := c.note(pgCounters{}, 1000); got != "" {
		t.Errorf("note without a first reading = %q, want none", got)
	}
}

// With -baseline, the IMAP rows besides the compared backlog (IDLE
// latency) say whose and which round they are, and come with their run.
func TestCompareIMAPNames(t *testing.T) {
	defer func(s func()) { settle = s }(settle)
	settle = func() {}
	run := func() ([]*result, error) {
		return []*result{{Name: "backlog", Delivered: 100}, {Name: "IDLE latency"}}, nil
	}
	rows, pairs, err := compareIMAP(2, run, run)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rows {
		names = append(names, r.Name)
	}
	want := []string{
		"backlog, round 1", "IDLE latency, round 1",
		"backlog (baseline), round 1", "IDLE latency (baseline), round 1",
		"backlog (baseline), round 2", "IDLE latency (baseline), round 2",
		"backlog, round 2", "IDLE latency, round 2",
	}
	if !slices.Equal(names, want) {
		t.Errorf("rows %q, want %q", names, want)
	}
	for i, p := range pairs {
		if p[0].Name != fmt.Sprintf("backlog, round %d", i+1) || p[1].Name != fmt.Sprintf("backlog (baseline), round %d", i+1) {
			t.Errorf("pair %d: %q against %q", i+1, p[0].Name, p[1].Name)
		}
	}
}
