package sqlite

import (
	"bytes"
	"fmt"
	"github.com/enneo/mailbridge/internal/testenv"
	"path/filepath"
	"sync"
	"sync/atomic"
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

// BenchmarkDrain is the queue's share of an IMAP drain, as the daemon
// does it: 16 sources enqueue 20 KB messages while 16 workers claim up to
// 4 at a time (the raw bytes still held in memory, so not read back),
// and complete each with its ticket's participants. The figure to
// compare is cpu-µs/msg.
func BenchmarkDrain(b *testing.B) {
	s := openTest(b, filepath.Join(b.TempDir(), "queue.db"))
	defer s.Close()
	ctx := b.Context()
	raw := bytes.Repeat([]byte("0123456789abcdef"), 20<<10/16)
	var next, done atomic.Int64
	n := int64(b.N)
	cpu0 := testenv.ProcessCPU()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > n {
					return
				}
				ext := fmt.Sprintf("drain-%d@example.com", i)
				m := store.NewMessage{SubchannelID: 1, ExternalID: ext, MessageID: "<" + ext + ">",
					Subject: "benchmark", From: "bench@example.com", Raw: raw, ReceivedAt: time.Now(),
					Digest: []byte(ext)}
				if _, err := s.Enqueue(ctx, m); err != nil {
					b.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			limit := 1
			for done.Load() < n {
				claims, err := s.ClaimHeld(ctx, time.Now(), time.Minute, limit, func(int64) bool { return true })
				if err != nil {
					b.Error(err)
					return
				}
				if len(claims) == 0 {
					limit = 1
					time.Sleep(time.Millisecond)
					continue
				}
				limit = min(2*limit, 4)
				for _, c := range claims {
					ticket := c.ID + 1000
					o := store.Outcome{TicketID: ticket, ConversationID: c.ID, EventID: c.ID}
					if err := s.CompleteWithParticipants(ctx, c.ID, c.Attempt, o, 1, ticket, []string{"bench@example.com", "support@example.com"}); err != nil {
						b.Error(err)
						return
					}
				}
				done.Add(int64(len(claims)))
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64((testenv.ProcessCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
}
