package smtp

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// admission is how a listener shares its connection slots.
//
// Clients in AllowedNetworks (the MTA) may take any slot. Everyone else
// is "outside" until it has authenticated and sent MAIL FROM: outside
// clients share at most max-reserved slots, perIPOutside from one
// address, and get a shorter idle timeout and session lifetime, so that
// a flood of idle or chatty strangers leaves the MTA its reserve.
type admission struct {
	max, perIP   int
	reserved     int
	perIPOutside int

	idleOutside     time.Duration // 0: go-smtp's ReadTimeout only
	lifetime        time.Duration // allowed and authenticated clients
	lifetimeOutside time.Duration
}

// limitListener admits connections by admission. Beyond its limits it
// answers 421 4.7.0 itself and closes, so a flood never reaches go-smtp
// or the store.
type limitListener struct {
	net.Listener
	adm admission
	// allowed says whether an address is in AllowedNetworks; it follows
	// reloads.
	allowed func(netip.Addr) bool
	// refused, if set, is called for each connection turned away;
	// expired for each connection cut at its session lifetime.
	refused func(ip netip.Addr, outside bool)
	expired func(ip netip.Addr)

	closeOnce sync.Once
	closeErr  error

	mu          sync.Mutex
	total       int
	outside     int
	byIP        map[netip.Addr]int
	outsideByIP map[netip.Addr]int
	conns       map[*trackedConn]struct{}
}

func newLimitListener(l net.Listener, adm admission, allowed func(netip.Addr) bool) *limitListener {
	return &limitListener{Listener: l, adm: adm, allowed: allowed,
		byIP: map[netip.Addr]int{}, outsideByIP: map[netip.Addr]int{}, conns: map[*trackedConn]struct{}{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		outside := l.allowed == nil || !l.allowed(ip)
		now := time.Now()
		l.mu.Lock()
		admit := l.total < l.adm.max && l.byIP[ip] < l.adm.perIP
		if outside {
			admit = admit && l.outside < l.adm.max-l.adm.reserved && l.outsideByIP[ip] < l.adm.perIPOutside
		}
		var tc *trackedConn
		if admit {
			l.total++
			l.byIP[ip]++
			tc = &trackedConn{Conn: c, l: l, ip: ip, start: now}
			if outside {
				l.outside++
				l.outsideByIP[ip]++
				tc.outside, tc.fromOutside = true, true
				tc.idle.Store(int64(l.adm.idleOutside))
				tc.setLifetime(l.adm.lifetimeOutside)
			} else {
				tc.setLifetime(l.adm.lifetime)
			}
			l.conns[tc] = struct{}{}
		}
		l.mu.Unlock()
		if admit {
			return tc, nil
		}
		// Refuse off the accept loop: a client that does not read must
		// not stall everyone else.
		if l.refused != nil {
			l.refused(ip, outside)
		}
		go refuse(c)
	}
}

// Close closes the listener once; later calls return nil, so that both
// Server.shutdown and go-smtp may close it.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.Listener.Close() })
	return l.closeErr
}

func refuse(c net.Conn) {
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write([]byte("421 4.7.0 Too many connections, try again later\r\n"))
	_ = c.Close()
}

// count is how many connections are admitted now.
func (l *limitListener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// idle returns the connections not inside a mail transaction.
func (l *limitListener) idle() []*trackedConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	var idle []*trackedConn
	for c := range l.conns {
		if !c.busy.Load() {
			idle = append(idle, c)
		}
	}
	return idle
}

func (l *limitListener) release(c *trackedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.conns[c]; !ok {
		return
	}
	delete(l.conns, c)
	l.total--
	if l.byIP[c.ip]--; l.byIP[c.ip] <= 0 {
		delete(l.byIP, c.ip)
	}
	if c.outside {
		l.outside--
	}
	if c.fromOutside {
		if l.outsideByIP[c.ip]--; l.outsideByIP[c.ip] <= 0 {
			delete(l.outsideByIP, c.ip)
		}
	}
}

// promote moves a connection that may now send (it authenticated, or a
// reload put its address in AllowedNetworks) out of the outside pool: it
// keeps its slot, frees an outside one, and gets the allowed clients'
// timeouts. It still counts against its address's outsideConnectionsPerIP:
// a client that knows a password must not take the MTA's reserve from one
// address.
func (l *limitListener) promote(c *trackedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !c.outside {
		return
	}
	if _, ok := l.conns[c]; ok {
		l.outside--
	}
	c.outside = false
	c.idle.Store(0)
	c.setLifetime(l.adm.lifetime)
}

// trackedConn is an admitted connection. busy is set while the client
// is inside a mail transaction (MAIL FROM to the end of DATA), which a
// graceful shutdown lets finish.
type trackedConn struct {
	net.Conn
	l     *limitListener
	ip    netip.Addr
	start time.Time
	busy  atomic.Bool
	once  sync.Once

	outside bool // guarded by l.mu
	// fromOutside: admitted from outside allowedNetworks; counted in
	// outsideByIP until it closes, promoted or not.
	fromOutside bool

	// idle bounds each wait for a command (0: go-smtp's ReadTimeout);
	// expires (unix nanoseconds) bounds every read outside DATA, so
	// that no command, NOOP included, keeps a slot past the session
	// lifetime.
	idle    atomic.Int64
	expires atomic.Int64
	// inData exempts the message transfer, which DataTimeout bounds:
	// dataDeadline (unix nanoseconds). go-smtp sets a command's deadline
	// between the chunks of BDAT, so it is applied here again.
	inData       atomic.Bool
	dataDeadline atomic.Int64
	expiredOnce  sync.Once

	// hangup ends the connection after the next reply is written;
	// hungUp is set once it has been.
	hangup, hungUp atomic.Bool

	// The session's errors since its last accepted message (see
	// session.fault). Kept here, not in the session: go-smtp makes a new
	// session after STARTTLS.
	errors atomic.Int32
}

func (c *trackedConn) setLifetime(d time.Duration) {
	if d <= 0 {
		c.expires.Store(0)
		return
	}
	c.expires.Store(c.start.Add(d).UnixNano())
}

// SetReadDeadline is how go-smtp bounds each wait for a command; the
// outside clients' idle timeout and the session lifetime shorten it.
// tls.Conn passes its deadlines down to here too.
func (c *trackedConn) SetReadDeadline(t time.Time) error {
	if c.inData.Load() {
		if dl := c.dataDeadline.Load(); dl != 0 {
			if d := time.Unix(0, dl); t.IsZero() || d.Before(t) {
				t = d
			}
		}
	} else {
		if idle := time.Duration(c.idle.Load()); idle > 0 {
			if d := time.Now().Add(idle); t.IsZero() || d.Before(t) {
				t = d
			}
		}
		if exp := c.expires.Load(); exp != 0 {
			if e := time.Unix(0, exp); t.IsZero() || e.Before(t) {
				t = e
			}
		}
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *trackedConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *trackedConn) Read(b []byte) (int, error) {
	if c.hungUp.Load() {
		return 0, c.linger()
	}
	n, err := c.Conn.Read(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !c.inData.Load() {
		if exp := c.expires.Load(); exp != 0 && !time.Now().Before(time.Unix(0, exp)) && c.l.expired != nil {
			c.expiredOnce.Do(func() { c.l.expired(c.ip) })
		}
	}
	return n, err
}

func (c *trackedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if c.hangup.Load() && !c.hungUp.Swap(true) {
		// Half-close: the client reads the reply, then end of file. A
		// full close with its pipelined commands unread would send a
		// reset, which may destroy the reply before the client reads it.
		if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = c.Close()
		}
	}
	return n, err
}

// lingerTime bounds how long a connection hung up on is read and
// discarded before it is closed.
const lingerTime = 2 * time.Second

// linger discards what the client still sends, for at most lingerTime,
// so that the close that follows finds nothing unread, and reports the
// connection closed.
func (c *trackedConn) linger() error {
	_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.Copy(io.Discard, c.Conn)
	return net.ErrClosed
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.l.release(c) })
	return c.Conn.Close()
}

func remoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}
