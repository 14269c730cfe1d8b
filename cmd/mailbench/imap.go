package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/enneo/mailbridge/internal/testenv"
)

type imapOptions struct {
	common
	size      int  // bytes per message
	idle      int  // messages APPENDed one at a time for the IDLE latency
	fetchmail bool // drain the same backlog with fetchmail
	// poll, when set, turns IDLE off and polls this often instead: Dovecot
	// delays IDLE notifications by a fixed 500 ms, a short poll does not.
	poll time.Duration
}

// benchIMAP fills a private Dovecot's INBOX with o.messages messages,
// starts mailbridge on it and times the drain until the stub API holds
// them all; then APPENDs o.idle messages one by one and times each from
// the APPEND's completion to its arrival at the API (IDLE push). Last,
// fetchmail drains the same backlog, for comparison. mailbridge goes
// first, on a cold Dovecot index, so the comparison does not favour it.
func benchIMAP(ctx context.Context, o imapOptions) ([]*result, error) {
	dc, err := testenv.NewDovecot()
	if err != nil {
		return nil, fmt.Errorf("dovecot: %w", err)
	}
	defer dc.Close()
	dir, err := os.MkdirTemp("", "mailbench-imap-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin, err := mailbridgeBinary(ctx, o.bin, dir)
	if err != nil {
		return nil, err
	}
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	backlog := make([][]byte, o.messages)
	for n := range backlog {
		var b bytes.Buffer
		if err := writeMessage(&b, run, n, o.size); err != nil {
			return nil, err
		}
		backlog[n] = b.Bytes()
	}
	if err := dc.Put("INBOX", backlog); err != nil {
		return nil, err
	}

	self0 := testenv.ProcessCPU()
	epoch := time.Now()
	stub, err := startStub(o.messages+o.idle, epoch, apiPace{})
	if err != nil {
		return nil, err
	}
	defer stub.close()
	cfg, prof, err := withProfiler(imapConfig(dir, stub.url, dc, o), o.common)
	if err != nil {
		return nil, err
	}
	d, err := startDaemon(ctx, bin, dir, cfg, "")
	if err != nil {
		return nil, err
	}
	defer d.stop()
	prof.start(ctx)
	begin := time.Since(epoch)
	if err := stub.waitStored(ctx, o.messages, o.timeout, d); err != nil {
		return nil, err
	}
	var last int64
	for n := range o.messages {
		last = max(last, stub.arrived[n].Load())
	}
	u := d.usage()
	if err := prof.wait(); err != nil {
		return nil, err
	}
	drain := &result{
		Name:       fmt.Sprintf("IMAP backlog %d × %d KB", o.messages, o.size>>10),
		Messages:   o.messages,
		Delivered:  rate(int64(o.messages), time.Duration(last)-begin),
		PeakRSS:    u.PeakRSS,
		DaemonCPU:  u.CPU,
		LoadCPU:    testenv.ProcessCPU() - self0,
		Duplicates: stub.duplicates.Load(),
	}
	results := []*result{drain}

	if o.idle > 0 {
		rs, err := idleLatency(ctx, dc, stub, d, run, o)
		if err != nil {
			return results, fmt.Errorf("idle: %w", err)
		}
		results = append(results, rs...)
	}
	if err := d.stop(); err != nil {
		return results, err
	}
	if o.fetchmail {
		fm, err := fetchmailRate(ctx, dc, dir, o.messages)
		if err != nil {
			drain.Note = "fetchmail: " + err.Error()
		} else {
			drain.Baseline = fmt.Sprintf("fetchmail %.0f/s (%.1f×)", fm, drain.Delivered/fm)
		}
		// The same mailbox once more, by the transfer alone: together with
		// fetchmail it says how fast the machine is, so that figures from
		// different machines can be compared as ratios.
		if bare, err := bareFetchRate(dc, o.messages); err != nil {
			drain.Note += " bare UID FETCH: " + err.Error()
		} else {
			drain.Baseline += fmt.Sprintf("; bare UID FETCH %.0f/s", bare)
		}
	}
	return results, nil
}

// idleLatency APPENDs messages one at a time, each after the last has
// reached the API, so each is pushed to an idle connection.
//
// With IDLE, a second connection of the benchmark's own idles on the same
// folder and notes when Dovecot announces each message. That splits the
// latency in two: the server's part (APPEND to EXISTS, which Dovecot holds
// back by a fixed 500 ms) and mailbridge's (EXISTS to the API). The second
// result is mailbridge's part.
func idleLatency(ctx context.Context, dc *testenv.Dovecot, stub *stubAPI, d *daemon, run string, o imapOptions) ([]*result, error) {
	c, err := imapclient.DialInsecure(dc.Addr, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Login(dc.User, dc.Password).Wait(); err != nil {
		return nil, err
	}
	var obs *existsObserver
	if o.poll <= 0 {
		if obs, err = observeExists(dc); err != nil {
			return nil, fmt.Errorf("observer: %w", err)
		}
		defer obs.close()
	}
	cpu0, self0 := d.usage().CPU, testenv.ProcessCPU()
	lat := make([]time.Duration, 0, o.idle)
	var server, client []time.Duration
	for i := range o.idle {
		n := o.messages + i
		var b bytes.Buffer
		if err := writeMessage(&b, run, n, o.size); err != nil {
			return nil, err
		}
		// Let the daemon settle back into IDLE after the previous one.
		time.Sleep(100 * time.Millisecond)
		if obs != nil {
			// Dovecot watches a folder only while a connection idles on
			// it, and a change it sees starts its 500 ms timer. An
			// observer idling all along would have its timer started by
			// mailbridge's own flag changes, and hear of the next
			// message sooner than mailbridge, which re-enters IDLE after
			// them. So it re-enters IDLE each time too, once mailbridge
			// has.
			if err := obs.start(); err != nil {
				return nil, err
			}
		}
		cmd := c.Append("INBOX", int64(b.Len()), nil)
		if _, err := cmd.Write(b.Bytes()); err != nil {
			return nil, err
		}
		if err := cmd.Close(); err != nil {
			return nil, err
		}
		if _, err := cmd.Wait(); err != nil {
			return nil, err
		}
		appended := time.Since(stub.start)
		if err := stub.waitStored(ctx, n+1, 30*time.Second, d); err != nil {
			return nil, err
		}
		arrived := time.Duration(stub.arrived[n].Load())
		lat = append(lat, arrived-appended)
		if obs != nil {
			announced, err := obs.next(n+1, 30*time.Second)
			if err != nil {
				return nil, err
			}
			if err := obs.stop(); err != nil {
				return nil, err
			}
			at := announced.Sub(stub.start)
			server = append(server, at-appended)
			client = append(client, arrived-at)
		}
	}
	p50, p99 := percentiles(lat)
	u := d.usage()
	total := &result{
		Name:       fmt.Sprintf("IMAP %s, APPEND → API, %d × %d KB", pushMode(o.poll), o.idle, o.size>>10),
		Messages:   o.idle,
		LatencyP50: p50, LatencyP99: p99,
		PeakRSS:   u.PeakRSS,
		DaemonCPU: u.CPU - cpu0, LoadCPU: testenv.ProcessCPU() - self0,
		Duplicates: stub.duplicates.Load(),
	}
	if obs == nil {
		return []*result{total}, nil
	}
	s50, s99 := percentiles(server)
	c50, c99 := percentiles(client)
	return []*result{total, {
		Name:       "IMAP IDLE, Dovecot's EXISTS → API (mailbridge's part)",
		Messages:   o.idle,
		LatencyP50: c50, LatencyP99: c99,
		Duplicates: stub.duplicates.Load(),
		Note: fmt.Sprintf("Dovecot announced each message p50 %s / p99 %s after its APPEND (a fixed 500 ms notify delay).",
			ms(s50), ms(s99)),
	}}, nil
}

// existsObserver is an IMAP connection on INBOX that, while idling, notes
// when the server announces each new message count.
type existsObserver struct {
	c      *imapclient.Client
	idle   *imapclient.IdleCommand
	counts chan existsAt
}

type existsAt struct {
	n  uint32
	at time.Time
}

func observeExists(dc *testenv.Dovecot) (*existsObserver, error) {
	o := &existsObserver{counts: make(chan existsAt, 1024)}
	c, err := imapclient.DialInsecure(dc.Addr, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(m *imapclient.UnilateralDataMailbox) {
				if m.NumMessages != nil {
					select {
					case o.counts <- existsAt{*m.NumMessages, time.Now()}:
					default: // the benchmark reads every one; never block the reader
					}
				}
			},
		},
	})
	if err != nil {
		return nil, err
	}
	o.c = c
	if err := c.Login(dc.User, dc.Password).Wait(); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		c.Close()
		return nil, err
	}
	return o, nil
}

func (o *existsObserver) start() (err error) {
	o.idle, err = o.c.Idle()
	return err
}

func (o *existsObserver) stop() error {
	if err := o.idle.Close(); err != nil {
		return err
	}
	err := o.idle.Wait()
	o.idle = nil
	return err
}

// next returns when the server announced that the folder holds n messages.
func (o *existsObserver) next(n int, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		select {
		case e := <-o.counts:
			if int(e.n) >= n {
				return e.at, nil
			}
		case <-deadline:
			return time.Time{}, fmt.Errorf("no EXISTS %d within %s", n, timeout)
		}
	}
}

func (o *existsObserver) close() {
	if o.idle != nil {
		_ = o.stop()
	}
	_ = o.c.Close()
}

// bareFetchRate is the IMAP transfer alone: one UID FETCH 1:* BODY.PEEK[]
// of the whole folder, bodies read and dropped. It bounds what any client
// could reach on the same machine.
func bareFetchRate(dc *testenv.Dovecot, n int) (float64, error) {
	c, err := imapclient.DialInsecure(dc.Addr, nil)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := c.Login(dc.User, dc.Password).Wait(); err != nil {
		return 0, err
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		return 0, err
	}
	start := time.Now()
	cmd := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	got := 0
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			if b, ok := item.(imapclient.FetchItemDataBodySection); ok {
				if _, err := io.Copy(io.Discard, b.Literal); err != nil {
					return 0, err
				}
				got++
			}
		}
	}
	if err := cmd.Close(); err != nil {
		return 0, err
	}
	if got < n {
		return 0, fmt.Errorf("fetched %d of %d messages", got, n)
	}
	return rate(int64(got), time.Since(start)), nil
}

// fetchmailRate drains the mailbox with fetchmail (keep, fetchall, an MDA
// that discards) and returns its messages/s. fetchmail starts its MDA
// through the shell once per message, as it does in practice.
func fetchmailRate(ctx context.Context, dc *testenv.Dovecot, dir string, n int) (float64, error) {
	bin, err := exec.LookPath("fetchmail")
	if err != nil {
		return 0, errors.New("not installed (scripts/install-test-deps installs it)")
	}
	host, port, _ := net.SplitHostPort(dc.Addr)
	rc := filepath.Join(dir, "fetchmailrc")
	conf := fmt.Sprintf("set no syslog\nset no bouncemail\n"+
		"poll %s service %s protocol IMAP auth password timeout 60\n"+
		"  user %q password %q is root here\n"+
		"  keep fetchall sslproto '' mda \"cat >/dev/null\" folder INBOX\n",
		host, port, dc.User, dc.Password)
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, bin, "-f", rc, "--nodetach", "--silent", "--idfile", filepath.Join(dir, "fetchids"))
	cmd.Env = append(os.Environ(), "HOME="+dir, "FETCHMAILHOME="+dir)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	// Exit code 1 means "no mail", which a full mailbox never is.
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	return rate(int64(n), elapsed), nil
}

func imapConfig(dir, apiURL string, dc *testenv.Dovecot, o imapOptions) string {
	host, port, _ := net.SplitHostPort(dc.Addr)
	return daemonConfig(dir, apiURL, o.common) + fmt.Sprintf(`mailboxes:
  - name: bench
    subchannelId: 1
    host: %s
    port: %s
    security: none
    allowInsecure: true
    username: %s
    password: %s
%s`, host, port, dc.User, dc.Password, pollConfig(o.poll))
}

func pollConfig(poll time.Duration) string {
	if poll <= 0 {
		return ""
	}
	return fmt.Sprintf("    idle: false\n    pollInterval: %s\n", poll)
}

func pushMode(poll time.Duration) string {
	if poll <= 0 {
		return "IDLE"
	}
	return "poll every " + poll.String()
}
