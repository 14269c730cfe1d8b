package storetest

import (
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// testHoldRelease: a held message is not claimed, is listed and counted
// as held, and comes back with a fresh attempt count when released, or
// leaves for good when dropped.
func testHoldRelease(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	ids := enqueueN(t, s, 3)
	held, dropped, other := ids[0], ids[1], ids[2]
	now := time.Now()
	claims := claim(t, s, now, 3)
	wantNoErr(t, "Hold", s.Hold(ctx, held, claims[0].Attempt, "sender not authenticated"))
	wantNoErr(t, "Hold", s.Hold(ctx, dropped, claims[1].Attempt, "sender not authenticated"))
	wantErr(t, "Hold(stale claim)", s.Hold(ctx, held, claims[0].Attempt, "again"), store.ErrLeaseLost)
	m := wantState(t, s, held, store.Held)
	if m.LastError != "sender not authenticated" || m.Attempts != 0 || !m.LeaseUntil.IsZero() {
		t.Errorf("held: LastError %q, Attempts %d, LeaseUntil %v", m.LastError, m.Attempts, m.LeaseUntil)
	}
	discarded := enqueue(t, s, newMessage(1, "discarded"))
	dc := claimOne(t, s, time.Now(), discarded)
	wantNoErr(t, "Discard", s.Discard(ctx, discarded, dc.Attempt, "rule spam: drop"))
	if m := wantState(t, s, discarded, store.Dropped); m.LastError != "rule spam: drop" {
		t.Errorf("discarded: LastError %q", m.LastError)
	}
	wantErr(t, "Discard(stale claim)", s.Discard(ctx, discarded, dc.Attempt, "again"), store.ErrLeaseLost)
	wantNoErr(t, "Retry", s.Retry(ctx, other, claims[2].Attempt, store.Failure{At: now}))
	if got := claimIDs(claim(t, s, now.Add(24*time.Hour), 10)); len(got) != 1 || got[0] != other {
		t.Fatalf("Claim = %v, want only %d: held messages are not claimed", got, other)
	}

	list, err := s.List(ctx, store.Filter{States: []store.State{store.Held}})
	wantNoErr(t, "List", err)
	if len(list) != 2 {
		t.Errorf("List(held) = %d messages, want 2", len(list))
	}
	st, err := s.Stats(ctx)
	wantNoErr(t, "Stats", err)
	if st.Counts[store.Held] != 2 {
		t.Errorf("Counts[held] = %d, want 2 (all: %v)", st.Counts[store.Held], st.Counts)
	}

	wantNoErr(t, "Drop(held)", s.Drop(ctx, dropped))
	wantState(t, s, dropped, store.Dropped)
	wantErr(t, "Release(dropped)", s.Release(ctx, dropped), store.ErrWrongState)
	wantErr(t, "Release(inflight)", s.Release(ctx, other), store.ErrWrongState)
	wantErr(t, "Release(unknown)", s.Release(ctx, 12345), store.ErrNotFound)
	wantErr(t, "Requeue(held)", s.Requeue(ctx, held), store.ErrWrongState)

	wantNoErr(t, "Release", s.Release(ctx, held))
	m = wantState(t, s, held, store.Queued)
	if m.Attempts != 0 || m.NextAttemptAt.After(time.Now()) {
		t.Errorf("released: Attempts %d, NextAttemptAt %v; want 0, now", m.Attempts, m.NextAttemptAt)
	}
	c := claimOne(t, s, time.Now(), held)
	if c.ReleasedAt.IsZero() || c.ReleasedAt.After(time.Now()) {
		t.Errorf("released claim: ReleasedAt %v, want the release's time", c.ReleasedAt)
	}
}

// testPostponeIsNoRelease: a claim given back before its attempt started
// takes its attempt back, but is not an operator's release: the policies
// that hold a message still apply to its next claim.
func testPostponeIsNoRelease(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	id := enqueueN(t, s, 1)[0]
	c := claimOne(t, s, time.Now(), id)
	wantNoErr(t, "Postpone", s.Postpone(ctx, id, c.Attempt, store.Failure{At: time.Now()}))
	c = claimOne(t, s, time.Now(), id)
	if !c.ReleasedAt.IsZero() {
		t.Errorf("claim after Postpone: ReleasedAt %v, want zero", c.ReleasedAt)
	}
}
