package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

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

func TestIMAPLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon and Dovecot")
	}
	// benchIMAP starts its own Dovecot; skip where it cannot.
	if d, err := testenv.NewDovecot(); err != nil {
		var missing *testenv.MissingError
		if errors.As(err, &missing) && os.Getenv("MAILBRIDGE_E2E") != "1" {
			t.Skip(missing.What)
		}
		t.Fatal(err)
	} else if err := d.Close(); err != nil {
		t.Fatal(err)
	}
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
