package smtp

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/enneo/mailbridge/internal/testenv"
)

// ehloFrom connects from the loopback address ip (all of 127.0.0.0/8 is
// local), so that one test can play several clients, and greets.
func ehloFrom(t *testing.T, addr, ip string) *rawConn {
	t.Helper()
	rc := rawFrom(t, ip, addr)
	_ = rc.SetDeadline(time.Now().Add(30 * time.Second))
	if r := rc.reply(t); !strings.HasPrefix(r, "220") {
		t.Fatalf("greeting %q", r)
	}
	if r := rc.cmd(t, "EHLO client.test"); !strings.HasPrefix(r, "250") {
		t.Fatalf("EHLO: %q", r)
	}
	return rc
}

func authPlain(user, pw string) string {
	return "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pw))
}

// closed reports whether the server closed c (EOF on the next read).
func (c *rawConn) closed() bool {
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := c.r.ReadByte()
	return errors.Is(err, io.EOF)
}

// fakeClock is an injectable clock for the guard.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func hashed(t testing.TB, pw string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// authServer serves a listener with the user relay/s3cret (bcrypt at
// cost) and a guard of limits.
func authServer(t *testing.T, limits AuthLimits, cost int, obs Observer) (*testServer, *AuthGuard) {
	t.Helper()
	g := NewAuthGuard(limits, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts := startServer(t, Options{AllowInsecureAuth: true, AuthGuard: g, Observer: obs,
		Users: []User{{Username: "relay", PasswordHash: hashed(t, "s3cret", cost)}}})
	return ts, g
}

// TestAuthBruteForce: a password guesser from 127.0.0.2 waits longer
// before each answer, is cut off after 3 failures per connection, and is
// locked out after 10, so that the right password is refused too; a user
// who logged in before from 127.0.0.3 still may. Meanwhile 40 more
// guessers with unknown names hammer away and the MTA at 127.0.0.1 gets
// each mail accepted in under a second.
func TestAuthBruteForce(t *testing.T) {
	const initial = 50 * time.Millisecond
	// bcrypt's lowest cost keeps the run short under the race detector; the
	// queue timeout is long so that the guesser is answered, not told
	// busy.
	ts, _ := authServer(t, AuthLimits{TarpitInitial: initial, TarpitMax: 400 * time.Millisecond,
		CheckQueueTimeout: time.Minute}, bcrypt.MinCost, nil)

	owner := ehloFrom(t, ts.addr, "127.0.0.3")
	if r := owner.cmd(t, authPlain("relay", "s3cret")); !strings.HasPrefix(r, "235") {
		t.Fatalf("owner's AUTH: %q", r)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	// The crowd: 40 addresses, unknown names, each attempt a bcrypt
	// check unless locked out; bounded in count, stopped at the end.
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := net.IPv4(127, 0, 1, byte(10+i)).String()
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
			for range 30 {
				select {
				case <-stop:
					return
				default:
				}
				c, err := d.Dial("tcp", ts.addr)
				if err != nil {
					return
				}
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				_, _ = io.WriteString(c, "EHLO crowd\r\n")
				for range 4 {
					_, _ = io.WriteString(c, authPlain("nobody"+ip, "guess")+"\r\n")
				}
				_, _ = io.Copy(io.Discard, r)
				c.Close()
			}
		}()
	}
	// The MTA: a mail every 100ms while the attack runs.
	mtaErr := make(chan error, 1)
	var slowest atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; n < 300; n++ {
			select {
			case <-stop:
				mtaErr <- nil
				return
			case <-time.After(100 * time.Millisecond):
			}
			t0 := time.Now()
			c, err := gosmtp.Dial(ts.addr)
			if err != nil {
				mtaErr <- err
				return
			}
			err = c.SendMail("a@example.org", []string{"support@example.com"}, strings.NewReader(message("mta", 1000)))
			c.Close()
			if err != nil {
				mtaErr <- err
				return
			}
			slowest.Store(max(slowest.Load(), int64(time.Since(t0))))
		}
		mtaErr <- nil
	}()

	failures := 0
	for conn := 0; failures < 10; conn++ {
		c := ehloFrom(t, ts.addr, "127.0.0.2")
		for i := 1; i <= 3 && failures < 10; i++ {
			failures++
			want := initial << (failures - 1)
			want = min(want, 400*time.Millisecond)
			t0 := time.Now()
			r := c.cmd(t, authPlain("relay", "wrong"))
			took := time.Since(t0)
			if took < want {
				t.Errorf("failure %d answered after %v, want at least %v", failures, took, want)
			}
			switch {
			case i < 3 && !strings.HasPrefix(r, "535 5.7.8"):
				t.Fatalf("failure %d: %q, want 535 5.7.8", failures, r)
			case i == 3 && !strings.HasPrefix(r, "421 4.7.0"):
				t.Fatalf("failure %d, third on the connection: %q, want 421 4.7.0", failures, r)
			case i == 3 && !c.closed():
				t.Fatalf("connection open after 421")
			}
		}
	}
	c := ehloFrom(t, ts.addr, "127.0.0.2")
	if r := c.cmd(t, authPlain("relay", "s3cret")); !strings.HasPrefix(r, "454 4.7.0") {
		t.Errorf("right password during the lockout: %q, want 454 4.7.0", r)
	}
	// The name is locked for new addresses, not for its owner's.
	if r := ehloFrom(t, ts.addr, "127.0.0.4").cmd(t, authPlain("relay", "s3cret")); !strings.HasPrefix(r, "454 4.7.0") {
		t.Errorf("right password from a new address while the user is locked: %q, want 454 4.7.0", r)
	}
	if r := ehloFrom(t, ts.addr, "127.0.0.3").cmd(t, authPlain("relay", "s3cret")); !strings.HasPrefix(r, "235") {
		t.Errorf("owner's address while the user is locked: %q, want 235", r)
	}
	close(stop)
	wg.Wait()
	if err := <-mtaErr; err != nil {
		t.Fatalf("MTA during the attack: %v", err)
	}
	if s := time.Duration(slowest.Load()); s > time.Second || s == 0 {
		t.Errorf("slowest MTA mail during the attack took %v, want under 1s", s)
	}
}

// TestAuthLockoutExpires: the address lockout lasts LockoutDuration on
// the guard's clock, then the right password is taken again.
func TestAuthLockoutExpires(t *testing.T) {
	ts, g := authServer(t, AuthLimits{TarpitInitial: time.Millisecond, TarpitMax: time.Millisecond,
		MaxFailuresPerConnection: 100}, bcrypt.MinCost, nil)
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	g.now = clock.now

	c := ehloFrom(t, ts.addr, "127.0.0.2")
	for i := range 10 {
		if r := c.cmd(t, authPlain("someone", "wrong")); !strings.HasPrefix(r, "535") {
			t.Fatalf("failure %d: %q", i+1, r)
		}
	}
	if r := c.cmd(t, authPlain("relay", "s3cret")); !strings.HasPrefix(r, "454 4.7.0") {
		t.Fatalf("locked: %q, want 454 4.7.0", r)
	}
	clock.advance(14 * time.Minute)
	if r := c.cmd(t, authPlain("relay", "s3cret")); !strings.HasPrefix(r, "454 4.7.0") {
		t.Fatalf("after 14 minutes: %q, want 454 4.7.0", r)
	}
	clock.advance(time.Minute)
	if r := c.cmd(t, authPlain("relay", "s3cret")); !strings.HasPrefix(r, "235") {
		t.Fatalf("after 15 minutes: %q, want 235", r)
	}
}

// TestAuthUserLockoutExpires: failures spread over ten addresses lock the
// name for other addresses until LockoutDuration has passed.
func TestAuthUserLockoutExpires(t *testing.T) {
	ts, g := authServer(t, AuthLimits{TarpitInitial: time.Millisecond, TarpitMax: time.Millisecond}, bcrypt.MinCost, nil)
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	g.now = clock.now
	for i := range 10 {
		if r := ehloFrom(t, ts.addr, net.IPv4(127, 0, 2, byte(i+1)).String()).cmd(t, authPlain("relay", "wrong")); !strings.HasPrefix(r, "535") {
			t.Fatalf("failure %d: %q", i+1, r)
		}
	}
	if r := ehloFrom(t, ts.addr, "127.0.0.9").cmd(t, authPlain("relay", "s3cret")); !strings.HasPrefix(r, "454 4.7.0") {
		t.Fatalf("user locked: %q, want 454 4.7.0", r)
	}
	clock.advance(15 * time.Minute)
	if r := ehloFrom(t, ts.addr, "127.0.0.9").cmd(t, authPlain("relay", "s3cret")); !strings.HasPrefix(r, "235") {
		t.Fatalf("after the lockout: %q, want 235", r)
	}
}

// TestAuthGuardBounded: addresses and names beyond MaxTracked push out
// the least recently seen, and the sweep forgets what has expired.
func TestAuthGuardBounded(t *testing.T) {
	g := NewAuthGuard(AuthLimits{MaxTracked: 100}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	g.now = clock.now
	for i := range 20000 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		g.failed(ip, "name"+strings.Repeat("x", i%300)+string(rune('a'+i%26)))
		if a, n := g.tracked(); a > 100 || n > 100 {
			t.Fatalf("after %d: %d addresses, %d names tracked, want at most 100", i+1, a, n)
		}
	}
	// IPv6 clients count by their /64.
	for i := range 1000 {
		g.failed(netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 15: byte(i)}), "v6")
	}
	if f, ok := g.addrs.peek(netip.MustParsePrefix("2001:db8::/64")); !ok || f.n != 1000 {
		t.Errorf("2001:db8::/64 not counted as one client")
	}
	clock.advance(time.Hour)
	g.admit(netip.MustParseAddr("10.9.9.9"), "x")
	if a, n := g.tracked(); a != 0 || n != 0 {
		t.Errorf("after an hour: %d addresses, %d names tracked, want 0", a, n)
	}
}

// TestAuthConcurrentChecks: however many clients try at once, at most
// MaxConcurrentChecks password checks run; a client waiting longer than
// CheckQueueTimeout is told 454 4.7.0.
func TestAuthConcurrentChecks(t *testing.T) {
	ts, g := authServer(t, AuthLimits{TarpitInitial: time.Millisecond, TarpitMax: time.Millisecond,
		MaxConcurrentChecks: 2, CheckQueueTimeout: time.Minute}, 8, nil)
	try := func(n int, base byte) []string {
		replies := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			c := ehloFrom(t, ts.addr, net.IPv4(127, 0, base, byte(i+1)).String())
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A name per client: failures of one name from ten
				// addresses would lock it out, however slow the run.
				c.write(t, authPlain(fmt.Sprintf("nobody%d", i), "guess")+"\r\n")
				line, _ := c.r.ReadString('\n')
				replies[i] = line
			}()
		}
		wg.Wait()
		return replies
	}
	for _, r := range try(16, 3) {
		if !strings.HasPrefix(r, "535") {
			t.Errorf("reply %q, want 535", r)
		}
	}
	if p := g.peak.Load(); p != 2 {
		t.Errorf("at most %d checks at once, want 2", p)
	}

	g.SetLimits(AuthLimits{TarpitInitial: time.Millisecond, TarpitMax: time.Millisecond,
		MaxConcurrentChecks: 1, CheckQueueTimeout: time.Millisecond})
	busy := 0
	for _, r := range try(8, 4) {
		if strings.HasPrefix(r, "454 4.7.0") {
			busy++
		}
	}
	if busy == 0 {
		t.Error("no 454 4.7.0 with 8 clients, one check at a time and a 1ms queue")
	}
}

// authObserver counts what the guard reports.
type authObserver struct {
	mu                 sync.Mutex
	failed             int
	lockouts, rejected map[string]int
}

func (o *authObserver) Rejected(_ string, r Reason) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rejected[string(r)]++
}

func (o *authObserver) AuthFailed(string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failed++
}

func (o *authObserver) AuthLockedOut(_, scope string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lockouts[scope]++
}

// TestAuthFailuresLoggedAndCounted: failures from one address make one
// log line per LogInterval, with their count, and each one counts in the
// metrics; the lockout is logged and counted once per scope.
func TestAuthFailuresLoggedAndCounted(t *testing.T) {
	var buf testenv.Buffer
	g := NewAuthGuard(AuthLimits{TarpitInitial: time.Millisecond, TarpitMax: time.Millisecond,
		MaxFailuresPerConnection: 100}, slog.New(slog.NewTextHandler(&buf, nil)))
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	g.now = clock.now
	obs := &authObserver{lockouts: map[string]int{}, rejected: map[string]int{}}
	ts := startServer(t, Options{AllowInsecureAuth: true, AuthGuard: g, Observer: obs,
		Users: []User{{Username: "relay", PasswordHash: hashed(t, "s3cret", bcrypt.MinCost)}}})
	c := ehloFrom(t, ts.addr, "127.0.0.2")
	for range 6 {
		c.cmd(t, authPlain("relay", "wrong"))
	}
	if n := strings.Count(buf.String(), `msg="authentication failures"`); n != 1 {
		t.Fatalf("%d lines for 6 failures within a minute, want 1:\n%s", n, buf.String())
	}
	clock.advance(time.Minute)
	// The next attempt's sweep logs the 5 left; the 10th failure locks
	// out, the 11th attempt is refused, and these wait for the next line.
	for range 5 {
		c.cmd(t, authPlain("relay", "wrong"))
	}
	log := buf.String()
	if n := strings.Count(log, `msg="authentication failures"`); n != 2 || !strings.Contains(log, "failures=5 ") {
		t.Errorf("want the sweep to log the 5 failures still pending:\n%s", log)
	}
	if n := strings.Count(log, "authentication locked out"); n != 2 {
		t.Errorf("%d lockout lines, want 2 (address and user):\n%s", n, log)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.failed != 10 || obs.lockouts["address"] != 1 || obs.lockouts["user"] != 1 ||
		obs.rejected[string(ReasonAuthLocked)] != 1 {
		t.Errorf("observed %d failures, lockouts %v, rejections %v", obs.failed, obs.lockouts, obs.rejected)
	}
}

// TestUsersDummyCost: unknown names and plain passwords cost a bcrypt
// comparison as dear as the dearest configured hash.
func TestUsersDummyCost(t *testing.T) {
	u := newUsers([]User{{Username: "a", Password: "x"}, {Username: "b", PasswordHash: hashed(t, "y", 5)}})
	if c, err := bcrypt.Cost(u.dummy()); err != nil || c != 5 {
		t.Errorf("dummy cost %d (%v), want 5", c, err)
	}
	if !u.check("a", "x") || u.check("a", "y") || !u.check("b", "y") || u.check("c", "y") {
		t.Error("check answers wrong")
	}
}
