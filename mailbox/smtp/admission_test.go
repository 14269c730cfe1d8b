package smtp

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/enneo/mailbridge/internal/testenv"
)

// The tests here play hostile clients from 127.0.0.2 and up; the MTA is
// 127.0.0.1, the only allowed network unless a test says otherwise.
var mtaOnly = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

// countObserver counts refusals by reason.
type countObserver struct {
	mu sync.Mutex
	n  map[Reason]int
}

func (o *countObserver) Rejected(_ string, r Reason) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[Reason]int{}
	}
	o.n[r]++
}

func (o *countObserver) count(r Reason) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[r]
}

// logBuffer collects log lines from several goroutines.
type logBuffer struct{ testenv.Buffer }

// lines returns the log lines containing s.
func (l *logBuffer) lines(s string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// dialFrom connects to addr from the loopback address src.
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return d.Dial("tcp", addr)
}

func rawFrom(t *testing.T, src, addr string) *rawConn {
	t.Helper()
	c, err := dialFrom(src, addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

// A thousand idle connections from outside allowedNetworks fill the
// outside pool; the MTA still gets a slot and its mail gets 250.
func TestOutsideClientsCannotTakeTheMTAsSlots(t *testing.T) {
	ts := startServer(t, Options{
		AllowedNetworks: mtaOnly, MaxConnections: 200, MaxConnectionsPerIP: 200,
		// The per-IP limit for outside clients is not what this test is
		// about: the reserve alone must keep the MTA served.
		ReservedConnections: 20, OutsideConnectionsPerIP: 200,
	})
	const attackers, per = 10, 100
	var (
		mu       sync.Mutex
		conns    []net.Conn
		admitted int
		refused  int
		wg       sync.WaitGroup
	)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for a := range attackers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := fmt.Sprintf("127.0.0.%d", 2+a)
			for range per {
				c, err := dialFrom(src, ts.addr)
				if err != nil {
					t.Error(err)
					return
				}
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				line, err := bufio.NewReader(c).ReadString('\n')
				mu.Lock()
				conns = append(conns, c)
				switch {
				case strings.HasPrefix(line, "220"):
					admitted++
				case strings.HasPrefix(line, "421 4.7.0"):
					refused++
				default:
					t.Errorf("greeting %q, %v", line, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if admitted > 180 || admitted+refused != attackers*per {
		t.Fatalf("outside clients: %d admitted, %d refused; want at most 180 (200-20) admitted", admitted, refused)
	}
	c := dial(t, ts.addr) // from 127.0.0.1
	if err := c.SendMail("mta@example.org", []string{"support@example.com"}, strings.NewReader(message("mta", 10))); err != nil {
		t.Fatalf("the MTA's mail with the outside pool full: %v, want 250", err)
	}
}

// A client outside allowedNetworks that sends NOOP every few hundred
// milliseconds, well within every idle timeout, is still disconnected
// at its session lifetime; a silent one at the outside idle timeout.
func TestSessionLifetimeEndsNOOPClient(t *testing.T) {
	obs := &countObserver{}
	const lifetime = 1500 * time.Millisecond
	ts := startServer(t, Options{
		AllowedNetworks: mtaOnly, Observer: obs,
		OutsideSessionLifetime: lifetime, OutsideReadTimeout: time.Second, ReadTimeout: time.Minute,
	})

	t.Run("noop", func(t *testing.T) {
		start := time.Now()
		c := rawFrom(t, "127.0.0.2", ts.addr)
		c.reply(t)
		c.cmd(t, "EHLO attacker")
		var last string
		for i := 0; i < 20; i++ { // 20 × 250ms: past the lifetime, bounded
			c.write(t, "NOOP\r\n")
			line, err := c.r.ReadString('\n')
			if err != nil {
				break
			}
			last = line
			if !strings.HasPrefix(line, "250") {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		took := time.Since(start)
		if !strings.HasPrefix(last, "421 4.4.2") || took < lifetime-100*time.Millisecond || took > lifetime+time.Second {
			t.Fatalf("NOOP client: last reply %q after %v; want 421 4.4.2 at the %v lifetime", last, took, lifetime)
		}
		if _, err := c.r.ReadString('\n'); err == nil {
			t.Error("connection still open after 421")
		}
		if obs.count(ReasonLifetime) != 1 {
			t.Errorf("session_lifetime counted %d times, want 1", obs.count(ReasonLifetime))
		}
	})

	t.Run("idle", func(t *testing.T) {
		start := time.Now()
		c := rawFrom(t, "127.0.0.3", ts.addr)
		c.reply(t)
		if got := c.reply(t); !strings.HasPrefix(got, "421 4.4.2") || time.Since(start) > 1500*time.Millisecond {
			t.Fatalf("silent outside client: %q after %v; want 421 4.4.2 after the 1s outside idle timeout", got, time.Since(start))
		}
	})
}

// Sixty oversized messages in parallel, from three addresses, hold no
// more message data at once than the data budget; each is refused, and
// mail goes through afterwards.
func TestDataBudgetBoundsParallelOversizedData(t *testing.T) {
	const (
		limit   = 2 << 20
		budget  = 8 << 20
		clients = 60
		size    = 3 << 20
	)
	obs := &countObserver{}
	ts := startServer(t, Options{
		MaxMessageBytes: limit, DataBytesInFlight: budget,
		Observer: obs, MaxConnectionsPerIP: clients,
	})
	body := message("big", 0) + strings.Repeat(strings.Repeat("x", 998)+"\r\n", size/1000)
	var wg sync.WaitGroup
	replies := make(chan string, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := dialFrom(fmt.Sprintf("127.0.0.%d", 2+i%3), ts.addr)
			if err != nil {
				replies <- err.Error()
				return
			}
			_ = nc.SetDeadline(time.Now().Add(2 * time.Minute))
			c := gosmtp.NewClient(nc)
			defer c.Close()
			replies <- code(c.SendMail("a@example.org", []string{"support@example.com"}, strings.NewReader(body)))
		}()
	}
	wg.Wait()
	close(replies)
	for r := range replies {
		if r != "552 5.3.4" && r != "452 4.3.1" {
			t.Errorf("oversized message: %s, want 552 5.3.4 (or 452 4.3.1)", r)
		}
	}
	b := ts.srv.opts.DataBudget
	if b.Peak() > budget || b.Peak() < limit {
		t.Errorf("message data held at once peaked at %d bytes; want between the limit (%d) and the budget (%d)",
			b.Peak(), limit, budget)
	}
	if b.InFlight() != 0 {
		t.Errorf("%d bytes still held after every transfer ended", b.InFlight())
	}
	if n := obs.count(ReasonTooLarge) + obs.count(ReasonDataBudget); n != clients {
		t.Errorf("%d refusals counted, want %d", n, clients)
	}
	c := dial(t, ts.addr)
	fits := message("fits", 0) + strings.Repeat(strings.Repeat("x", 998)+"\r\n", limit/2000)
	if err := c.SendMail("a@example.org", []string{"support@example.com"}, strings.NewReader(fits)); err != nil {
		t.Fatalf("message within the limit afterwards: %v", err)
	}
}

// A flood of unknown recipients is cut off after MaxErrors with 421
// 4.7.0, and logs a line or two, not one per recipient.
func TestRcptFloodDisconnected(t *testing.T) {
	obs := &countObserver{}
	var logs logBuffer
	const maxErrors, flood = 20, 1000
	ts := startServerLogged(t, Options{MaxErrors: maxErrors, Observer: obs}, &fakeIngester{}, logs.logger())
	c := dialRaw(t, ts.addr)
	c.reply(t)
	c.cmd(t, "EHLO flood")
	if got := c.cmd(t, "MAIL FROM:<a@example.org>"); !strings.HasPrefix(got, "250") {
		t.Fatal(got)
	}
	// Pipelined, as a flood would be; written alongside the replies so
	// that neither side's buffers fill.
	go func() {
		var b strings.Builder
		for i := range flood {
			fmt.Fprintf(&b, "RCPT TO:<nobody%d@example.com>\r\n", i)
		}
		_, _ = io.WriteString(c, b.String())
	}()
	var n550 int
	var last string
	for i := 0; i < flood; i++ {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Logf("after %d replies: %v", i, err)
			break
		}
		last = strings.TrimRight(line, "\r\n")
		if !strings.HasPrefix(line, "550 5.1.1") {
			break
		}
		n550++
	}
	if n550 != maxErrors || !strings.HasPrefix(last, "421 4.7.0") {
		t.Fatalf("%d × 550 then %q; want %d × 550 then 421 4.7.0", n550, last, maxErrors)
	}
	if line, err := c.r.ReadString('\n'); err == nil {
		t.Fatalf("after 421: %q, want the connection closed", line)
	}
	if got := obs.count(ReasonNoRoute); got != maxErrors+1 {
		t.Errorf("no_route counted %d times, want %d", got, maxErrors+1)
	}
	if obs.count(ReasonTooManyErrs) != 1 {
		t.Errorf("too_many_errors counted %d times, want 1", obs.count(ReasonTooManyErrs))
	}
	// One line for the first refusal, one with the count of the rest.
	testenv.WaitFor(t, 5*time.Second, "the too-many-errors line", func() bool {
		return len(logs.lines("too many errors")) > 0
	})
	if got := logs.lines("recipient refused"); len(got) != 2 || !strings.Contains(got[1], "repeated=19") {
		t.Errorf("recipient refusals logged in %d lines, want 2 (the last with repeated=19):\n%s",
			len(got), strings.Join(got, "\n"))
	}
}

// A body line beyond maxLineLength gets one permanent answer, the same as
// a command line that long: 500 5.4.0, then the connection is closed.
func TestLongDataLineIsPermanent(t *testing.T) {
	obs := &countObserver{}
	ts := startServer(t, Options{MaxLineLength: 1000, Observer: obs})
	c := dialRaw(t, ts.addr)
	c.reply(t)
	c.cmd(t, "EHLO x")
	c.cmd(t, "MAIL FROM:<a@example.org>")
	c.cmd(t, "RCPT TO:<support@example.com>")
	if got := c.cmd(t, "DATA"); !strings.HasPrefix(got, "354") {
		t.Fatal(got)
	}
	c.write(t, "Subject: long\r\n\r\n"+strings.Repeat("x", 3000)+"\r\nmore\r\n.\r\n")
	if got := c.reply(t); !strings.HasPrefix(got, "500 5.4.0") {
		t.Fatalf("long body line: %q, want 500 5.4.0", got)
	}
	if line, err := c.r.ReadString('\n'); err == nil {
		t.Fatalf("after 500: %q, want the connection closed", line)
	}
	if obs.count(ReasonLineTooLong) != 1 {
		t.Errorf("line_too_long counted %d times, want 1", obs.count(ReasonLineTooLong))
	}
	if len(ts.ing.messages()) != 0 {
		t.Error("message with a long line queued")
	}
}

// Every size refusal, a declared SIZE far above the limit and a BDAT
// chunk beyond it included (which go-smtp would answer itself), is the
// session's: logged and counted.
func TestSizeRefusalsLoggedAndCounted(t *testing.T) {
	obs := &countObserver{}
	var logs logBuffer
	const limit = 2000
	ts := startServerLogged(t, Options{MaxMessageBytes: limit, Observer: obs}, &fakeIngester{}, logs.logger())
	c := dialRaw(t, ts.addr)
	c.reply(t)
	c.cmd(t, "EHLO x")
	if got := c.cmd(t, "MAIL FROM:<a@example.org> SIZE=4000000000"); !strings.HasPrefix(got, "552 5.3.4") {
		t.Fatalf("SIZE far above the limit: %q, want 552 5.3.4", got)
	}
	if obs.count(ReasonTooLarge) != 1 || len(logs.lines("declared SIZE")) != 1 {
		t.Errorf("declared SIZE refusal: counted %d, logged %d; want 1, 1",
			obs.count(ReasonTooLarge), len(logs.lines("declared SIZE")))
	}
	c.cmd(t, "MAIL FROM:<a@example.org>")
	c.cmd(t, "RCPT TO:<support@example.com>")
	// In lines: go-smtp's line limit applies to chunk bytes read ahead
	// with the BDAT command.
	chunk := strings.Repeat(strings.Repeat("x", 98)+"\r\n", 50)
	c.write(t, fmt.Sprintf("BDAT %d LAST\r\n%s", len(chunk), chunk))
	if got := c.reply(t); !strings.HasPrefix(got, "552 5.3.4") {
		t.Fatalf("BDAT beyond the limit: %q, want 552 5.3.4", got)
	}
	if obs.count(ReasonTooLarge) != 2 || len(logs.lines("message refused: too large")) != 1 {
		t.Errorf("BDAT refusal: counted %d in all, logged %d; want 2, 1",
			obs.count(ReasonTooLarge), len(logs.lines("message refused: too large")))
	}
	// The connection goes on.
	if got := c.cmd(t, "NOOP"); !strings.HasPrefix(got, "250") {
		t.Fatalf("NOOP after the refusals: %q", got)
	}
}
