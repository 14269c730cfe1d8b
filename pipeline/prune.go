package pipeline

import (
	"context"
	"time"
)

const (
	// pruneEvery is how often delivery looks for delivered mail whose raw
	// bytes have been kept for Config.KeepDelivered.
	pruneEvery = time.Minute
	// pruneBatch is the messages one Prune call takes: one write
	// transaction of the SQLite queue, kept short so that it holds up no
	// enqueue for long.
	pruneBatch = 100
	// pruneMaxBatches bounds one round, so that a first round over a long
	// history shares the queue with delivery; the next round goes on.
	pruneMaxBatches = 50
)

// prune removes the raw bytes of mail delivered more than
// cfg.KeepDelivered ago, every pruneEvery until ctx is done. The rows
// stay: the dedup record and the thread map need no raw bytes.
func (p *Pipeline) prune(ctx context.Context) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		p.pruneRound(ctx, time.Now().Add(-p.cfg.KeepDelivered))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneRound prunes the mail delivered before before, up to
// pruneMaxBatches batches, and returns how many messages it pruned.
func (p *Pipeline) pruneRound(ctx context.Context, before time.Time) int {
	total := 0
	for range pruneMaxBatches {
		n, err := p.store.Prune(ctx, before, pruneBatch)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("could not remove the raw bytes of delivered mail; the next round tries again", "err", err)
			}
			break
		}
		total += n
		if n < pruneBatch {
			break
		}
	}
	if total > 0 {
		p.log.Debug("removed the raw bytes of delivered mail", "messages", total, "delivered_before", before.UTC().Format(time.RFC3339))
	}
	return total
}
