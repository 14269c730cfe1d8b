package smtp

import (
	"context"
	"sync"
)

// DataBudget bounds the message data all sessions sharing it hold in
// memory at once, so that peak memory follows from the configuration
// rather than from how many clients send large messages in parallel.
// Listeners of one process share one budget.
//
// A session waits for budget only before its message's first byte, when
// it holds none; growing later never waits (see session.grow). Were
// sessions holding part of a message to wait for more, a few dozen of
// them could hold the whole budget between them and wait for one
// another. A plain FIFO semaphore would not do either: there, while one
// session waits, nobody may take what is free.
type DataBudget struct {
	size int64

	mu      sync.Mutex
	held    int64
	peak    int64
	changed chan struct{} // closed and replaced on each release
}

// NewDataBudget makes a budget of size bytes.
func NewDataBudget(size int64) *DataBudget {
	return &DataBudget{size: size, changed: make(chan struct{})}
}

// Size is the budget's bound in bytes.
func (b *DataBudget) Size() int64 { return b.size }

// InFlight is how many bytes are held now.
func (b *DataBudget) InFlight() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held
}

// Peak is the most bytes held at once since the budget was made.
func (b *DataBudget) Peak() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peak
}

// tryAcquire takes n bytes if they are free.
func (b *DataBudget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held+n > b.size {
		return false
	}
	b.held += n
	b.peak = max(b.peak, b.held)
	return true
}

// acquire waits, at most until ctx is done, for n bytes.
func (b *DataBudget) acquire(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		if b.held+n <= b.size {
			b.held += n
			b.peak = max(b.peak, b.held)
			b.mu.Unlock()
			return nil
		}
		changed := b.changed
		b.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *DataBudget) release(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.held -= n
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}
