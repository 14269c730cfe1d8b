package smtp

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// limitListener admits at most max connections in total and perIP from
// one address. Beyond that it answers 421 4.7.0 itself and closes, so a
// flood never reaches go-smtp or the store.
type limitListener struct {
	net.Listener
	max, perIP int
	// refused, if set, is called for each connection turned away.
	refused func()

	closeOnce sync.Once
	closeErr  error

	mu    sync.Mutex
	total int
	byIP  map[netip.Addr]int
	conns map[*trackedConn]struct{}
}

func newLimitListener(l net.Listener, max, perIP int) *limitListener {
	return &limitListener{Listener: l, max: max, perIP: perIP,
		byIP: map[netip.Addr]int{}, conns: map[*trackedConn]struct{}{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		l.mu.Lock()
		admit := l.total < l.max && l.byIP[ip] < l.perIP
		var tc *trackedConn
		if admit {
			l.total++
			l.byIP[ip]++
			tc = &trackedConn{Conn: c, l: l, ip: ip}
			l.conns[tc] = struct{}{}
		}
		l.mu.Unlock()
		if admit {
			return tc, nil
		}
		// Refuse off the accept loop: a client that does not read must
		// not stall everyone else.
		if l.refused != nil {
			l.refused()
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
}

// trackedConn is an admitted connection. busy is set while the client
// is inside a mail transaction (MAIL FROM to the end of DATA), which a
// graceful shutdown lets finish.
type trackedConn struct {
	net.Conn
	l    *limitListener
	ip   netip.Addr
	busy atomic.Bool
	once sync.Once
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
