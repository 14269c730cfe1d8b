package smtp

import (
	"context"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// DataBudget bounds the message data all sessions sharing it hold in
// memory at once, so that peak memory follows from the configuration
// rather than from how many clients send large messages in parallel.
// Listeners of one process share one budget.
type DataBudget struct {
	size int64
	sem  *semaphore.Weighted
	held atomic.Int64
	peak atomic.Int64
}

// NewDataBudget makes a budget of size bytes.
func NewDataBudget(size int64) *DataBudget {
	return &DataBudget{size: size, sem: semaphore.NewWeighted(size)}
}

// Size is the budget's bound in bytes.
func (b *DataBudget) Size() int64 { return b.size }

// InFlight is how many bytes are held now.
func (b *DataBudget) InFlight() int64 { return b.held.Load() }

// Peak is the most bytes held at once since the budget was made.
func (b *DataBudget) Peak() int64 { return b.peak.Load() }

// acquire waits, at most until ctx is done, for n bytes.
func (b *DataBudget) acquire(ctx context.Context, n int64) error {
	if err := b.sem.Acquire(ctx, n); err != nil {
		return err
	}
	h := b.held.Add(n)
	for {
		p := b.peak.Load()
		if h <= p || b.peak.CompareAndSwap(p, h) {
			return nil
		}
	}
}

func (b *DataBudget) release(n int64) {
	if n <= 0 {
		return
	}
	b.held.Add(-n)
	b.sem.Release(n)
}
