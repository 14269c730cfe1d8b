package sqlite

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// A round of claims whose raw bytes are all unreadable hands out nothing,
// and Claim goes on to the next due messages instead of leaving the
// worker idle until its next poll.
func TestClaimPassesUnreadableRound(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	s.SetLogger(slog.New(slog.DiscardHandler))
	lost := enqueueOK(t, s, spoolMessage("lost", 2*spoolAbove))
	fine := enqueueOK(t, s, spoolMessage("fine", 2*spoolAbove))
	if err := os.Remove(s.spool.path(rowFile(t, s, lost))); err != nil {
		t.Fatal(err)
	}
	claims, err := s.Claim(t.Context(), time.Now(), time.Minute, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(claims) != 1 || claims[0].ID != fine || len(claims[0].Raw) != 2*spoolAbove {
		t.Fatalf("Claim(1) handed out %v, want message %d with its bytes", claimIDs(claims), fine)
	}
	if m := getMessage(t, s, lost); m.State != store.Dead {
		t.Errorf("message with a lost file is %s, want dead", m.State)
	}
}

// A spool that cannot be read at all does not have one Claim walk the
// whole backlog: it stops after claimRounds rounds, and the rest waits,
// queued, for the next.
func TestClaimUnreadableRoundsBounded(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	s.SetLogger(slog.New(slog.DiscardHandler))
	var ids []int64
	for i := range 3 * claimRounds {
		id := enqueueOK(t, s, spoolMessage(fmt.Sprint("lost", i), 2*spoolAbove))
		if err := os.Remove(s.spool.path(rowFile(t, s, id))); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if claims, err := s.Claim(t.Context(), time.Now(), time.Minute, 1); err != nil || len(claims) != 0 {
		t.Fatalf("Claim = %v, %v; want nothing handed out", claimIDs(claims), err)
	}
	dead := 0
	for _, id := range ids {
		if getMessage(t, s, id).State == store.Dead {
			dead++
		}
	}
	if dead != claimRounds {
		t.Errorf("one Claim(1) took %d unreadable messages, want %d (claimRounds)", dead, claimRounds)
	}
}

// Messages that stay unreadable end the claim when they come due again at
// once (a clock ahead of the requeue's), rather than claiming for ever;
// each round puts them back.
func TestClaimUnreadableComesDueAgain(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	s.SetLogger(slog.New(slog.DiscardHandler))
	id := enqueueOK(t, s, spoolMessage("a", 2*spoolAbove))
	makeUnreadable(t, s.spool.path(rowFile(t, s, id)))
	later := time.Now().Add(time.Hour)
	if claims, err := s.Claim(t.Context(), later, time.Minute, 10); err != nil || len(claims) != 0 {
		t.Fatalf("Claim = %v, %v; want nothing handed out", claimIDs(claims), err)
	}
	if m := getMessage(t, s, id); m.State != store.Queued {
		t.Errorf("unreadable message is %s, want queued", m.State)
	}
}

// ClaimHeld leaves out the raw bytes of the messages the caller holds,
// and only those; a held message in the spool is not read either.
func TestClaimHeld(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	small := store.NewMessage{SubchannelID: 1, ExternalID: "small", Raw: []byte("Subject: x\r\n\r\nbody\r\n"), ReceivedAt: time.Now()}
	held := enqueueOK(t, s, small)
	small.ExternalID = "other"
	other := enqueueOK(t, s, small)
	spooled := enqueueOK(t, s, spoolMessage("spooled", 2*spoolAbove))
	// A held spooled message is not read: its file may even be gone.
	if err := os.Remove(s.spool.path(rowFile(t, s, spooled))); err != nil {
		t.Fatal(err)
	}
	var asked []int64
	claims, err := s.ClaimHeld(t.Context(), time.Now(), time.Minute, 10, func(id int64) bool {
		asked = append(asked, id)
		return id == held || id == spooled
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(asked, []int64{held, other, spooled}) {
		t.Errorf("held asked about %v, want %v", asked, []int64{held, other, spooled})
	}
	if len(claims) != 3 {
		t.Fatalf("claimed %v, want all three", claimIDs(claims))
	}
	for _, c := range claims {
		switch {
		case c.ID == other && string(c.Raw) != string(small.Raw):
			t.Errorf("message %d not held: raw %q, want %q", c.ID, c.Raw, small.Raw)
		case c.ID != other && c.Raw != nil:
			t.Errorf("held message %d came with %d raw bytes", c.ID, len(c.Raw))
		}
		if c.Size == 0 {
			t.Errorf("claim %d lacks its size", c.ID)
		}
	}
}

// Past store.ClaimRaw a claim reads no raw bytes, but still asks held,
// so that the bytes the caller holds go to their claim rather than wait
// in memory for one that reads them from the queue.
func TestClaimHeldPastClaimRaw(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"))
	defer s.Close()
	var ids []int64
	for _, key := range []string{"first", "second", "third"} {
		ids = append(ids, enqueueOK(t, s, spoolMessage(key, store.ClaimRaw*3/4)))
	}
	var asked []int64
	claims, err := s.ClaimHeld(t.Context(), time.Now(), time.Minute, 10, func(id int64) bool {
		asked = append(asked, id)
		return id == ids[2]
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(asked, ids) {
		t.Errorf("held asked about %v, want %v", asked, ids)
	}
	if !slices.Equal(claimIDs(claims), ids) {
		t.Fatalf("claimed %v, want %v", claimIDs(claims), ids)
	}
	if len(claims[0].Raw) != store.ClaimRaw*3/4 || claims[1].Raw != nil || claims[2].Raw != nil {
		t.Errorf("raw bytes of %d, %d and %d; want the first's only", len(claims[0].Raw), len(claims[1].Raw), len(claims[2].Raw))
	}
}

// makeUnreadable replaces the file at path by a symbolic link to itself:
// opening it fails with ELOOP, an error other than loss.
func makeUnreadable(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(path), path); err != nil {
		t.Fatal(err)
	}
}
