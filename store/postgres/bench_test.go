package postgres

import (
	"testing"

	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/storetest"
)

func openBench(b *testing.B) store.Store {
	return openTest(b, testenv.UsePostgres(b).Schema(b, "bench"))
}

// BenchmarkEnqueueClaimComplete takes each message through the queue alone:
// Enqueue, Claim(limit 1), Complete, every step a commit.
func BenchmarkEnqueueClaimComplete(b *testing.B) {
	storetest.BenchSerial(b, openBench)
}

// BenchmarkEnqueueClaimCompleteParallel runs sources and workers side by
// side, as the daemon does.
func BenchmarkEnqueueClaimCompleteParallel(b *testing.B) {
	storetest.BenchParallel(b, openBench)
}
