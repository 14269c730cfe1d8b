package imap

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// freezer is a TCP proxy whose connections can be frozen: they stay open
// but nothing more passes, like a peer that vanished without a FIN.
type freezer struct {
	backend string
	ln      net.Listener
	mu      sync.Mutex
	conns   []*atomic.Bool
	done    chan struct{}
}

func newFreezer(t *testing.T, backend string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{backend: backend, ln: ln, done: make(chan struct{})}
	t.Cleanup(func() { close(f.done); ln.Close() })
	go f.serve()
	return f
}

func (f *freezer) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", f.backend)
		if err != nil {
			c.Close()
			continue
		}
		frozen := new(atomic.Bool)
		f.mu.Lock()
		f.conns = append(f.conns, frozen)
		f.mu.Unlock()
		go f.pipe(c, b, frozen)
		go f.pipe(b, c, frozen)
	}
}

func (f *freezer) pipe(dst, src net.Conn, frozen *atomic.Bool) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if frozen.Load() {
			<-f.done // swallow everything, close nothing
			return
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// freeze freezes every connection open now; later ones pass.
func (f *freezer) freeze() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Store(true)
	}
	return len(f.conns)
}

// A server that stops answering is noticed by the NOOP's timeout and the
// connection is replaced; no mail is missed.
func TestDeadConnectionReplaced(t *testing.T) {
	for _, idle := range []bool{false, true} {
		name := "poll"
		if idle {
			name = "idle"
		}
		t.Run(name, func(t *testing.T) {
			srv := newMemServer(t, "IDLE")
			proxy := newFreezer(t, srv.addr)
			c := dialClient(t, srv.addr, memUser, memPass)
			q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
			cfg := srv.config(q, cp, log)
			cfg.Addr = proxy.ln.Addr().String()
			cfg.Timeout = 300 * time.Millisecond
			cfg.IDLE = idle
			cfg.IdleRestart = 200 * time.Millisecond
			cfg.PollInterval = 100 * time.Millisecond
			startPoller(t, cfg)
			c.append("INBOX", testMessage("before@x", "before"))
			q.waitUnique(t, 1, 5*time.Second)

			if n := proxy.freeze(); n != 1 {
				t.Fatalf("%d connections frozen, want 1", n)
			}
			c.append("INBOX", testMessage("after@x", "after"))
			q.waitUnique(t, 2, 5*time.Second)
			if !strings.Contains(log.String(), "imap connection failed") {
				t.Errorf("the dead connection was not reported:\n%s", log)
			}
		})
	}
}
