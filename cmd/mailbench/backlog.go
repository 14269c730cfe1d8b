package main

import (
	"bufio"
	"context"
	"fmt"
	"github.com/enneo/mailbridge/internal/testenv"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// backlogOptions is an outage of the API while mail arrives over SMTP.
type backlogOptions struct {
	smtpOptions
	outage time.Duration // from the first mail to the API's return
}

// benchBacklog measures how a backlog drains after an outage: the stub
// API answers 503 to everything while o.messages mails arrive over SMTP
// and until o.outage has passed since the first, then comes back with
// its latency and limit of calls at a time. The row's delivered/s is the
// backlog over the time from the API's return to the last mail stored;
// its comparison says how much of the API's capacity that was, and the
// most calls it had at a time after its return.
func benchBacklog(ctx context.Context, o backlogOptions) (*result, error) {
	e, err := setUp(ctx, "mailbench-backlog-", o.smtpOptions)
	if err != nil {
		return nil, err
	}
	defer e.close()
	stub, epoch, addr := e.stub, e.epoch, e.addr
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg := withAdmin(smtpConfig(e.dir, stub.url, addr, o.smtpOptions), admin)
	d, err := startDaemon(ctx, e.bin, e.dir, cfg, addr)
	if err != nil {
		return nil, err
	}
	defer d.stop()
	// Down once the daemon runs: it checks the subchannels at start.
	stub.down.Store(true)

	cpu0, self0 := d.usage().CPU, testenv.ProcessCPU()
	l := sendLoad(ctx, []string{addr}, o.smtpOptions, epoch, fmt.Sprintf("%x", epoch.UnixNano()))
	if l.err != nil && l.accepted == 0 {
		return nil, fmt.Errorf("no message accepted: %w", l.err)
	}
	sent := l.end
	returns := l.begin + o.outage
	select {
	case <-time.After(time.Until(epoch.Add(returns))):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	early := stub.stored.Load() // none: the API was down
	stub.peak.Store(0)
	refused0 := stub.refused.Load()
	stub.down.Store(false)
	back := time.Since(epoch)

	if err := stub.waitStored(ctx, int(l.accepted), o.timeout, d); err != nil {
		if dead, derr := deadLetters(ctx, admin); derr == nil && dead > 0 {
			err = fmt.Errorf("%w (%d dead letters)", err, dead)
		}
		return nil, err
	}
	var first, last int64
	for n := range l.dataEnd {
		if l.dataEnd[n] == 0 {
			continue
		}
		a := stub.arrived[n].Load()
		if first == 0 || a < first {
			first = a
		}
		last = max(last, a)
	}
	drain := time.Duration(last) - back
	u := d.usage()
	r := l.result(backlogName(o), u, cpu0, self0)
	r.Delivered, r.Duplicates = rate(l.accepted, drain), stub.duplicates.Load()
	refusedAfter := stub.refused.Load() - refused0
	stub.refused.Store(refusedAfter) // paceNote counts those after the return
	r.Baseline = paceNote(o.pace, stub, r.Delivered)
	dead, err := deadLetters(ctx, admin)
	deadNote := strconv.Itoa(dead)
	if err != nil {
		deadNote = "unknown (" + err.Error() + ")"
	}
	r.Note = fmt.Sprintf("drained in %.1f s after the API's return (first mail stored %.1f s after it); "+
		"%d calls answered 503 during the outage; %s dead letters; %d duplicates",
		drain.Seconds(), (time.Duration(first) - back).Seconds(), stub.unavailable.Load(), deadNote, r.Duplicates)
	if sent > returns {
		r.Note += fmt.Sprintf("; the API returned %.1f s before the last mail was accepted", (sent - returns).Seconds())
	}
	if early > 0 {
		r.Note += fmt.Sprintf("; %d stored during the outage", early)
	}
	if l.err != nil {
		r.Note += "; first error: " + l.err.Error()
	}
	if dead > 0 || r.Duplicates > 0 {
		return r, fmt.Errorf("%d dead letters and %d duplicates, want none", dead, r.Duplicates)
	}
	return r, d.stop()
}

func backlogName(o backlogOptions) string {
	name := fmt.Sprintf("backlog of %d × %d KB after an outage of %s, %d workers", o.messages, o.size>>10, o.outage, o.workers)
	if o.postgres != "" {
		name += ", PostgreSQL"
	}
	return name + o.pace.name()
}

// withAdmin makes a daemon configuration's admin server listen on addr,
// where deadLetters reads its metrics.
func withAdmin(cfg, addr string) string {
	return strings.Replace(cfg, defaultAdmin, fmt.Sprintf(`admin: {listen: "%s"}`, addr), 1)
}

// deadLetters reads the dead letters in the queue from the admin
// server's metrics.
func deadLetters(ctx context.Context, admin string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("metrics: %s", resp.Status)
	}
	return metricValue(bufio.NewScanner(resp.Body), `mailbridge_queue_messages{state="dead"}`)
}

// metricValue finds sample name in a Prometheus text exposition.
func metricValue(sc *bufio.Scanner, name string) (int, error) {
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in the metrics", name)
}
