package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// claimedMessage is newMessage asking to be queued claimed at now.
func claimedMessage(subchannel int, externalID string, now time.Time) store.NewMessage {
	m := newMessage(subchannel, externalID)
	m.Claim = &store.ClaimRequest{Now: now, Lease: lease}
	return m
}

// enqueueClaimed enqueues m, which asks for a claim, and returns its claim.
func enqueueClaimed(t *testing.T, s store.Store, m store.NewMessage) *store.Claim {
	t.Helper()
	res, err := s.Enqueue(t.Context(), m)
	wantNoErr(t, "Enqueue(claimed)", err)
	if res.Duplicate || res.Claim == nil {
		t.Fatalf("Enqueue(%q) with a claim request = %+v, want a new message with its claim", m.ExternalID, res)
	}
	if res.State != store.Inflight || res.Claim.ID != res.ID || res.Claim.ExternalID != res.ExternalID {
		t.Fatalf("Enqueue(%q) = %+v, claim of %d (%s); want inflight, the claim of the new row",
			m.ExternalID, res, res.Claim.ID, res.Claim.ExternalID)
	}
	return res.Claim
}

// testEnqueueClaimed: a message queued with a claim request comes back as
// the claim of its first attempt, is stored so, is not claimable while
// its lease lasts, and is then taken over as any claim whose lease ran
// out; its claim reports like one Claim made.
func testEnqueueClaimed(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	now := time.Now()
	nm := claimedMessage(3, "claimed@example.com", now)
	nm.TicketID = 17
	c := enqueueClaimed(t, s, nm)
	if c.Attempt != 1 || c.Attempts != 1 || c.Uncertain != 0 || c.Reclaimed || c.State != store.Inflight {
		t.Errorf("claim: Attempt %d, Attempts %d, Uncertain %d, Reclaimed %v, State %s; want 1, 1, 0, false, inflight",
			c.Attempt, c.Attempts, c.Uncertain, c.Reclaimed, c.State)
	}
	if !bytes.Equal(c.Raw, nm.Raw) || c.SubchannelID != 3 || c.TicketID != 17 || c.MessageID != nm.MessageID ||
		!bytes.Equal(c.Origin, nm.Origin) || c.Size != int64(len(nm.Raw)) {
		t.Errorf("claim carries %+v with %d raw bytes, want the message enqueued", c.Message, len(c.Raw))
	}
	wantTime(t, "claim's LeaseUntil", c.LeaseUntil, now.Add(lease))
	m := wantState(t, s, c.ID, store.Inflight)
	if m.Attempts != 1 || m.Uncertain != 0 {
		t.Errorf("stored: Attempts %d, Uncertain %d; want 1, 0", m.Attempts, m.Uncertain)
	}
	wantTime(t, "stored LeaseUntil", m.LeaseUntil, now.Add(lease))
	wantTime(t, "stored CreatedAt", m.CreatedAt, c.CreatedAt)

	for _, at := range []time.Time{now, now.Add(lease / 2), c.LeaseUntil.Add(-time.Millisecond)} {
		if got := claim(t, s, at, 10); len(got) != 0 {
			t.Fatalf("Claim at %v, lease until %v, got %v", at, c.LeaseUntil, claimIDs(got))
		}
	}
	next := claimOne(t, s, c.LeaseUntil, c.ID)
	if !next.Reclaimed || next.Attempt != 2 || next.Attempts != 2 || next.Uncertain != 1 {
		t.Fatalf("after the lease: Reclaimed %v, Attempt %d, Attempts %d, Uncertain %d; want true, 2, 2, 1",
			next.Reclaimed, next.Attempt, next.Attempts, next.Uncertain)
	}
	if !bytes.Equal(next.Raw, nm.Raw) {
		t.Errorf("claim after the lease: Raw %q, want %q", next.Raw, nm.Raw)
	}
	wantErr(t, "Complete by the first claim", s.Complete(ctx, c.ID, c.Attempt, store.Outcome{TicketID: 1}), store.ErrLeaseLost)
	wantNoErr(t, "Complete", s.Complete(ctx, c.ID, next.Attempt, store.Outcome{TicketID: 2}))

	// The claim of an enqueue reports as any other.
	d := enqueueClaimed(t, s, claimedMessage(3, "delivered@example.com", time.Now()))
	wantNoErr(t, "Complete(enqueue's claim)", s.Complete(ctx, d.ID, d.Attempt, store.Outcome{TicketID: 5}))
	if m := wantState(t, s, d.ID, store.Delivered); m.TicketID != 5 || m.Attempts != 1 {
		t.Errorf("delivered: TicketID %d, Attempts %d; want 5, 1", m.TicketID, m.Attempts)
	}
	r := enqueueClaimed(t, s, claimedMessage(3, "retried@example.com", time.Now()))
	wantNoErr(t, "Retry(enqueue's claim)", s.Retry(ctx, r.ID, r.Attempt, store.Failure{At: now, Error: "503"}))
	if again := claimOne(t, s, time.Now(), r.ID); again.Attempt != 2 || again.Reclaimed || again.Uncertain != 0 {
		t.Errorf("after a retry: Attempt %d, Reclaimed %v, Uncertain %d; want 2, false, 0",
			again.Attempt, again.Reclaimed, again.Uncertain)
	}
}

// testEnqueueClaimedDuplicate: a duplicate is never claimed, and the
// message it duplicates is left as it was; a different mail under a key
// taken is claimed under its own id.
func testEnqueueClaimedDuplicate(t *testing.T, open Open) {
	s := openStore(t, open)
	now := time.Now()
	first := newMessage(1, "dup@example.com")
	first.Digest = []byte("one")
	id := enqueue(t, s, first)
	again := claimedMessage(1, "dup@example.com", now)
	again.Digest = []byte("one")
	res, err := s.Enqueue(t.Context(), again)
	wantNoErr(t, "Enqueue(duplicate)", err)
	if !res.Duplicate || res.ID != id || res.Claim != nil || res.State != store.Queued {
		t.Fatalf("Enqueue(duplicate with a claim request) = %+v, want a duplicate of %d without a claim", res, id)
	}
	wantState(t, s, id, store.Queued)

	other := claimedMessage(1, "dup@example.com", now)
	other.Digest = []byte("two")
	c := enqueueClaimed(t, s, other)
	if want := store.VariantID("dup@example.com", 2); c.ExternalID != want {
		t.Errorf("claimed variant ExternalID = %q, want %q", c.ExternalID, want)
	}
	// Only the first message is claimable; the variant is claimed.
	claimOne(t, s, time.Now(), id)
}

// testEnqueueClaimedConcurrent: concurrent enqueues, some asking for a
// claim and some not, some of the same message, as a group commit takes
// them together. Each new message that asked is claimed, exactly once;
// the others are left for Claim.
func testEnqueueClaimedConcurrent(t *testing.T, open Open) {
	s := openStore(t, open)
	now := time.Now()
	const n = 24
	results := make([]store.EnqueueResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m := newMessage(1, fmt.Sprintf("c%d@example.com", i/2)) // each twice
			if i%4 < 2 {
				m.Claim = &store.ClaimRequest{Now: now, Lease: lease}
			}
			results[i], errs[i] = s.Enqueue(t.Context(), m)
		})
	}
	wg.Wait()
	claimed := map[int64]bool{}
	queued := map[int64]bool{}
	for i, res := range results {
		wantNoErr(t, "Enqueue", errs[i])
		asked := i%4 < 2
		switch {
		case res.Duplicate && res.Claim != nil:
			t.Errorf("duplicate %+v came with a claim", res)
		case res.Duplicate:
		case !asked && res.Claim != nil:
			t.Errorf("Enqueue without a claim request returned claim %d", res.Claim.ID)
		case asked && res.Claim == nil:
			t.Errorf("new message %d asked for a claim and got none", res.ID)
		case asked:
			if claimed[res.ID] || res.Claim.ID != res.ID {
				t.Errorf("claim of %d returned twice or for another message (%d)", res.ID, res.Claim.ID)
			}
			claimed[res.ID] = true
		default:
			queued[res.ID] = true
		}
	}
	if len(claimed)+len(queued) != n/2 || len(claimed) != n/4 {
		t.Fatalf("%d claimed and %d queued messages, want %d and %d", len(claimed), len(queued), n/4, n/4)
	}
	got := claim(t, s, time.Now(), n)
	for _, c := range got {
		if !queued[c.ID] || c.Attempt != 1 {
			t.Errorf("Claim took message %d (attempt %d), want only the queued ones", c.ID, c.Attempt)
		}
	}
	if len(got) != len(queued) {
		t.Errorf("Claim got %d messages, want the %d queued", len(got), len(queued))
	}
	for id := range claimed {
		if m := wantState(t, s, id, store.Inflight); m.Attempts != 1 {
			t.Errorf("claimed %d: Attempts %d, want 1", id, m.Attempts)
		}
	}
}

// testCrashWhileClaimedAtEnqueue: the claim of an enqueue outlives a
// crash as any claim does: the row stays inflight until its lease runs
// out, and is then taken over as an uncertain attempt.
func testCrashWhileClaimedAtEnqueue(t *testing.T, open Open) {
	old := openStore(t, open)
	now := time.Now()
	dying := enqueueClaimed(t, old, claimedMessage(1, "crash-claimed", now))

	s := restartAfterCrash(t, open)
	wantState(t, s, dying.ID, store.Inflight)
	if got := claim(t, s, now, 10); len(got) != 0 {
		t.Fatalf("Claim within the dead process's lease got %v", claimIDs(got))
	}
	c := claimOne(t, s, dying.LeaseUntil.Add(time.Second), dying.ID)
	if !c.Reclaimed || c.Attempt != 2 || c.Uncertain != 1 {
		t.Fatalf("after restart: Reclaimed %v, Attempt %d, Uncertain %d; want true, 2, 1", c.Reclaimed, c.Attempt, c.Uncertain)
	}
	wantErr(t, "Complete by the dead process",
		old.Complete(t.Context(), dying.ID, dying.Attempt, store.Outcome{}), store.ErrLeaseLost)
}

// testTakeOverClaimedAtEnqueue: an enqueue's claim carries its instance,
// so that another takes it over when the instance dies, as it does a
// claim of Claim.
func testTakeOverClaimedAtEnqueue(t *testing.T, open Open) {
	ctx := t.Context()
	a := openStore(t, open)
	b := openStore(t, open).(store.Instances)
	wantNoErr(t, "Announce(a)", a.(store.Instances).Announce(ctx, time.Minute))
	wantNoErr(t, "Announce(b)", b.Announce(ctx, time.Minute))
	first := enqueueClaimed(t, a, claimedMessage(1, "a's at enqueue", time.Now()))
	if n, err := b.TakeOverDead(ctx, 0); err != nil || n != 0 {
		t.Fatalf("TakeOverDead with a alive = %d, %v; want 0, nil", n, err)
	}
	wantNoErr(t, "Withdraw(a)", a.(store.Instances).Withdraw(ctx))
	if n, err := b.TakeOverDead(ctx, 0); err != nil || n != 1 {
		t.Fatalf("TakeOverDead after a withdrew = %d, %v; want 1, nil", n, err)
	}
	c := claimOne(t, b.(store.Store), time.Now(), first.ID)
	if !c.Reclaimed || c.Uncertain != 1 || c.Attempt != 2 {
		t.Errorf("taken over: Reclaimed %v, Uncertain %d, Attempt %d; want true, 1, 2", c.Reclaimed, c.Uncertain, c.Attempt)
	}
}
