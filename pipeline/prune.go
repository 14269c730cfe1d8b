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
//
// A failure is logged once, as a warning, until a round works again: the
// pruner retries every minute, and while the store is down it would
// repeat the claims' outage line (see claimFailed), which the store's
// outage already has.
func (p *Pipeline) pruneRound(ctx context.Context, before time.Time) int {
	total := 0
	// err is a batch that failed; left, the last error of batches that
	// pruned their messages but left spool files, which the round goes on
	// past: the next batch's messages are others.
	var err, left error
	for range pruneMaxBatches {
		var n int
		n, err = p.store.Prune(ctx, before, pruneBatch)
		total += n
		if err != nil && n > 0 {
			left, err = err, nil
		}
		if err != nil || n < pruneBatch {
			break
		}
	}
	state := pruneFailed
	if err == nil && left != nil {
		err, state = left, pruneFilesLeft
	}
	switch {
	case err != nil && ctx.Err() != nil:
	case err != nil && p.storeDown.Load():
		p.log.Debug("removing the raw bytes of delivered mail failed", "err", err)
	case err != nil:
		if p.pruneFailing.Swap(state) == pruneWorks {
			p.log.Warn("removing the raw bytes of delivered mail failed; retried every minute", "err", err)
		} else {
			p.log.Debug("removing the raw bytes of delivered mail failed", "err", err)
		}
	case total == 0 && p.pruneFailing.Load() == pruneFilesLeft:
		// A round with nothing to prune removed no file either: it
		// says nothing of the files the last round could not remove.
	case p.pruneFailing.Swap(pruneWorks) != pruneWorks:
		p.log.Info("removing the raw bytes of delivered mail works again")
	}
	if total > 0 {
		p.log.Debug("removed the raw bytes of delivered mail", "messages", total, "delivered_before", before.UTC().Format(time.RFC3339))
	}
	return total
}

// The states of Pipeline.pruneFailing.
const (
	pruneWorks     int32 = iota
	pruneFailed          // the last round failed
	pruneFilesLeft       // the last round pruned messages but left spool files
)
