package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/enneo/mailbridge/internal/testenv"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
)

// anchorMailpit is the -anchor that sends the same SMTP load to mailpit
// (Go, enmime, SQLite): a server that stores what it accepts and
// delivers nowhere, so its accepted/s, CPU and memory per message say
// what the machine does for an SMTP server in Go, whatever the load on
// it at the time.
const anchorMailpit = "mailpit"

// mailpitBinary is bin, or mailpit from PATH, or from ~/go/bin where
// `go install github.com/axllent/mailpit@…` puts it.
func mailpitBinary(bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, "go", "bin", "mailpit")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("mailpit not in PATH nor in ~/go/bin (go install github.com/axllent/mailpit@v1.27.11, or pass -mailpit)")
}

// mailpitArgs runs mailpit on the two loopback addresses with a private
// database, keeping every message (its default prunes beyond 500) and
// looking nothing up.
func mailpitArgs(smtpAddr, httpAddr, db string) []string {
	return []string{"--smtp", smtpAddr, "--listen", httpAddr, "--database", db,
		"--max", "0", "--quiet", "--smtp-disable-rdns", "--disable-version-check"}
}

// benchMailpit sends the load of o to a fresh mailpit: the same client,
// sizes and connections as benchSMTP. A message is accepted when mailpit
// has stored it, so there is no delivery to measure.
func benchMailpit(ctx context.Context, bin string, o smtpOptions) (*result, error) {
	dir, err := os.MkdirTemp("", "mailbench-mailpit-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	smtpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, mailpitArgs(smtpAddr, httpAddr, filepath.Join(dir, "mailpit.db"))...)
	d, err := startProcess(ctx, cmd, dir, "mailpit", smtpAddr)
	if err != nil {
		return nil, err
	}
	defer d.stop()
	epoch := time.Now()
	cpu0, self0 := d.usage().CPU, testenv.ProcessCPU()
	l := sendLoad(ctx, []string{smtpAddr}, o, epoch, fmt.Sprintf("%x", epoch.UnixNano()))
	if l.err != nil && l.accepted == 0 {
		return nil, fmt.Errorf("mailpit accepted no message: %w", l.err)
	}
	u := d.usage()
	r := l.result("mailpit, "+smtpName(o), u, cpu0, self0)
	var replies []time.Duration
	for n, t := range l.dataEnd {
		if t != 0 {
			replies = append(replies, l.reply[n])
		}
	}
	r.ReplyP50, r.ReplyP99 = percentiles(replies)
	if l.err != nil {
		r.Note = "first error: " + l.err.Error()
	}
	return r, d.stop()
}

// alternate runs mailbridge and other rounds times each, alternating
// which goes first so that a drift of the machine's load falls on both
// alike, and returns all rows in the order run and the pairs of each
// round: mailbridge's row, then the other's.
func alternate(rounds int, mailbridge, other func() (*result, error)) (rows []*result, pairs [][2]*result, err error) {
	sides := [2]func() (*result, error){mailbridge, other}
	for round := range rounds {
		var pair [2]*result
		order := []int{0, 1}
		if round%2 == 1 {
			order = []int{1, 0}
		}
		for i, which := range order {
			if round > 0 || i > 0 {
				settle()
			}
			r, err := sides[which]()
			if r != nil {
				if rounds > 1 {
					r.Name += fmt.Sprintf(", round %d", round+1)
				}
				rows = append(rows, r)
			}
			if err != nil {
				return rows, pairs, err
			}
			pair[which] = r
		}
		pairs = append(pairs, pair)
	}
	return rows, pairs, nil
}

// printComparison prints each round's mailbridge figures against the
// other side's (the anchor, or the baseline binary), with their ratio: accepted/s (higher is better for
// mailbridge above 1), and the server's CPU per message and peak RSS
// (lower is better for mailbridge below 1).
func printComparison(w io.Writer, anchor string, pairs [][2]*result) {
	if len(pairs) == 0 {
		return
	}
	// A source that takes no mail over SMTP (the IMAP drain) is compared
	// by the rate of delivery.
	rateName, rate := "accepted/s", func(r *result) float64 { return r.Accepted }
	if pairs[0][0].Accepted == 0 {
		rateName, rate = "delivered/s", func(r *result) float64 { return r.Delivered }
	}
	fmt.Fprintf(w, "\n| round | %[2]s: mailbridge / %[1]s | server CPU ms/msg: mailbridge / %[1]s | peak RSS: mailbridge / %[1]s |\n", anchor, rateName)
	fmt.Fprintln(w, "|---|---|---|---|")
	var acc, cpu, rss []float64
	for i, p := range pairs {
		mbr, an := p[0], p[1]
		a, c, m := ratio(rate(mbr), rate(an)), ratio(perMessage(mbr), perMessage(an)), ratio(float64(mbr.PeakRSS), float64(an.PeakRSS))
		acc, cpu, rss = append(acc, a), append(cpu, c), append(rss, m)
		fmt.Fprintf(w, "| %d | %s / %s (%s) | %.2f / %.2f (%s) | %s / %s (%s) |\n", i+1,
			num(rate(mbr)), num(rate(an)), times(a),
			perMessage(mbr), perMessage(an), times(c),
			mb(mbr.PeakRSS), mb(an.PeakRSS), times(m))
	}
	if len(pairs) > 1 {
		fmt.Fprintf(w, "| median | (%s) | (%s) | (%s) |\n", times(median(acc)), times(median(cpu)), times(median(rss)))
	}
}

// perMessage is the server's CPU per accepted message in ms.
func perMessage(r *result) float64 {
	if r.Messages == 0 {
		return 0
	}
	return r.DaemonCPU.Seconds() * 1000 / float64(r.Messages)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func times(f float64) string {
	if f == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", f)
}

func median(fs []float64) float64 {
	if len(fs) == 0 {
		return 0
	}
	s := slices.Clone(fs)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}
