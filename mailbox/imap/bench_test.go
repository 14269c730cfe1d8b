package imap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/pipeline"
	"github.com/enneo/mailbridge/store/sqlite"
)

// BenchmarkDovecotDrain drains a backlog of 5,000 messages of ~20 KB from a
// Dovecot folder into the committed SQLite queue (synchronous=FULL), with
// no API behind it: the IMAP source's own throughput.
//
//	go test -run '^$' -bench DovecotDrain -benchtime 3x ./mailbox/imap
func BenchmarkDovecotDrain(b *testing.B) {
	const n = 5000
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "queue.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	p := pipeline.New(st, nil, pipeline.Config{
		Subchannels: map[int]pipeline.Subchannel{4: {Process: "batch", Direction: "in"}},
	}, slog.New(slog.DiscardHandler))
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		// A fresh server each time: the folder holds just the backlog.
		dc := testenv.StartDovecot(b)
		folder := "INBOX"
		name := fmt.Sprintf("bench%d", i)
		msgs := make([][]byte, n)
		for j := range msgs {
			msgs[j] = message20KB(fmt.Sprintf("bench-%d-%d@example.org", i, j))
		}
		dc.Deliver(folder, msgs)
		poller, err := New(Config{
			Account: Account{Name: name, Addr: dc.Addr, Security: Insecure,
				Username: dc.User, Password: dc.Password, Timeout: 10 * time.Second},
			Folder: folder, SubchannelID: 4, IDLE: true, BatchSize: 100,
			Ingester: p, Checkpoints: st,
			Permanent: func(err error) bool { return errors.Is(err, pipeline.ErrEmpty) },
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		b.StartTimer()
		start := time.Now()
		go func() { done <- poller.Run(ctx) }()
		for {
			_, last, err := st.Checkpoint(context.Background(), name, folder)
			if err != nil {
				b.Fatal(err)
			}
			if last == n {
				break
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("checkpoint at %d of %d after 1m", last, n)
			}
			time.Sleep(2 * time.Millisecond)
		}
		total += time.Since(start)
		b.StopTimer()
		cancel()
		<-done
		if err := dc.Stop(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "msgs/s")
	b.ReportMetric(0, "ns/op")
}
