package smtp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/mailbox/smtp"
	"github.com/enneo/mailbridge/pipeline"
	"github.com/enneo/mailbridge/store/sqlite"
)

// BenchmarkSMTPIngest measures SMTP sessions through to a durable commit:
// clients concurrent go-smtp clients on loopback, each sending 20 KB
// messages over its own connection, each answered 250 only after the
// SQLite commit (synchronous=FULL). Delivery to the API is not running.
// Reports msgs/s and the p50/p99 latency of one transaction (MAIL FROM to
// the reply to the end of DATA).
//
//	go test -run '^$' -bench SMTPIngest ./mailbox/smtp
func BenchmarkSMTPIngest(b *testing.B) {
	for _, c := range []struct{ clients, size int }{{1, 20 << 10}, {20, 20 << 10}, {20, 10 << 10}} {
		b.Run(fmt.Sprintf("clients=%d/size=%dKB", c.clients, c.size>>10), func(b *testing.B) {
			benchIngest(b, c.clients, c.size)
		})
	}
}

// ingestOnly is a pipeline over SQLite in a temp dir that only ingests
// (no delivery runs), and a logger that drops all but errors. The store
// closes when the benchmark ends.
func ingestOnly(b *testing.B, ctx context.Context) (*pipeline.Pipeline, *slog.Logger) {
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "queue.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	quiet := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
	return pipeline.New(st, nil, pipeline.Config{
		Workers: 1, MaxAttempts: 5, MaxAge: time.Hour, Lease: time.Minute, Poll: time.Second,
		Subchannels: map[int]pipeline.Subchannel{1: {Process: "batch", Direction: "in"}},
	}, quiet), quiet
}

func benchIngest(b *testing.B, clients, size int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, quiet := ingestOnly(b, ctx)
	addr, stop := serveBench(b, ctx, p, clients, quiet)
	defer func() { cancel(); stop() }()

	body := strings.Repeat(strings.Repeat("y", 76)+"\r\n", size/78)
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := gosmtp.Dial(addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				msg := fmt.Sprintf("From: a@example.org\r\nTo: support@example.com\r\nSubject: bench %d\r\n"+
					"Message-ID: <bench-%d-%d@example.org>\r\n\r\n%s", n, n, start.UnixNano(), body)
				t0 := time.Now()
				if err := c.SendMail("a@example.org", []string{"support@example.com"}, strings.NewReader(msg)); err != nil {
					b.Error(err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(peakRSSMB(), "peak-RSS-MB")
}

// serveBench serves SMTP for support@example.com (subchannel 1) on a
// loopback port until ctx ends, ingesting into p, with room for clients
// connections. stop waits for the server to return.
func serveBench(b *testing.B, ctx context.Context, p mailbox.Ingester, clients int, log *slog.Logger) (addr string, stop func()) {
	return serveBenchVerifying(b, ctx, p, clients, log, nil)
}

// serveBenchVerifying is serveBench with the listener's sender check v
// (nil: none).
func serveBenchVerifying(b *testing.B, ctx context.Context, p mailbox.Ingester, clients int, log *slog.Logger, v smtp.Verifier) (addr string, stop func()) {
	r, _ := smtp.NewRouter([]smtp.Route{{Address: "support@example.com", SubchannelID: 1}}, false)
	srv, err := smtp.New(smtp.Options{Router: r, Hostname: "bench",
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		MaxConnections:  clients + 1, MaxConnectionsPerIP: clients + 1, Verifier: v}, p, log)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, ln) }()
	return ln.Addr().String(), func() { <-done }
}
