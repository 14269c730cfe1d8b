package storetest

import (
	"context"
	"testing"

	"github.com/enneo/mailbridge/store"
)

// RunCheckpoints tests an implementation of store.Checkpoints; open must
// return stores that implement it.
func RunCheckpoints(t *testing.T, open Open) {
	t.Run("Checkpoints", func(t *testing.T) {
		t.Parallel()
		s, ok := openStore(t, open).(store.Checkpoints)
		if !ok {
			t.Fatal("store does not implement store.Checkpoints")
		}
		ctx := context.Background()
		want := func(mailbox, folder string, uv, uid uint32) {
			t.Helper()
			gotUV, gotUID, err := s.Checkpoint(ctx, mailbox, folder)
			wantNoErr(t, "Checkpoint", err)
			if gotUV != uv || gotUID != uid {
				t.Errorf("Checkpoint(%s, %s) = %d, %d; want %d, %d", mailbox, folder, gotUV, gotUID, uv, uid)
			}
		}
		want("a", "INBOX", 0, 0)
		wantNoErr(t, "SetCheckpoint", s.SetCheckpoint(ctx, "a", "INBOX", 7, 42))
		wantNoErr(t, "SetCheckpoint", s.SetCheckpoint(ctx, "a", "Other", 8, 1))
		want("a", "INBOX", 7, 42)
		want("b", "INBOX", 0, 0)
		// The full uint32 range survives (SQLite integers are signed).
		wantNoErr(t, "SetCheckpoint", s.SetCheckpoint(ctx, "a", "INBOX", 1<<32-1, 1<<32-2))
		want("a", "INBOX", 1<<32-1, 1<<32-2)
		want("a", "Other", 8, 1)
		// The IMAP source keeps the first-start boundary and the archive
		// import's progress under keys with a unit separator, apart from
		// the live checkpoint.
		wantNoErr(t, "SetCheckpoint", s.SetCheckpoint(ctx, "a\x1fimport", "INBOX\x1f2025-01-01\x1f", 7, 9))
		want("a\x1fimport", "INBOX\x1f2025-01-01\x1f", 7, 9)
		want("a\x1fimport", "INBOX", 0, 0)
		want("a", "INBOX", 1<<32-1, 1<<32-2)

		// A checkpoint survives a restart.
		s2 := openStore(t, open).(store.Checkpoints)
		gotUV, gotUID, err := s2.Checkpoint(ctx, "a", "INBOX")
		wantNoErr(t, "Checkpoint after reopen", err)
		if gotUV != 1<<32-1 || gotUID != 1<<32-2 {
			t.Errorf("after reopen: %d, %d", gotUV, gotUID)
		}
	})
}
