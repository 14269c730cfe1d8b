package smtp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/pipeline"
	"github.com/enneo/mailbridge/store/sqlite"
)

// BenchmarkSMTPToAPI is the whole path under load: 20 SMTP clients send
// 10 KB messages while 4 delivery workers post them to the fake API
// (which validates every body against the OpenAPI spec, in this process).
// It reports accepted msgs/s (250 after commit), delivered msgs/s (until
// the API holds all of them) and the peak RSS of the test process.
//
//	go test -run '^$' -bench SMTPToAPI -benchtime 5000x ./mailbox/smtp
func BenchmarkSMTPToAPI(b *testing.B) {
	const clients, size = 20, 10 << 10
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "queue.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	a := testapi.New(b, testapi.Options{Token: e2eToken})
	client := api.New(api.Options{BaseURL: a.URL(), Token: e2eToken, Timeout: 10 * time.Second,
		Ticket: api.TicketOptions{Path: "/ticket", IDField: "id", Process: "batch",
			Fields: []string{"subchannelId", "from", "subject", "externalTicketId"}}})
	quiet := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
	p := pipeline.New(st, client, pipeline.Config{
		Workers: 4, MaxAttempts: 5, MaxAge: time.Hour, Lease: time.Minute, Poll: 50 * time.Millisecond,
		AuthRetry: time.Minute, BackoffInitial: time.Second, BackoffMax: time.Minute, Location: time.UTC,
		Subchannels: map[int]pipeline.Subchannel{1: {Process: "batch", Direction: "in"}},
	}, quiet)
	addr, stop := serveBench(b, ctx, p, clients, quiet)
	workers := make(chan struct{})
	go func() { defer close(workers); p.Run(ctx) }()
	defer func() { cancel(); stop(); <-workers }()

	body := strings.Repeat(strings.Repeat("z", 76)+"\r\n", size/78)
	var next atomic.Int64
	var sent sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range clients {
		sent.Add(1)
		go func() {
			defer sent.Done()
			c, err := gosmtp.Dial(addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
				msg := fmt.Sprintf("From: a@example.org\r\nTo: support@example.com\r\nSubject: load %d\r\n"+
					"Message-ID: <load-%d-%d@example.org>\r\n\r\n%s", n, n, start.UnixNano(), body)
				if err := c.SendMail("a@example.org", []string{"support@example.com"}, strings.NewReader(msg)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	sent.Wait()
	accepted := time.Since(start)
	a.WaitConversations(b, b.N, 5*time.Minute)
	delivered := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/accepted.Seconds(), "accepted-msgs/s")
	b.ReportMetric(float64(b.N)/delivered.Seconds(), "delivered-msgs/s")
	b.ReportMetric(peakRSSMB(), "peak-RSS-MB")
}

// peakRSSMB is VmHWM of this process, in MB (Linux only; 0 elsewhere).
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}
