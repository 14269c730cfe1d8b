package postgres

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/pipeline"
	"github.com/enneo/mailbridge/store"
)

// proxy forwards TCP connections to PostgreSQL and can be cut off: down
// closes the connections under way and accepts new ones only to close them
// at once (counting them), as a server that went away would refuse them.
type proxy struct {
	ln      net.Listener
	target  string
	refused atomic.Int64

	mu    sync.Mutex
	up    bool
	conns map[net.Conn]bool
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, up: true, conns: map[net.Conn]bool{}}
	t.Cleanup(func() {
		ln.Close()
		p.setUp(false)
	})
	go p.serve()
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		up := p.up
		p.mu.Unlock()
		if !up {
			p.refused.Add(1)
			c.Close()
			continue
		}
		go p.forward(c)
	}
}

func (p *proxy) forward(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[s] = true, true
	p.mu.Unlock()
	go func() { io.Copy(s, c); s.Close() }()
	io.Copy(c, s)
	c.Close()
}

// setUp lets connections through, or cuts them all off.
func (p *proxy) setUp(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if !up {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// via returns dsn with its host and port replaced by the proxy's.
func (p *proxy) via(t *testing.T, dsn string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(p.ln.Addr().String())
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Host = p.ln.Addr().String()
		return u.String()
	}
	return dsn + " host=" + host + " port=" + port
}

// target is the host:port dsn connects to.
func target(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}

// A store whose server goes away fails promptly (so SMTP answers 451 and
// IMAP does not acknowledge), and works again when the server is back,
// without being reopened.
func TestConnectionLoss(t *testing.T) {
	dsn := testenv.UsePostgres(t).Schema(t, "outage")
	p := startProxy(t, target(t, dsn))
	s := openTest(t, p.via(t, dsn))
	defer s.Close()
	ctx := t.Context()

	a, err := s.Enqueue(ctx, store.NewMessage{SubchannelID: 1, ExternalID: "a", Raw: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	p.setUp(false)
	start := time.Now()
	if _, err := s.Enqueue(ctx, store.NewMessage{SubchannelID: 1, ExternalID: "b", Raw: []byte("x")}); err == nil {
		t.Fatal("Enqueue with the server gone succeeded")
	}
	if _, err := s.Claim(ctx, time.Now(), time.Minute, 1); err == nil {
		t.Fatal("Claim with the server gone succeeded")
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping with the server gone succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("failing took %v", d)
	}

	p.setUp(true)
	b, err := s.Enqueue(ctx, store.NewMessage{SubchannelID: 1, ExternalID: "b", Raw: []byte("x")})
	if err != nil {
		t.Fatalf("Enqueue after the server came back: %v", err)
	}
	claims, err := s.Claim(ctx, time.Now(), time.Minute, 10)
	if err != nil || len(claims) != 2 || claims[0].ID != a.ID || claims[1].ID != b.ID {
		t.Fatalf("Claim after the server came back = %d claims, %v; want %d and %d", len(claims), err, a.ID, b.ID)
	}
}

// Delivery pauses while the server is gone, without a busy loop: each
// worker tries once per poll interval. Then it resumes by itself.
func TestDeliveryPausesWhileServerIsGone(t *testing.T) {
	dsn := testenv.UsePostgres(t).Schema(t, "pause")
	p := startProxy(t, target(t, dsn))
	s := openTest(t, p.via(t, dsn))
	defer s.Close()

	const workers, poll = 4, 100 * time.Millisecond
	pl := pipeline.New(s, &api.DryRun{Dir: t.TempDir()}, pipeline.Config{
		Workers: workers, MaxAttempts: 5, MaxAge: time.Hour, Lease: time.Minute, Poll: poll,
		AuthRetry: time.Minute, BackoffInitial: time.Second, BackoffMax: time.Minute,
	}, slog.New(slog.DiscardHandler))

	p.setUp(false)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- pl.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	const outage = time.Second
	time.Sleep(outage)
	// pgx dials up to twice per failed connection attempt.
	limit := 2 * workers * int64(outage/poll+2)
	n := p.refused.Load()
	t.Logf("%d connection attempts in %v with %d workers polling every %v", n, outage, workers, poll)
	if n == 0 || n > limit {
		t.Errorf("%d connection attempts in %v with %d workers polling every %v; want 1 to %d",
			n, outage, workers, poll, limit)
	}
	raw := []byte("Message-ID: <after@example.com>\r\nFrom: a@example.com\r\nSubject: back\r\n\r\nhello\r\n")
	if _, err := pl.Ingest(t.Context(), mailbox.Message{Raw: raw, SubchannelID: 1}); err == nil {
		t.Fatal("Ingest with the server gone succeeded")
	}

	p.setUp(true)
	if _, err := pl.Ingest(t.Context(), mailbox.Message{Raw: raw, SubchannelID: 1}); err != nil {
		t.Fatalf("Ingest after the server came back: %v", err)
	}
	testenv.WaitUntil(t, 10*time.Second, "delivery after the server came back", func() (bool, string) {
		st, err := s.Stats(t.Context())
		return err == nil && st.Counts[store.Delivered] == 1, fmt.Sprintf("%+v, %v", st.Counts, err)
	})
}

// Instances, each with its own connections, claiming from one queue side
// by side deliver every message exactly once.
func TestInstancesShareQueue(t *testing.T) {
	dsn := testenv.UsePostgres(t).Schema(t, "instances")
	const instances, workers, messages = 3, 4, 300
	stores := make([]*Store, instances)
	for i := range stores {
		stores[i] = openTest(t, dsn)
		defer stores[i].Close()
	}
	ctx := t.Context()
	for i := range messages {
		// Every message arrives at two instances, as a retried SMTP
		// transaction or two pollers would bring it.
		for _, s := range []*Store{stores[i%instances], stores[(i+1)%instances]} {
			if _, err := s.Enqueue(ctx, store.NewMessage{
				SubchannelID: 1, ExternalID: fmt.Sprintf("m%d@x", i), Raw: []byte("x"),
			}); err != nil {
				t.Fatal(err)
			}
		}
	}

	var mu sync.Mutex
	delivered := map[int64]int{}
	var wg sync.WaitGroup
	for _, s := range stores {
		for range workers {
			wg.Go(func() {
				for {
					claims, err := s.Claim(ctx, time.Now(), time.Minute, 2)
					if err != nil {
						t.Errorf("Claim: %v", err)
						return
					}
					if len(claims) == 0 {
						return
					}
					for _, c := range claims {
						if err := s.Complete(ctx, c.ID, c.Attempt, store.Outcome{TicketID: 1}); err != nil {
							t.Errorf("Complete(%d): %v", c.ID, err)
						}
						mu.Lock()
						delivered[c.ID]++
						mu.Unlock()
					}
				}
			})
		}
	}
	wg.Wait()
	if len(delivered) != messages {
		t.Errorf("%d messages delivered, want %d", len(delivered), messages)
	}
	for id, n := range delivered {
		if n != 1 {
			t.Errorf("message %d delivered %d times", id, n)
		}
	}
}
