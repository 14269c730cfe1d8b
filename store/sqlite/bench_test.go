package sqlite

import (
	"bytes"
	"fmt"
	"github.com/enneo/mailbridge/internal/testenv"
	"path/filepath"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/storetest"
)

func openBench(b *testing.B) store.Store {
	return openTest(b, filepath.Join(b.TempDir(), "queue.db"))
}

// BenchmarkEnqueueClaimComplete takes each message through the queue alone:
// Enqueue, Claim(limit 1), Complete, every step durable.
func BenchmarkEnqueueClaimComplete(b *testing.B) {
	storetest.BenchSerial(b, openBench)
}

// BenchmarkEnqueueClaimCompleteParallel runs sources and workers side by
// side, as the daemon does: each goroutine enqueues a message and then
// claims one (not necessarily its own) and completes it.
func BenchmarkEnqueueClaimCompleteParallel(b *testing.B) {
	storetest.BenchParallel(b, openBench)
}

// BenchmarkEnqueueClaimCompleteLarge is BenchmarkEnqueueClaimComplete with
// raw messages of 100 KB to 1 MB, on both sides of spoolAbove: Enqueue,
// Claim with the raw bytes read back, Complete, every step durable. The
// figure to compare is cpu-µs/op; the time per op is mostly fsyncs.
func BenchmarkEnqueueClaimCompleteLarge(b *testing.B) {
	for _, size := range []int{100 << 10, 256 << 10, 512 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("size=%dKB", size>>10), func(b *testing.B) {
			s := openTest(b, filepath.Join(b.TempDir(), "queue.db"))
			defer s.Close()
			raw := bytes.Repeat([]byte("0123456789abcdef"), size/16)
			b.SetBytes(int64(size))
			var i int
			cpu0 := testenv.ProcessCPU()
			for b.Loop() {
				i++
				m := store.NewMessage{SubchannelID: 1, ExternalID: fmt.Sprintf("large-%d@example.com", i), Raw: raw, ReceivedAt: time.Now()}
				if _, err := s.Enqueue(b.Context(), m); err != nil {
					b.Fatal(err)
				}
				claims, err := s.Claim(b.Context(), time.Now(), time.Minute, 1)
				if err != nil || len(claims) != 1 || len(claims[0].Raw) != size {
					b.Fatalf("Claim: %d claims, %v", len(claims), err)
				}
				if err := s.Complete(b.Context(), claims[0].ID, claims[0].Attempt, store.Outcome{EventID: claims[0].ID}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64((testenv.ProcessCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
