package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/enneo/mailbridge/internal/testenv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

type smtpOptions struct {
	common
	conns int     // concurrent SMTP connections
	size  int     // bytes per message, headers included
	rate  float64 // messages/s offered in all; 0: as fast as they are taken
	pace  apiPace // the stub API's latency and limit of calls at a time
	// instances of the daemon share the PostgreSQL queue (1 without it).
	instances int
	// attack runs beside the benchmark (attack.go): "", auth or idle.
	attack string
	// attach makes each message a short text with an attachment that
	// fills it up to size, instead of one text of size.
	attach bool
}

// benchSMTP sends o.messages messages over o.conns concurrent SMTP
// connections to a mailbridge child process that delivers them to the
// stub API, and measures both ends: the SMTP replies (250 comes only after
// the durable commit) and the arrivals at the API.
func benchSMTP(ctx context.Context, o smtpOptions) (*result, error) {
	e, err := setUp(ctx, "mailbench-smtp-", o)
	if err != nil {
		return nil, err
	}
	defer e.close()
	dir, bin, stub, epoch, addr := e.dir, e.bin, e.stub, e.epoch, e.addr
	cfg := smtpConfig(dir, stub.url, addr, o)
	if o.attack != attackNone {
		users, err := attackSMTPConfig()
		if err != nil {
			return nil, err
		}
		cfg += users
	}
	cfg, prof, err := withProfiler(cfg, o.common)
	if err != nil {
		return nil, err
	}
	d, err := startDaemon(ctx, bin, dir, cfg, addr)
	if err != nil {
		return nil, err
	}
	defer d.stop()
	// More instances on the same PostgreSQL queue, each with a listener
	// of its own; the connections are spread over all.
	addrs, ds := []string{addr}, []*daemon{d}
	for i := 1; i < o.instances; i++ {
		idir := filepath.Join(dir, fmt.Sprint("instance", i))
		if err := os.Mkdir(idir, 0o755); err != nil {
			return nil, err
		}
		iaddr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		di, err := startDaemon(ctx, bin, idir, smtpConfig(idir, stub.url, iaddr, o), iaddr)
		if err != nil {
			return nil, err
		}
		defer di.stop()
		addrs, ds = append(addrs, iaddr), append(ds, di)
	}
	var att *attack
	if o.attack != attackNone {
		att = startAttack(ctx, o.attack, addr)
		defer func() {
			if att != nil {
				att.end()
			}
		}()
		time.Sleep(2 * time.Second) // the attack under way before the first mail
	}

	run := fmt.Sprintf("%x", epoch.UnixNano())
	cpu0 := daemonsUsage(ds).CPU
	self0 := testenv.ProcessCPU()
	pg0 := postgresCPU()
	var pgc0 pgCounters
	if o.postgres != "" {
		pgc0, _ = readPGCounters(ctx, o.postgres) // the note is left out if it fails
	}
	prof.start(ctx)
	l := sendLoad(ctx, addrs, o, epoch, run)
	var attackNote string
	if att != nil {
		attackNote = "attack " + o.attack + ": " + att.end()
		att = nil
	}
	if l.err != nil && l.accepted == 0 {
		return nil, fmt.Errorf("no message accepted: %w", l.err)
	}
	if err := stub.waitStored(ctx, int(l.accepted), o.timeout, d); err != nil {
		return nil, err
	}
	u := daemonsUsage(ds)
	if err := prof.wait(); err != nil {
		return nil, err
	}
	pg := postgresCPU() - pg0
	r := l.result(smtpName(o), u, cpu0, self0)
	r.Duplicates = stub.duplicates.Load()
	var e2e, replies []time.Duration
	var last int64
	for n := range l.dataEnd {
		if l.dataEnd[n] == 0 {
			continue
		}
		a := stub.arrived[n].Load()
		last = max(last, a)
		e2e = append(e2e, time.Duration(a-l.dataEnd[n]))
		replies = append(replies, l.reply[n])
	}
	r.Delivered = rate(int64(len(e2e)), time.Duration(last)-l.begin)
	r.ReplyP50, r.ReplyP99 = percentiles(replies)
	r.LatencyP50, r.LatencyP99 = percentiles(e2e)
	if l.err != nil {
		r.Note = "first error: " + l.err.Error()
	}
	if o.pace != (apiPace{}) {
		r.Baseline = paceNote(o.pace, stub, r.Delivered)
	}
	if o.postgres != "" && r.Messages > 0 {
		r.Note = strings.TrimPrefix(r.Note+fmt.Sprintf("; PostgreSQL CPU %.2f s/1k msgs", pg.Seconds()*1000/float64(r.Messages)), "; ")
	}
	if attackNote != "" {
		r.Note = strings.TrimPrefix(r.Note+"; "+attackNote, "; ")
	}
	var errs []error
	for _, d := range ds {
		errs = append(errs, d.stop())
	}
	if o.postgres != "" {
		if pgc, err := readPGCounters(ctx, o.postgres); err == nil {
			if n := pgc.note(pgc0, r.Messages); n != "" {
				r.Note += ", " + n
			}
		}
	}
	return r, errors.Join(errs...)
}

// setup is what a run over SMTP needs: a private directory, the daemon's
// binary, the stub API, an address for the listener, and a fresh schema
// when the queue is on PostgreSQL.
type setup struct {
	dir, bin string
	stub     *stubAPI
	epoch    time.Time // when the stub started
	addr     string
}

func setUp(ctx context.Context, prefix string, o smtpOptions) (e *setup, err error) {
	e = &setup{}
	if e.dir, err = os.MkdirTemp("", prefix); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.bin, err = mailbridgeBinary(ctx, o.bin, e.dir); err != nil {
		return e, err
	}
	e.epoch = time.Now()
	if e.stub, err = startStub(o.messages, e.epoch, o.pace); err != nil {
		return e, err
	}
	if e.addr, err = freeAddr(); err != nil {
		return e, err
	}
	if o.postgres != "" {
		err = freshSchema(ctx, o.postgres)
	}
	return e, err
}

func (e *setup) close() {
	if e.stub != nil {
		e.stub.close()
	}
	os.RemoveAll(e.dir)
}

// load is what the SMTP clients of one run saw.
type load struct {
	dataEnd    []int64         // per message: end of its DATA in ns since epoch; 0 if not accepted
	reply      []time.Duration // per message: from the end of DATA to the reply
	accepted   int64
	rejected   int64
	begin, end time.Duration // since epoch: first connection, last reply
	err        error         // the first error of a client
}

// result is what the load and the server's usage u (CPU cpu0 and the
// load generator's self0 at the start) say of a run.
func (l *load) result(name string, u usage, cpu0, self0 time.Duration) *result {
	return &result{
		Name:      name,
		Messages:  int(l.accepted),
		Rejected:  int(l.rejected),
		Accepted:  rate(l.accepted, l.end-l.begin),
		PeakRSS:   u.PeakRSS,
		DaemonCPU: u.CPU - cpu0,
		LoadCPU:   testenv.ProcessCPU() - self0,
	}
}

// sendLoad sends o.messages messages of o.size bytes over o.conns
// concurrent connections, spread over addrs, and notes the replies.
func sendLoad(ctx context.Context, addrs []string, o smtpOptions, epoch time.Time, run string) *load {
	l := &load{dataEnd: make([]int64, o.messages), reply: make([]time.Duration, o.messages)}
	var next, accepted, rejected atomic.Int64
	var errOnce sync.Once
	var wg sync.WaitGroup
	l.begin = time.Since(epoch)
	for i := range o.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := smtpClient(ctx, addrs[i%len(addrs)], func() (int, bool) {
				n := int(next.Add(1) - 1)
				if n < o.messages && o.rate > 0 {
					// Open loop: message n is due at a fixed time whatever
					// the replies, so a slow daemon shows as latency
					// instead of slowing the offered load down.
					due := l.begin + time.Duration(float64(n)/o.rate*float64(time.Second))
					time.Sleep(due - time.Since(epoch))
				}
				return n, n < o.messages
			}, func(c *gosmtp.Client, n int) error {
				w, err := c.Data()
				if err != nil {
					return err
				}
				write := writeMessage
				if o.attach {
					write = writeAttachmentMessage
				}
				if err := write(w, run, n, o.size); err != nil {
					return err
				}
				t := time.Now()
				err = w.Close()
				if err != nil {
					rejected.Add(1)
					return err
				}
				l.dataEnd[n] = t.Sub(epoch).Nanoseconds()
				l.reply[n] = time.Since(t)
				accepted.Add(1)
				return nil
			})
			if err != nil {
				errOnce.Do(func() { l.err = err })
			}
		}()
	}
	wg.Wait()
	l.end = time.Since(epoch)
	l.accepted, l.rejected = accepted.Load(), rejected.Load()
	return l
}

// daemonsUsage is the CPU time of all ds and the largest peak RSS of one.
func daemonsUsage(ds []*daemon) usage {
	var all usage
	for _, d := range ds {
		u := d.usage()
		all.CPU += u.CPU
		all.PeakRSS = max(all.PeakRSS, u.PeakRSS)
	}
	return all
}

// smtpClient sends messages over one connection until take says there
// are none left: take hands out message numbers, send does one
// transaction's DATA.
func smtpClient(ctx context.Context, addr string, take func() (int, bool), send func(*gosmtp.Client, int) error) error {
	c, err := gosmtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("mailbench.example.org"); err != nil {
		return err
	}
	for n, ok := take(); ok; n, ok = take() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := c.Mail("customer@example.org", nil); err != nil {
			return err
		}
		if err := c.Rcpt("support@example.com", nil); err != nil {
			return err
		}
		if err := send(c, n); err != nil {
			// A rejected message leaves the connection usable; reset and
			// go on so that one refusal does not end the run.
			var se *gosmtp.SMTPError
			if !errors.As(err, &se) {
				return err
			}
			if err := c.Reset(); err != nil {
				return err
			}
		}
	}
	return c.Quit()
}

// filler is the text benchmark bodies are made of: ordinary prose, so that
// the mapper's charset and HTML handling see what they usually see.
const filler = "Hello support team, the invoice for order 4711 still shows the old address. " +
	"Could you please correct it and send a new copy? Thanks a lot for your help.\r\n"

// writeMessage writes benchmark message n of the run, size bytes long
// (give or take a line).
func writeMessage(w io.Writer, run string, n, size int) error {
	head := fmt.Sprintf("From: Customer %d <customer@example.org>\r\nTo: support@example.com\r\n"+
		"Subject: Invoice question %d\r\nDate: %s\r\nMessage-ID: <%s%d.%s@mailbench>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
		n, n, time.Now().Format(time.RFC1123Z), messageIDPrefix, n, run)
	var b strings.Builder
	b.Grow(size + len(filler))
	b.WriteString(head)
	for b.Len() < size {
		b.WriteString(filler)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeAttachmentMessage writes benchmark message n of the run as a short
// text with a PDF attachment of random bytes in base64 (lines of 76), size
// bytes in all (give or take a line): a newsletter, an invoice.
func writeAttachmentMessage(w io.Writer, run string, n, size int) error {
	const boundary = "mailbench-boundary"
	head := fmt.Sprintf("From: Customer %d <customer@example.org>\r\nTo: support@example.com\r\n"+
		"Subject: Invoice question %d\r\nDate: %s\r\nMessage-ID: <%s%d.%s@mailbench>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=%q\r\n\r\n"+
		"--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"+
		"--%s\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"invoice-%d.pdf\"\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\n",
		n, n, time.Now().Format(time.RFC1123Z), messageIDPrefix, n, run, boundary,
		boundary, filler, boundary, n)
	tail := "--" + boundary + "--\r\n"
	att := attachmentLines(size - len(head) - len(tail))
	if _, err := io.WriteString(w, head); err != nil {
		return err
	}
	if _, err := io.WriteString(w, att); err != nil {
		return err
	}
	_, err := io.WriteString(w, tail)
	return err
}

var attachments sync.Map // size → its base64 lines

// attachmentLines is at least size bytes (and at least a line) of base64
// of random bytes in lines of 76, the same for every message of a size.
func attachmentLines(size int) string {
	if a, ok := attachments.Load(size); ok {
		return a.(string)
	}
	raw := make([]byte, max(size, 1)/78*57+57)
	_, _ = rand.Read(raw)
	enc := base64.StdEncoding.EncodeToString(raw)
	var b strings.Builder
	for len(enc) > 0 {
		line := enc[:min(76, len(enc))]
		enc = enc[len(line):]
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	a, _ := attachments.LoadOrStore(size, b.String())
	return a.(string)
}

func smtpConfig(dir, apiURL, addr string, o smtpOptions) string {
	return daemonConfig(dir, apiURL, o.common) + fmt.Sprintf(`smtp:
  hostname: mailbench
  listeners:
    - name: bench
      address: %s
      allowInsecureAuth: true
  routes:
    - address: support@example.com
      subchannelId: 1
  # The MTA is 127.0.0.1; attackers come from the rest of 127.0.0.0/8.
  allowedNetworks: [127.0.0.1/32]
  limits:
    maxConnections: %d
    maxConnectionsPerIP: %d
`, addr, max(200, o.conns+10)+attackConns(o.attack), o.conns+10)
}

func smtpName(o smtpOptions) string {
	name := fmt.Sprintf("SMTP %d conns × %d KB", o.conns, o.size>>10)
	if o.attach {
		name += " (attachment)"
	}
	if o.postgres != "" {
		name += ", PostgreSQL"
	}
	if o.instances > 1 {
		name += fmt.Sprintf(", %d instances", o.instances)
	}
	name += o.pace.name()
	if o.rate > 0 {
		name += fmt.Sprintf(", offered %.0f/s", o.rate)
	}
	if o.attack != attackNone {
		name += ", under attack: " + o.attack
	}
	return name
}

// attackConns is how many more connections the attack needs admitted. The
// idle attack gets none: it is there to take the slots the MTA needs, and
// the reserve for allowedNetworks keeps them.
func attackConns(kind string) int {
	if kind == attackAuth {
		return authAttackers
	}
	return 0
}

// paceNote compares the delivery rate with a paced API's capacity: each
// message takes the stub's calls per stored conversation (a ticket and a
// store when every message opens a ticket).
func paceNote(p apiPace, stub *stubAPI, delivered float64) string {
	calls := 1.0
	if st := stub.stored.Load(); st > 0 {
		calls = float64(st+stub.tickets.Load()) / float64(st)
	}
	note := fmt.Sprintf("API peak %d calls at a time, %d answered 429", stub.peak.Load(), stub.refused.Load())
	if c := p.capacity(); c > 0 {
		note = fmt.Sprintf("%.0f%% of the API's capacity (%.1f msgs/s at %.1f calls per message); ", 100*delivered*calls/c, c/calls, calls) + note
	}
	return note
}
