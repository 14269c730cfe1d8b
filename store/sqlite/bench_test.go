package sqlite

import (
	"path/filepath"
	"testing"

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
