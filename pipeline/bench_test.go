package pipeline

import (
	"context"
	"fmt"
	"github.com/enneo/mailbridge/internal/testenv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/sqlite"
)

// BenchmarkDeliver measures delivery alone: b.N messages are queued first,
// then the workers post them (a new ticket and a store call each) until the
// queue is empty. "lean" is an API stub that answers at once; "testapi" is
// the validating fake the tests use, whose cost shows in the difference.
func BenchmarkDeliver(b *testing.B) {
	for _, workers := range []int{4, 16} {
		b.Run(fmt.Sprintf("lean/workers=%d", workers), func(b *testing.B) {
			benchDeliver(b, workers, leanAPI(b))
		})
		b.Run(fmt.Sprintf("testapi/workers=%d", workers), func(b *testing.B) {
			benchDeliver(b, workers, testapi.New(b, testapi.Options{Token: token}).URL())
		})
	}
}

// leanAPI answers ticket creation and store calls with fixed ids.
func leanAPI(b *testing.B) string {
	var ids atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		id := ids.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		if strings.HasSuffix(r.URL.Path, "/conversation/store") {
			fmt.Fprintf(w, `{"success":true,"conversationId":%d,"ticketId":1,"eventId":%d}`, id, id)
			return
		}
		fmt.Fprintf(w, `{"id":%d}`, id)
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

func benchDeliver(b *testing.B, workers int, baseURL string) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "queue.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	client := api.New(api.Options{BaseURL: baseURL, Token: token, Timeout: 10 * time.Second, Connections: workers})
	cfg := testConfig()
	cfg.Workers = workers
	p := New(st, client, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	raw := strings.Repeat("Some text of a customer's mail, long enough to matter. ", 180) // ~10 KB
	for i := 0; i < b.N; i++ {
		msg := fmt.Appendf(nil, "From: a@example.org\r\nTo: support@example.com\r\nSubject: load %d\r\n"+
			"Message-ID: <load-%d@example.org>\r\n\r\n%s\r\n", i, i, raw)
		if _, err := p.Ingest(context.Background(), mailbox.Message{Raw: msg, SubchannelID: 4}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	cpu := testenv.ProcessCPU()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	for {
		s, err := st.Stats(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if s.Counts[store.Delivered] == b.N {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.StopTimer()
	cpu = testenv.ProcessCPU() - cpu
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if cpu > 0 {
		// The process's CPU, the fake API's share included.
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
	}
}

// BenchmarkIngest measures Ingest into a SQLite queue, from 16 sources at
// once as an SMTP listener under load would call it, with ~20 KB mails:
// "new" queues a mail per call, "resend" hands over a mail queued already
// (an MTA retry, an IMAP re-read), which Ingest recognises as a duplicate.
func BenchmarkIngest(b *testing.B) {
	body := strings.Repeat("Some text of a customer's mail, long enough to matter.\r\n", 360)
	mail := func(i int64) []byte {
		return fmt.Appendf(nil, "Received: from mx.example.org by mx.example.com; Mon, 6 May 2024 10:00:00 +0000\r\n"+
			"From: a@example.org\r\nTo: support@example.com\r\nSubject: load %d\r\n"+
			"Date: Mon, 6 May 2024 10:00:00 +0000\r\nMessage-ID: <ingest-%d@example.org>\r\n"+
			"Content-Type: text/plain; charset=utf-8\r\n\r\n%s", i, i, body)
	}
	for _, resend := range []bool{false, true} {
		name := "new"
		if resend {
			name = "resend"
		}
		b.Run(name, func(b *testing.B) {
			st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "queue.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			p := New(st, nil, testConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)))
			if resend {
				for i := range int64(b.N) {
					if _, err := p.Ingest(context.Background(), mailbox.Message{Raw: mail(i), SubchannelID: 4}); err != nil {
						b.Fatal(err)
					}
				}
			}
			var next atomic.Int64
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					raw := mail(next.Add(1) - 1)
					rcpt, err := p.Ingest(context.Background(), mailbox.Message{Raw: raw, SubchannelID: 4})
					if err != nil {
						b.Error(err)
						return
					}
					if rcpt.Duplicate != resend {
						b.Errorf("duplicate = %v, want %v", rcpt.Duplicate, resend)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
