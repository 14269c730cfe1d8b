package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// A request that fails in a batch leaves nothing behind and does not take
// the others with it; a request whose context ended is skipped.
func TestCommitBatch(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	msg := func(ext string) store.NewMessage {
		return store.NewMessage{SubchannelID: 1, ExternalID: ext, Raw: []byte(ext)}
	}
	enqueueFn := func(ext string) func(tx wtx) error {
		return func(tx wtx) error {
			_, err := enqueue(tx, msg(ext), "")
			return err
		}
	}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	batch := []request{
		{ctx: t.Context(), fn: enqueueFn("a")},
		{ctx: t.Context(), fn: func(tx wtx) error {
			if _, err := enqueue(tx, msg("b"), ""); err != nil {
				return err
			}
			// Violates the foreign key: there is no message 1000.
			_, err := tx.exec(`INSERT INTO message_raw (id, raw) VALUES (1000, x'00')`)
			return err
		}},
		{ctx: canceled, fn: enqueueFn("c")},
		{ctx: t.Context(), fn: enqueueFn("d")},
	}
	for i := range batch {
		batch[i].done = make(chan error, 1)
	}
	// The committer goroutine is idle: nothing else writes to s.
	s.c.commit(batch)

	errs := make([]error, len(batch))
	for i, req := range batch {
		errs[i] = <-req.done
	}
	if errs[0] != nil || errs[3] != nil {
		t.Errorf("good requests failed: %v, %v", errs[0], errs[3])
	}
	if errs[1] == nil {
		t.Error("request violating a foreign key succeeded")
	}
	if !errors.Is(errs[2], context.Canceled) {
		t.Errorf("canceled request: %v, want %v", errs[2], context.Canceled)
	}
	msgs, err := s.List(t.Context(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m.ExternalID)
	}
	if len(got) != 2 || got[0] != "d" || got[1] != "a" {
		t.Fatalf("committed %q, want [d a]", got)
	}
}

// lingering is a committer without a connection for gather's tests,
// whose lingers last an hour: only a test's writes or close end them.
func lingering(last, target int) *committer {
	return &committer{requests: make(chan request), closing: make(chan struct{}),
		linger: time.Hour, last: last, target: target}
}

// sendApart sends n writes to c one at a time, not all waiting at once.
func sendApart(c *committer, n int) {
	go func() {
		for range n {
			c.requests <- request{}
			time.Sleep(10 * time.Microsecond)
		}
	}()
}

// gatherWithin runs gather while meanwhile does its part, and fails with
// stuck if gather has not returned within a minute (a linger of an hour).
func gatherWithin(t *testing.T, c *committer, meanwhile func(), stuck string) []request {
	t.Helper()
	done := make(chan []request, 1)
	go func() { done <- c.gather(request{}) }()
	meanwhile()
	select {
	case batch := <-done:
		return batch
	case <-time.After(time.Minute):
		t.Fatal(stuck)
		return nil
	}
}

// A lone writer is committed at once: gather does not wait for company
// after a transaction of one write, however long linger is.
func TestGatherLoneWrite(t *testing.T) {
	c := lingering(1, 0)
	batch := gatherWithin(t, c, func() {}, "a lone write waited for others")
	if len(batch) != 1 || c.last != 1 {
		t.Fatalf("gathered %d, last %d; want 1 and 1", len(batch), c.last)
	}
}

// After a transaction of several writes, gather waits for more: writes
// that come one by one while it lingers join the batch, up to maxBatch.
// With linger an hour and a recent batch as large as maxBatch, only a
// full batch ends the wait, so the batch holds every write sent, however
// the goroutines were scheduled.
func TestGatherLingersUnderLoad(t *testing.T) {
	c := lingering(2, maxBatch)
	sendApart(c, maxBatch-1)
	if batch := c.gather(request{}); len(batch) != maxBatch {
		t.Fatalf("gathered %d writes, want %d", len(batch), maxBatch)
	}
	if c.last != maxBatch {
		t.Errorf("last = %d, want %d", c.last, maxBatch)
	}
}

// Closing the store ends a linger: the writes gathered so far are
// committed rather than held until the timer fires.
func TestGatherLingerEndsOnClose(t *testing.T) {
	c := lingering(2, maxBatch)
	batch := gatherWithin(t, c, func() {
		c.requests <- request{}
		close(c.closing)
	}, "linger outlived close")
	if len(batch) != 2 {
		t.Fatalf("gathered %d writes, want 2", len(batch))
	}
}

// A linger ends as soon as the batch is as large as the largest recent
// one: when that many writers wait on each commit, no one else is coming,
// and waiting out the linger would only delay them all. The target then
// decays by one a transaction.
func TestGatherLingerEndsAtRecentSize(t *testing.T) {
	c := lingering(4, 4)
	sendApart(c, 3)
	batch := gatherWithin(t, c, func() {}, "the linger went on past the recent batch size")
	if len(batch) != 4 {
		t.Fatalf("gathered %d writes, want 4", len(batch))
	}
	if c.target != 4 {
		t.Errorf("target = %d after a batch of 4, want 4", c.target)
	}
	c.linger = 0 // a lone write, committed at once
	c.gather(request{})
	if c.last != 1 || c.target != 3 {
		t.Errorf("after a batch of 1: last %d, target %d; want 1 and 3", c.last, c.target)
	}
}
