package storetest

import (
	"bytes"
	"context"
	"fmt"
	"github.com/enneo/mailbridge/internal/testenv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// OpenBench opens an empty store for one benchmark run; the benchmark
// closes it.
type OpenBench func(b *testing.B) store.Store

// benchRaw is a typical message with a small attachment.
var benchRaw = bytes.Repeat([]byte("0123456789abcdef"), 20<<10/16)

func benchMessage(i int64) store.NewMessage {
	ext := fmt.Sprintf("bench-%d@example.com", i)
	return store.NewMessage{
		SubchannelID: 1,
		ExternalID:   ext,
		MessageID:    "<" + ext + ">",
		Subject:      "benchmark",
		From:         "bench@example.com",
		Raw:          benchRaw,
		ReceivedAt:   time.Now(),
	}
}

// deliver claims up to limit messages and completes them, as a delivery
// worker does after posting them. It returns how many it delivered.
func deliver(ctx context.Context, s store.Store, limit int) (int, error) {
	claims, err := s.Claim(ctx, time.Now(), time.Minute, limit)
	if err != nil {
		return 0, err
	}
	for _, c := range claims {
		if err := s.Complete(ctx, c.ID, c.Attempt, store.Outcome{EventID: c.ID}); err != nil {
			return 0, err
		}
	}
	return len(claims), nil
}

// BenchSerial takes each message through the queue alone: Enqueue,
// Claim(limit 1), Complete, every step durable. It reports msgs/s.
func BenchSerial(b *testing.B, open OpenBench) {
	s := open(b)
	defer s.Close()
	var i int64
	cpu := testenv.ProcessCPU()
	for b.Loop() {
		i++
		if _, err := s.Enqueue(b.Context(), benchMessage(i)); err != nil {
			b.Fatal(err)
		}
		if n, err := deliver(b.Context(), s, 1); n != 1 {
			b.Fatalf("delivered %d: %v", n, err)
		}
	}
	reportRates(b, testenv.ProcessCPU()-cpu)
}

// reportRates reports the messages per second and the CPU time the
// process spent per message, which is steadier than the rate on a shared
// machine. For a store in another process (PostgreSQL), that CPU is the
// client's share only.
func reportRates(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
	}
}

// BenchParallel runs sources and workers side by side, as the daemon
// does, with 4, 8 and 16 goroutines: each enqueues a message and then
// claims one (not necessarily its own) and completes it.
func BenchParallel(b *testing.B, open OpenBench) {
	for _, workers := range []int{4, 8, 16} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			benchParallel(b, open, workers)
		})
	}
}

func benchParallel(b *testing.B, open OpenBench, workers int) {
	s := open(b)
	defer s.Close()
	b.ResetTimer()
	cpu := testenv.ProcessCPU()

	var next, delivered atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if _, err := s.Enqueue(b.Context(), benchMessage(i)); err != nil {
					b.Error(err)
					return
				}
				n, err := deliver(b.Context(), s, 1)
				if err != nil {
					b.Error(err)
					return
				}
				delivered.Add(int64(n))
			}
		})
	}
	wg.Wait()
	// A worker's claim may have come up empty while others held the rest.
	for delivered.Load() < int64(b.N) && !b.Failed() {
		n, err := deliver(b.Context(), s, 100)
		if err != nil || n == 0 {
			b.Fatalf("%d of %d delivered: %v", delivered.Load(), b.N, err)
		}
		delivered.Add(int64(n))
	}
	reportRates(b, testenv.ProcessCPU()-cpu)
}
