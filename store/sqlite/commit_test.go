package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

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
			_, err := enqueue(tx, msg(ext))
			return err
		}
	}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	batch := []request{
		{ctx: t.Context(), fn: enqueueFn("a")},
		{ctx: t.Context(), fn: func(tx wtx) error {
			if _, err := enqueue(tx, msg("b")); err != nil {
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
