// Package storetest is the test suite every store.Store implementation must
// pass. An implementation's tests call Run with a function that opens its
// stores:
//
//	func TestStore(t *testing.T) {
//		dir := t.TempDir()
//		storetest.Run(t, func(t *testing.T, name string) store.Store {
//			s, err := sqlite.Open(t.Context(), filepath.Join(dir, name+".db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// Open opens a store on the database called name, creating it empty the
// first time the name is used. Opening a name again, whether or not the
// earlier store was closed, must show the same data: that is how the suite
// restarts a store, and how it simulates a process that crashed (it does not
// close the store it abandons). Each subtest uses its own name, made of
// lower-case letters, digits and underscores. The suite closes the stores
// Open returns.
type Open func(t *testing.T, name string) store.Store

// Run runs the suite against the stores open returns. The subtests run in
// parallel.
//
// Beyond the contract in package store, the suite expects Raw and Origin
// back byte for byte and times to the millisecond, and ErrLeaseLost for a
// report on an unknown message (nobody holds a claim on it).
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Open)
	}{
		{"EnqueueGet", testEnqueueGet},
		{"EnqueueLarge", testEnqueueLarge},
		{"EnqueueSizes", testEnqueueSizes},
		{"GetUnknown", testGetUnknown},
		{"MessageWithoutRaw", testMessageWithoutRaw},
		{"DedupPerSubchannel", testDedupPerSubchannel},
		{"DedupAfterFinalStates", testDedupAfterFinalStates},
		{"ConcurrentEnqueue", testConcurrentEnqueue},
		{"Digests", testDigests},
		{"DigestUnknown", testDigestUnknown},
		{"VariantIDTaken", testVariantIDTaken},
		{"VariantOverflow", testVariantOverflow},
		{"ConcurrentDigests", testConcurrentDigests},
		{"ClaimOrderAndLimit", testClaimOrderAndLimit},
		{"ClaimRawBound", testClaimRawBound},
		{"ClaimRawReclaimedFirst", testClaimRawReclaimedFirst},
		{"ClaimSkipsNotDue", testClaimSkipsNotDue},
		{"ClaimHoldsLease", testClaimHoldsLease},
		{"ReclaimExpiredLease", testReclaimExpiredLease},
		{"ReclaimInBatch", testReclaimInBatch},
		{"Fencing", testFencing},
		{"LateReportOnExpiredLease", testLateReportOnExpiredLease},
		{"Complete", testComplete},
		{"RetryTicket", testRetryTicket},
		{"Retry", testRetry},
		{"Bury", testBury},
		{"Requeue", testRequeue},
		{"RequeueKeepsFence", testRequeueKeepsFence},
		{"Postpone", testPostpone},
		{"Hasten", testHasten},
		{"Drop", testDrop},
		{"HoldRelease", testHoldRelease},
		{"PostponeIsNoRelease", testPostponeIsNoRelease},
		{"List", testList},
		{"ListDefaultLimit", testListDefaultLimit},
		{"Stats", testStats},
		{"Ping", testPing},
		{"Thread", testThread},
		{"ThreadAfterRestart", testThreadAfterRestart},
		{"LinkThread", testLinkThread},
		{"Participants", testParticipants},
		{"ConcurrentClaimers", testConcurrentClaimers},
		{"CrashBeforeClaim", testCrashBeforeClaim},
		{"CrashWhileInflight", testCrashWhileInflight},
		{"CrashAfterComplete", testCrashAfterComplete},
		{"EnqueueClaimed", testEnqueueClaimed},
		{"EnqueueClaimedDuplicate", testEnqueueClaimedDuplicate},
		{"EnqueueClaimedConcurrent", testEnqueueClaimedConcurrent},
		{"CrashWhileClaimedAtEnqueue", testCrashWhileClaimedAtEnqueue},
		{"Prune", testPrune},
		{"PruneConcurrent", testPruneConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

// openStore opens the subtest's store; called again in the same subtest, it
// opens the same database again.
func openStore(t *testing.T, open Open) store.Store {
	t.Helper()
	s := open(t, dbName(t))
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func dbName(t *testing.T) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			return r
		case 'A' <= r && r <= 'Z':
			return r - 'A' + 'a'
		}
		return '_'
	}, t.Name())
}

// lease is the lease every claim in the suite takes.
const lease = time.Minute

func newMessage(subchannel int, externalID string) store.NewMessage {
	return store.NewMessage{
		SubchannelID: subchannel,
		ExternalID:   externalID,
		MessageID:    "<" + externalID + ">",
		Subject:      "Subject of " + externalID,
		From:         "Alice <alice@example.com>",
		Origin:       []byte(`{"source":"smtp"}`),
		Raw:          []byte("Message-ID: <" + externalID + ">\r\nSubject: hello\r\n\r\nbody\r\n"),
		ReceivedAt:   time.Now().Add(-time.Minute),
	}
}

func enqueue(t *testing.T, s store.Store, m store.NewMessage) int64 {
	t.Helper()
	res, err := s.Enqueue(t.Context(), m)
	if err != nil {
		t.Fatalf("Enqueue(%q): %v", m.ExternalID, err)
	}
	if res.Duplicate {
		t.Fatalf("Enqueue(%q): unexpected duplicate of %d", m.ExternalID, res.ID)
	}
	return res.ID
}

// enqueueN enqueues n messages on subchannel 1 and returns their ids.
func enqueueN(t *testing.T, s store.Store, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = enqueue(t, s, newMessage(1, fmt.Sprintf("%s-%d", dbName(t), i)))
	}
	return ids
}

func claim(t *testing.T, s store.Store, now time.Time, limit int) []store.Claim {
	t.Helper()
	claims, err := s.Claim(t.Context(), now, lease, limit)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return claims
}

// claimOne claims the only due message, which must be id.
func claimOne(t *testing.T, s store.Store, now time.Time, id int64) store.Claim {
	t.Helper()
	claims := claim(t, s, now, 10)
	if got := claimIDs(claims); !reflect.DeepEqual(got, []int64{id}) {
		t.Fatalf("Claim got %v, want [%d]", got, id)
	}
	return claims[0]
}

func claimIDs(claims []store.Claim) []int64 {
	var ids []int64
	for _, c := range claims {
		ids = append(ids, c.ID)
	}
	return ids
}

func get(t *testing.T, s store.Store, id int64) store.Message {
	t.Helper()
	m, _, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%d): %v", id, err)
	}
	return m
}

func wantState(t *testing.T, s store.Store, id int64, want store.State) store.Message {
	t.Helper()
	m := get(t, s, id)
	if m.State != want {
		t.Fatalf("message %d is %s, want %s", id, m.State, want)
	}
	return m
}

func wantErr(t *testing.T, op string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", op, err, want)
	}
}

func wantNoErr(t *testing.T, op string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

// wantTime checks a stored time, which may have lost precision below a
// millisecond.
func wantTime(t *testing.T, field string, got, want time.Time) {
	t.Helper()
	if d := got.Sub(want); d <= -time.Millisecond || d >= time.Millisecond {
		t.Errorf("%s = %v, want %v", field, got, want)
	}
}

// wantMessage fails unless got equals want, times compared as instants.
func wantMessage(t *testing.T, got, want store.Message) {
	t.Helper()
	if got, want := utc(got), utc(want); !reflect.DeepEqual(got, want) {
		t.Fatalf("got message\n%+v\nwant\n%+v", got, want)
	}
}

func utc(m store.Message) store.Message {
	for _, p := range []*time.Time{&m.ReceivedAt, &m.CreatedAt, &m.UpdatedAt,
		&m.NextAttemptAt, &m.LeaseUntil, &m.DeliveredAt} {
		*p = p.UTC()
	}
	return m
}

// restartAfterCrash opens the subtest's database again and leaves the store
// already open as it is, unclosed, like a process that died. (openStore's
// cleanup closes it after the test.)
func restartAfterCrash(t *testing.T, open Open) store.Store {
	t.Helper()
	return openStore(t, open)
}

func testEnqueueGet(t *testing.T, open Open) {
	s := openStore(t, open)
	nm := newMessage(7, "roundtrip@example.com")
	nm.TicketID = 42
	before := time.Now()
	res, err := s.Enqueue(t.Context(), nm)
	wantNoErr(t, "Enqueue", err)
	if res.Duplicate || res.State != store.Queued || res.ID == 0 {
		t.Fatalf("Enqueue = %+v, want a new queued message", res)
	}

	m, raw, err := s.Get(t.Context(), res.ID)
	wantNoErr(t, "Get", err)
	if !bytes.Equal(raw, nm.Raw) {
		t.Errorf("raw = %q, want %q", raw, nm.Raw)
	}
	want := store.Message{
		ID:           res.ID,
		SubchannelID: nm.SubchannelID,
		ExternalID:   nm.ExternalID,
		MessageID:    nm.MessageID,
		Subject:      nm.Subject,
		From:         nm.From,
		State:        store.Queued,
		Size:         int64(len(nm.Raw)),
		TicketID:     nm.TicketID,
		Origin:       nm.Origin,
		// Times are checked below.
		ReceivedAt:    m.ReceivedAt,
		CreatedAt:     m.CreatedAt,
		UpdatedAt:     m.UpdatedAt,
		NextAttemptAt: m.NextAttemptAt,
	}
	wantMessage(t, m, want)
	wantTime(t, "ReceivedAt", m.ReceivedAt, nm.ReceivedAt)
	for field, tm := range map[string]time.Time{
		"CreatedAt": m.CreatedAt, "UpdatedAt": m.UpdatedAt, "NextAttemptAt": m.NextAttemptAt,
	} {
		if tm.Before(before.Truncate(time.Millisecond)) || tm.After(time.Now()) {
			t.Errorf("%s = %v, want the time of Enqueue", field, tm)
		}
	}
	if !m.LeaseUntil.IsZero() || !m.DeliveredAt.IsZero() {
		t.Errorf("LeaseUntil = %v, DeliveredAt = %v, want zero", m.LeaseUntil, m.DeliveredAt)
	}
}

func testEnqueueLarge(t *testing.T, open Open) {
	s := openStore(t, open)
	nm := newMessage(1, "large@example.com")
	nm.Raw = make([]byte, 5<<20)
	for i := range nm.Raw {
		nm.Raw[i] = byte(i * 7)
	}
	id := enqueue(t, s, nm)

	m, raw, err := s.Get(t.Context(), id)
	wantNoErr(t, "Get", err)
	if !bytes.Equal(raw, nm.Raw) {
		t.Fatalf("raw differs from the %d bytes enqueued (got %d bytes)", len(nm.Raw), len(raw))
	}
	if m.Size != int64(len(nm.Raw)) {
		t.Errorf("Size = %d, want %d", m.Size, len(nm.Raw))
	}
	c := claimOne(t, s, time.Now(), id)
	if !bytes.Equal(c.Raw, nm.Raw) {
		t.Fatalf("claimed raw differs from the %d bytes enqueued", len(nm.Raw))
	}
}

// Raw bytes of sizes about where a store may keep them otherwise (the
// SQLite store's spool files above 256 KiB) come back byte for byte from
// Get and Claim, also after a duplicate and after the store was opened
// again.
func testEnqueueSizes(t *testing.T, open Open) {
	s := openStore(t, open)
	sizes := []int{1, 256<<10 - 1, 256 << 10, 256<<10 + 1, 1 << 20}
	raws := make(map[int64][]byte)
	for i, size := range sizes {
		nm := newMessage(1, fmt.Sprintf("size-%d@example.com", size))
		nm.Raw = patterned(size, 31, i)
		id := enqueue(t, s, nm)
		raws[id] = nm.Raw
		res, err := s.Enqueue(t.Context(), nm)
		wantNoErr(t, "Enqueue again", err)
		if !res.Duplicate || res.ID != id {
			t.Fatalf("Enqueue of %d bytes again = %+v, want a duplicate of %d", size, res, id)
		}
	}
	s = restartAfterCrash(t, open)
	for id, want := range raws {
		m, raw, err := s.Get(t.Context(), id)
		wantNoErr(t, "Get", err)
		if !bytes.Equal(raw, want) || m.Size != int64(len(want)) {
			t.Fatalf("Get(%d): %d bytes, Size %d; want the %d bytes enqueued", id, len(raw), m.Size, len(want))
		}
	}
	// One at a time: a claim's first message always comes with its raw
	// bytes (store.ClaimRaw).
	for range sizes {
		claims := claim(t, s, time.Now(), 1)
		if len(claims) != 1 {
			t.Fatalf("claimed %d messages, want 1", len(claims))
		}
		if c := claims[0]; !bytes.Equal(c.Raw, raws[c.ID]) {
			t.Fatalf("claim of %d: %d bytes, want the %d bytes enqueued", c.ID, len(c.Raw), len(raws[c.ID]))
		}
	}
}

func testGetUnknown(t *testing.T, open Open) {
	s := openStore(t, open)
	_, _, err := s.Get(t.Context(), 12345)
	wantErr(t, "Get(unknown)", err, store.ErrNotFound)
}

func testDedupPerSubchannel(t *testing.T, open Open) {
	s := openStore(t, open)
	id1 := enqueue(t, s, newMessage(1, "same@example.com"))
	id2 := enqueue(t, s, newMessage(2, "same@example.com"))
	if id1 == id2 {
		t.Fatalf("two subchannels share message %d", id1)
	}

	again := newMessage(1, "same@example.com")
	again.Subject = "changed"
	res, err := s.Enqueue(t.Context(), again)
	wantNoErr(t, "Enqueue", err)
	want := store.EnqueueResult{ID: id1, ExternalID: "same@example.com", Duplicate: true, State: store.Queued}
	if res != want {
		t.Fatalf("Enqueue again = %+v, want %+v", res, want)
	}
	if m := get(t, s, id1); m.Subject != newMessage(1, "same@example.com").Subject {
		t.Errorf("duplicate overwrote the subject: %q", m.Subject)
	}
	if msgs, err := s.List(t.Context(), store.Filter{}); err != nil || len(msgs) != 2 {
		t.Fatalf("List = %d messages, %v; want 2", len(msgs), err)
	}
}

func testDedupAfterFinalStates(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()

	delivered := enqueue(t, s, newMessage(1, "delivered"))
	c := claimOne(t, s, time.Now(), delivered)
	wantNoErr(t, "Complete", s.Complete(ctx, c.ID, c.Attempt, store.Outcome{TicketID: 1}))

	dead := enqueue(t, s, newMessage(1, "dead"))
	c = claimOne(t, s, time.Now(), dead)
	wantNoErr(t, "Bury", s.Bury(ctx, c.ID, c.Attempt, "rejected"))

	dropped := enqueue(t, s, newMessage(1, "dropped"))
	wantNoErr(t, "Drop", s.Drop(ctx, dropped))

	inflight := enqueue(t, s, newMessage(1, "inflight"))
	claimOne(t, s, time.Now(), inflight)

	for _, want := range []store.EnqueueResult{
		{ID: delivered, ExternalID: "delivered", Duplicate: true, State: store.Delivered},
		{ID: dead, ExternalID: "dead", Duplicate: true, State: store.Dead},
		{ID: dropped, ExternalID: "dropped", Duplicate: true, State: store.Dropped},
		{ID: inflight, ExternalID: "inflight", Duplicate: true, State: store.Inflight},
	} {
		before := get(t, s, want.ID)
		res, err := s.Enqueue(ctx, newMessage(1, before.ExternalID))
		wantNoErr(t, "Enqueue", err)
		if res != want {
			t.Errorf("Enqueue(%q) = %+v, want %+v", before.ExternalID, res, want)
		}
		wantMessage(t, get(t, s, want.ID), before)
	}
}

func testConcurrentEnqueue(t *testing.T, open Open) {
	s := openStore(t, open)
	const n = 20
	results := make([]store.EnqueueResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = s.Enqueue(t.Context(), newMessage(1, "racy@example.com"))
		})
	}
	wg.Wait()

	fresh := 0
	for i, res := range results {
		wantNoErr(t, "Enqueue", errs[i])
		if res.ID != results[0].ID {
			t.Fatalf("Enqueue returned ids %d and %d for one message", results[0].ID, res.ID)
		}
		if !res.Duplicate {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d of %d concurrent Enqueues wrote the message, want 1", fresh, n)
	}
	msgs, err := s.List(t.Context(), store.Filter{})
	wantNoErr(t, "List", err)
	if len(msgs) != 1 {
		t.Fatalf("List = %d messages, want 1", len(msgs))
	}
}

func testClaimOrderAndLimit(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	ids := enqueueN(t, s, 3)
	now := time.Now()

	first := claim(t, s, now, 2)
	if got := claimIDs(first); !reflect.DeepEqual(got, ids[:2]) {
		t.Fatalf("Claim(limit 2) = %v, want %v", got, ids[:2])
	}
	for _, c := range first {
		if c.Attempt != 1 || c.Attempts != 1 || c.Reclaimed || c.State != store.Inflight {
			t.Errorf("claim %d: Attempt %d, Attempts %d, Reclaimed %v, State %s; want 1, 1, false, inflight",
				c.ID, c.Attempt, c.Attempts, c.Reclaimed, c.State)
		}
		wantTime(t, "LeaseUntil", c.LeaseUntil, now.Add(lease))
	}
	last := claim(t, s, now, 2)
	if got := claimIDs(last); !reflect.DeepEqual(got, ids[2:]) {
		t.Fatalf("second Claim = %v, want %v", got, ids[2:])
	}

	// Retries due in the reverse order of the ids: NextAttemptAt decides.
	claims := append(first, last...)
	for i, c := range claims {
		at := now.Add(-time.Duration(i+1) * time.Hour)
		wantNoErr(t, "Retry", s.Retry(ctx, c.ID, c.Attempt, store.Failure{At: at, Error: "try again", Uncertain: false}))
	}
	got := claimIDs(claim(t, s, now, 10))
	if want := []int64{ids[2], ids[1], ids[0]}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Claim after retries = %v, want %v", got, want)
	}
}

func testClaimSkipsNotDue(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	ids := enqueueN(t, s, 2)
	now := time.Now()
	claims := claim(t, s, now, 2)
	later := now.Add(time.Hour)
	wantNoErr(t, "Retry", s.Retry(ctx, ids[0], claims[0].Attempt, store.Failure{At: later, Error: "busy", Uncertain: false}))
	wantNoErr(t, "Retry", s.Retry(ctx, ids[1], claims[1].Attempt, store.Failure{At: now, Error: "busy", Uncertain: false}))

	c := claimOne(t, s, now, ids[1])
	wantNoErr(t, "Complete", s.Complete(ctx, c.ID, c.Attempt, store.Outcome{}))
	if got := claim(t, s, later.Add(-time.Millisecond), 10); len(got) != 0 {
		t.Fatalf("Claim before the retry is due got %v", claimIDs(got))
	}
	claimOne(t, s, later, ids[0])
}

func testClaimHoldsLease(t *testing.T, open Open) {
	s := openStore(t, open)
	id := enqueueN(t, s, 1)[0]
	now := time.Now()
	c := claimOne(t, s, now, id)
	for _, at := range []time.Time{now, now.Add(lease / 2), c.LeaseUntil.Add(-time.Millisecond)} {
		if got := claim(t, s, at, 10); len(got) != 0 {
			t.Fatalf("Claim at %v, lease until %v, got %v", at, c.LeaseUntil, claimIDs(got))
		}
	}
}

// testReclaimInBatch claims an expired lease together with fresh
// messages: only the one taken over is Reclaimed and uncertain, and each
// claim carries its own message.
func testReclaimInBatch(t *testing.T, open Open) {
	s := openStore(t, open)
	ids := enqueueN(t, s, 3)
	now := time.Now()
	first := claim(t, s, now, 1)[0]
	// ids[1] and ids[2] were claimable all along; ids[0]'s lease ran out.
	later := first.LeaseUntil
	got := claim(t, s, later, 10)
	if ids := claimIDs(got); len(ids) != 3 {
		t.Fatalf("Claim after the lease = %v, want 3 claims", ids)
	}
	for _, c := range got {
		taken := c.ID == ids[0]
		wantAttempt, wantUncertain := 1, 0
		if taken {
			wantAttempt, wantUncertain = 2, 1
		}
		if c.Reclaimed != taken || c.Attempt != wantAttempt || c.Uncertain != wantUncertain || c.State != store.Inflight {
			t.Errorf("claim %d: Reclaimed %v, Attempt %d, Uncertain %d, State %s; want %v, %d, %d, inflight",
				c.ID, c.Reclaimed, c.Attempt, c.Uncertain, c.State, taken, wantAttempt, wantUncertain)
		}
		m, raw, err := s.Get(t.Context(), c.ID)
		if err != nil {
			t.Fatalf("Get(%d): %v", c.ID, err)
		}
		if c.ExternalID != m.ExternalID || !bytes.Equal(c.Raw, raw) {
			t.Errorf("claim %d carries message %s (%d raw bytes), want %s (%d)", c.ID, c.ExternalID, len(c.Raw), m.ExternalID, len(raw))
		}
		wantTime(t, "LeaseUntil", c.LeaseUntil, later.Add(lease))
	}
}

func testReclaimExpiredLease(t *testing.T, open Open) {
	s := openStore(t, open)
	id := enqueueN(t, s, 1)[0]
	now := time.Now()
	first := claimOne(t, s, now, id)

	later := first.LeaseUntil
	c := claimOne(t, s, later, id)
	if !c.Reclaimed || c.Attempt != 2 || c.Uncertain != 1 {
		t.Fatalf("reclaim: Reclaimed %v, Attempt %d, Uncertain %d; want true, 2, 1",
			c.Reclaimed, c.Attempt, c.Uncertain)
	}
	wantTime(t, "LeaseUntil", c.LeaseUntil, later.Add(lease))
	if !bytes.Equal(c.Raw, first.Raw) {
		t.Errorf("reclaim Raw = %q, want %q", c.Raw, first.Raw)
	}
	if m := get(t, s, id); m.Uncertain != 1 || m.Attempts != 2 {
		t.Errorf("stored Uncertain %d, Attempts %d; want 1, 2", m.Uncertain, m.Attempts)
	}
}

func testFencing(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	id := enqueueN(t, s, 1)[0]
	now := time.Now()
	stale := claimOne(t, s, now, id)
	current := claimOne(t, s, stale.LeaseUntil, id)
	before := get(t, s, id)

	wantErr(t, "Complete(stale)", s.Complete(ctx, id, stale.Attempt, store.Outcome{TicketID: 9}), store.ErrLeaseLost)
	wantErr(t, "Retry(stale)", s.Retry(ctx, id, stale.Attempt, store.Failure{At: now, Error: "x", Uncertain: true}), store.ErrLeaseLost)
	wantErr(t, "Bury(stale)", s.Bury(ctx, id, stale.Attempt, "x"), store.ErrLeaseLost)
	wantMessage(t, get(t, s, id), before)

	wantNoErr(t, "Complete", s.Complete(ctx, id, current.Attempt, store.Outcome{TicketID: 1}))
	wantErr(t, "Complete again", s.Complete(ctx, id, current.Attempt, store.Outcome{TicketID: 2}), store.ErrLeaseLost)
	wantErr(t, "Complete(unknown)", s.Complete(ctx, 12345, 1, store.Outcome{}), store.ErrLeaseLost)
	if m := get(t, s, id); m.TicketID != 1 {
		t.Errorf("TicketID = %d, want 1 from the first Complete", m.TicketID)
	}
}

// The fence is the attempt, not the clock: a worker whose lease ran out may
// still report while nobody has taken the message over.
func testLateReportOnExpiredLease(t *testing.T, open Open) {
	s := openStore(t, open)
	id := enqueueN(t, s, 1)[0]
	claims, err := s.Claim(t.Context(), time.Now(), time.Millisecond, 1)
	wantNoErr(t, "Claim", err)
	if len(claims) != 1 {
		t.Fatalf("Claim got %v, want [%d]", claimIDs(claims), id)
	}
	time.Sleep(10 * time.Millisecond)
	wantNoErr(t, "Complete", s.Complete(t.Context(), id, claims[0].Attempt, store.Outcome{TicketID: 1}))
	wantState(t, s, id, store.Delivered)
}

func testComplete(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	id := enqueueN(t, s, 1)[0]
	now := time.Now()
	c := claimOne(t, s, now, id)
	wantNoErr(t, "Retry", s.Retry(ctx, id, c.Attempt, store.Failure{At: now, Error: "502 Bad Gateway", Uncertain: false}))
	c = claimOne(t, s, now, id)

	before := time.Now()
	o := store.Outcome{TicketID: 11, ConversationID: 22, EventID: 33}
	wantNoErr(t, "Complete", s.Complete(ctx, id, c.Attempt, o))
	m := wantState(t, s, id, store.Delivered)
	if got := (store.Outcome{TicketID: m.TicketID, ConversationID: m.ConversationID, EventID: m.EventID}); got != o {
		t.Errorf("outcome = %+v, want %+v", got, o)
	}
	if m.LastError != "" || m.Attempts != 2 {
		t.Errorf("LastError %q, Attempts %d; want none, 2", m.LastError, m.Attempts)
	}
	if m.DeliveredAt.Before(before.Truncate(time.Millisecond)) || m.DeliveredAt.After(time.Now()) {
		t.Errorf("DeliveredAt = %v, want the time of Complete", m.DeliveredAt)
	}
	if got := claim(t, s, now.Add(24*time.Hour), 10); len(got) != 0 {
		t.Fatalf("Claim got delivered message: %v", claimIDs(got))
	}
	if _, raw, err := s.Get(ctx, id); err != nil || len(raw) == 0 {
		t.Fatalf("Get after delivery: %d raw bytes, %v; want the message kept", len(raw), err)
	}
}

// A retry remembers the ticket the attempt used, so the next attempt
// stores on it rather than opening another; a retry without one forgets it.
func testRetryTicket(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	id := enqueueN(t, s, 1)[0]
	now := time.Now()
	c := claimOne(t, s, now, id)
	wantNoErr(t, "Retry", s.Retry(ctx, id, c.Attempt, store.Failure{At: now, Error: "timeout", Uncertain: true, TicketID: 77}))
	if m := wantState(t, s, id, store.Queued); m.TicketID != 77 {
		t.Fatalf("after Retry: TicketID %d, want 77", m.TicketID)
	}
	c = claimOne(t, s, now, id)
	if c.TicketID != 77 {
		t.Fatalf("retry claim TicketID = %d, want 77", c.TicketID)
	}
	wantNoErr(t, "Postpone", s.Postpone(ctx, id, c.Attempt, store.Failure{At: now, Error: "401", TicketID: 78}))
	c = claimOne(t, s, now, id)
	if c.TicketID != 78 {
		t.Fatalf("claim after Postpone: TicketID = %d, want 78", c.TicketID)
	}
	wantNoErr(t, "Retry", s.Retry(ctx, id, c.Attempt, store.Failure{At: now, Error: "ticket 78 not found", GoneTicketID: 78}))
	c = claimOne(t, s, now, id)
	if c.TicketID != 0 || c.GoneTicketID != 78 {
		t.Fatalf("claim after a retry without ticket: TicketID = %d, GoneTicketID %d; want 0, 78", c.TicketID, c.GoneTicketID)
	}
	wantNoErr(t, "Retry", s.Retry(ctx, id, c.Attempt, store.Failure{At: now, Error: "503", TicketID: 79, GoneTicketID: 78}))
	if m := get(t, s, id); m.GoneTicketID != 78 || m.TicketID != 79 {
		t.Fatalf("after a retry keeping the gone ticket: TicketID %d, GoneTicketID %d; want 79, 78", m.TicketID, m.GoneTicketID)
	}
}

func testRetry(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	id := enqueueN(t, s, 1)[0]
	now := time.Now()
	at := now.Add(5 * time.Minute)

	c := claimOne(t, s, now, id)
	wantNoErr(t, "Retry", s.Retry(ctx, id, c.Attempt, store.Failure{At: at, Error: "connection reset", Uncertain: true}))
	m := wantState(t, s, id, store.Queued)
	wantTime(t, "NextAttemptAt", m.NextAttemptAt, at)
	if m.LastError != "connection reset" || m.Uncertain != 1 || m.Attempts != 1 || !m.LeaseUntil.IsZero() {
		t.Errorf("LastError %q, Uncertain %d, Attempts %d, LeaseUntil %v; want connection reset, 1, 1, zero",
			m.LastError, m.Uncertain, m.Attempts, m.LeaseUntil)
	}

	c = claimOne(t, s, at, id)
	if c.Attempt != 2 || c.Reclaimed {
		t.Errorf("claim after retry: Attempt %d, Reclaimed %v; want 2, false", c.Attempt, c.Reclaimed)
	}
	wantNoErr(t, "Retry", s.Retry(ctx, id, c.Attempt, store.Failure{At: at, Error: "503 Service Unavailable", Uncertain: false}))
	if m := get(t, s, id); m.Uncertain != 1 || m.LastError != "503 Service Unavailable" {
		t.Errorf("Uncertain %d, LastError %q; want 1, 503 Service Unavailable", m.Uncertain, m.LastError)
	}
}

func testBury(t *testing.T, open Open) {
	s := openStore(t, open)
	id := enqueueN(t, s, 1)[0]
	now := time.Now()
	c := claimOne(t, s, now, id)
	wantNoErr(t, "Bury", s.Bury(t.Context(), id, c.Attempt, "422 invalid payload"))
	m := wantState(t, s, id, store.Dead)
	if m.LastError != "422 invalid payload" || !m.LeaseUntil.IsZero() {
		t.Errorf("LastError %q, LeaseUntil %v; want 422 invalid payload, zero", m.LastError, m.LeaseUntil)
	}
	if got := claim(t, s, now.Add(24*time.Hour), 10); len(got) != 0 {
		t.Fatalf("Claim got a dead message: %v", claimIDs(got))
	}
}

func testRequeue(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	ids := enqueueN(t, s, 4)
	dead, dropped, delivered, queued := ids[0], ids[1], ids[2], ids[3]
	now := time.Now()

	claims := claim(t, s, now, 3)
	wantNoErr(t, "Bury", s.Bury(ctx, dead, claims[0].Attempt, "gave up"))
	wantNoErr(t, "Retry", s.Retry(ctx, dropped, claims[1].Attempt, store.Failure{At: now, Error: "later", Uncertain: false}))
	wantNoErr(t, "Drop", s.Drop(ctx, dropped))
	// delivered is inflight until completed below.

	for _, id := range []int64{dead, dropped} {
		wantNoErr(t, "Requeue", s.Requeue(ctx, id))
		m := wantState(t, s, id, store.Queued)
		if m.Attempts != 0 || m.NextAttemptAt.After(time.Now()) || m.ReleasedAt.IsZero() {
			t.Errorf("requeued %d: Attempts %d, NextAttemptAt %v, ReleasedAt %v; want 0, now, set", id, m.Attempts, m.NextAttemptAt, m.ReleasedAt)
		}
	}
	if m := get(t, s, dead); m.LastError != "gave up" {
		t.Errorf("Requeue cleared LastError: %q", m.LastError)
	}

	wantErr(t, "Requeue(inflight)", s.Requeue(ctx, delivered), store.ErrWrongState)
	wantNoErr(t, "Complete", s.Complete(ctx, delivered, claims[2].Attempt, store.Outcome{}))
	wantErr(t, "Requeue(delivered)", s.Requeue(ctx, delivered), store.ErrWrongState)
	wantErr(t, "Requeue(queued)", s.Requeue(ctx, queued), store.ErrWrongState)
	wantErr(t, "Requeue(unknown)", s.Requeue(ctx, 12345), store.ErrNotFound)

	got := claimIDs(claim(t, s, time.Now(), 10))
	if want := []int64{queued, dead, dropped}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Claim after Requeue = %v, want %v", got, want)
	}
}

func testDrop(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	ids := enqueueN(t, s, 4)
	queued, dead, inflight, delivered := ids[0], ids[1], ids[2], ids[3]
	now := time.Now()
	claims := claim(t, s, now, 4)
	wantNoErr(t, "Retry", s.Retry(ctx, queued, claims[0].Attempt, store.Failure{At: now, Error: "", Uncertain: false}))
	wantNoErr(t, "Bury", s.Bury(ctx, dead, claims[1].Attempt, "gave up"))
	wantNoErr(t, "Complete", s.Complete(ctx, delivered, claims[3].Attempt, store.Outcome{}))

	for _, id := range []int64{queued, dead} {
		wantNoErr(t, "Drop", s.Drop(ctx, id))
		wantState(t, s, id, store.Dropped)
	}
	wantErr(t, "Drop(inflight)", s.Drop(ctx, inflight), store.ErrWrongState)
	wantErr(t, "Drop(delivered)", s.Drop(ctx, delivered), store.ErrWrongState)
	wantErr(t, "Drop(dropped)", s.Drop(ctx, queued), store.ErrWrongState)
	wantErr(t, "Drop(unknown)", s.Drop(ctx, 12345), store.ErrNotFound)
	if got := claim(t, s, now, 10); len(got) != 0 {
		t.Fatalf("Claim got a dropped message: %v", claimIDs(got))
	}
}

func testList(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	ids := enqueueN(t, s, 5)
	now := time.Now()
	claims := claim(t, s, now, 2) // ids[0], ids[1]
	wantNoErr(t, "Bury", s.Bury(ctx, ids[0], claims[0].Attempt, "gave up"))

	for _, tt := range []struct {
		f    store.Filter
		want []int64
	}{
		{store.Filter{}, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{store.Filter{Limit: 2}, []int64{ids[4], ids[3]}},
		{store.Filter{States: []store.State{store.Queued}}, []int64{ids[4], ids[3], ids[2]}},
		{store.Filter{States: []store.State{store.Queued}, Limit: 1}, []int64{ids[4]}},
		{store.Filter{States: []store.State{store.Dead, store.Inflight}}, []int64{ids[1], ids[0]}},
		{store.Filter{States: []store.State{store.Delivered}}, nil},
	} {
		msgs, err := s.List(ctx, tt.f)
		wantNoErr(t, "List", err)
		var got []int64
		for _, m := range msgs {
			got = append(got, m.ID)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("List(%+v) = %v, want %v", tt.f, got, tt.want)
		}
	}
	msgs, err := s.List(ctx, store.Filter{States: []store.State{store.Dead}})
	wantNoErr(t, "List", err)
	wantMessage(t, msgs[0], get(t, s, ids[0]))
}

func testListDefaultLimit(t *testing.T, open Open) {
	s := openStore(t, open)
	ids := enqueueN(t, s, 101)
	msgs, err := s.List(t.Context(), store.Filter{})
	wantNoErr(t, "List", err)
	if len(msgs) != 100 {
		t.Fatalf("List = %d messages, want 100", len(msgs))
	}
	if msgs[0].ID != ids[100] {
		t.Fatalf("List starts at %d, want the newest, %d", msgs[0].ID, ids[100])
	}
}

func testStats(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	st, err := s.Stats(ctx)
	wantNoErr(t, "Stats", err)
	if !st.OldestPending.IsZero() {
		t.Errorf("empty store: OldestPending = %v, want zero", st.OldestPending)
	}

	base := time.Now().Add(-time.Hour)
	var ids []int64
	for i := range 6 {
		nm := newMessage(1, fmt.Sprintf("stats-%d", i))
		nm.ReceivedAt = base.Add(time.Duration(i) * time.Minute)
		ids = append(ids, enqueue(t, s, nm))
	}
	now := time.Now()
	claims := claim(t, s, now, 4) // ids[0..3]
	wantNoErr(t, "Complete", s.Complete(ctx, ids[0], claims[0].Attempt, store.Outcome{}))
	wantNoErr(t, "Bury", s.Bury(ctx, ids[1], claims[1].Attempt, "gave up"))
	wantNoErr(t, "Retry", s.Retry(ctx, ids[2], claims[2].Attempt, store.Failure{At: now, Error: "later", Uncertain: false}))
	wantNoErr(t, "Drop", s.Drop(ctx, ids[2]))
	// ids[3] stays inflight, ids[4] and ids[5] queued.

	st, err = s.Stats(ctx)
	wantNoErr(t, "Stats", err)
	want := map[store.State]int{store.Delivered: 1, store.Dead: 1, store.Dropped: 1, store.Inflight: 1, store.Queued: 2}
	for state, n := range want {
		if st.Counts[state] != n {
			t.Errorf("Counts[%s] = %d, want %d (all: %v)", state, st.Counts[state], n, st.Counts)
		}
	}
	wantTime(t, "OldestPending", st.OldestPending, base.Add(3*time.Minute))
}

func testPing(t *testing.T, open Open) {
	wantNoErr(t, "Ping", openStore(t, open).Ping(t.Context()))
}

// Workers claiming side by side each get their own messages: every message
// is delivered exactly once.
func testConcurrentClaimers(t *testing.T, open Open) {
	s := openStore(t, open)
	const messages, workers = 200, 8
	ids := enqueueN(t, s, messages)

	var mu sync.Mutex
	delivered := make(map[int64]int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				claims, err := s.Claim(t.Context(), time.Now(), lease, 5)
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				if len(claims) == 0 {
					return
				}
				for _, c := range claims {
					if err := s.Complete(t.Context(), c.ID, c.Attempt, store.Outcome{EventID: c.ID}); err != nil {
						t.Errorf("Complete(%d): %v", c.ID, err)
					}
					mu.Lock()
					delivered[c.ID]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()

	for _, id := range ids {
		if delivered[id] != 1 {
			t.Errorf("message %d claimed %d times, want once", id, delivered[id])
		}
	}
	st, err := s.Stats(t.Context())
	wantNoErr(t, "Stats", err)
	if st.Counts[store.Delivered] != messages {
		t.Errorf("%d delivered, want %d", st.Counts[store.Delivered], messages)
	}
}

func testCrashBeforeClaim(t *testing.T, open Open) {
	s := openStore(t, open)
	nm := newMessage(1, "crash-queued")
	id := enqueue(t, s, nm)

	s = restartAfterCrash(t, open)
	m, raw, err := s.Get(t.Context(), id)
	wantNoErr(t, "Get after restart", err)
	if m.State != store.Queued || !bytes.Equal(raw, nm.Raw) {
		t.Fatalf("after restart: %s with %q, want queued with %q", m.State, raw, nm.Raw)
	}
	claimOne(t, s, time.Now(), id)
}

func testCrashWhileInflight(t *testing.T, open Open) {
	old := openStore(t, open)
	id := enqueueN(t, old, 1)[0]
	now := time.Now()
	dying := claimOne(t, old, now, id)

	s := restartAfterCrash(t, open)
	wantState(t, s, id, store.Inflight)
	if got := claim(t, s, now, 10); len(got) != 0 {
		t.Fatalf("Claim within the dead worker's lease got %v", claimIDs(got))
	}
	c := claimOne(t, s, dying.LeaseUntil.Add(time.Second), id)
	if !c.Reclaimed || c.Attempt != 2 || c.Uncertain != 1 {
		t.Fatalf("after restart: Reclaimed %v, Attempt %d, Uncertain %d; want true, 2, 1",
			c.Reclaimed, c.Attempt, c.Uncertain)
	}
	wantErr(t, "Complete by the dead worker",
		old.Complete(t.Context(), id, dying.Attempt, store.Outcome{}), store.ErrLeaseLost)
	wantNoErr(t, "Complete", s.Complete(t.Context(), id, c.Attempt, store.Outcome{TicketID: 5}))
}

func testCrashAfterComplete(t *testing.T, open Open) {
	s := openStore(t, open)
	nm := newMessage(1, "crash-delivered")
	id := enqueue(t, s, nm)
	c := claimOne(t, s, time.Now(), id)
	o := store.Outcome{TicketID: 3, ConversationID: 4, EventID: 5}
	wantNoErr(t, "Complete", s.Complete(t.Context(), id, c.Attempt, o))

	s = restartAfterCrash(t, open)
	m := wantState(t, s, id, store.Delivered)
	if got := (store.Outcome{TicketID: m.TicketID, ConversationID: m.ConversationID, EventID: m.EventID}); got != o {
		t.Errorf("outcome after restart = %+v, want %+v", got, o)
	}
	res, err := s.Enqueue(t.Context(), nm)
	wantNoErr(t, "Enqueue after restart", err)
	if want := (store.EnqueueResult{ID: id, ExternalID: nm.ExternalID, Duplicate: true, State: store.Delivered}); res != want {
		t.Fatalf("Enqueue after restart = %+v, want %+v", res, want)
	}
}

// An operator's Requeue starts the attempt count again, but a report from a
// claim made before it must still be refused.
func testRequeueKeepsFence(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	id := enqueueN(t, s, 1)[0]
	now := time.Now()
	stale := claimOne(t, s, now, id)
	taker := claimOne(t, s, stale.LeaseUntil, id)
	wantNoErr(t, "Bury", s.Bury(ctx, id, taker.Attempt, "gave up"))
	wantNoErr(t, "Requeue", s.Requeue(ctx, id))
	current := claimOne(t, s, time.Now().Add(time.Second), id)
	if current.Attempts != 1 || current.Attempt == stale.Attempt || current.Attempt == taker.Attempt {
		t.Fatalf("claim after requeue: Attempts %d, Attempt %d (earlier claims %d, %d)",
			current.Attempts, current.Attempt, stale.Attempt, taker.Attempt)
	}
	wantErr(t, "Retry(stale)", s.Retry(ctx, id, stale.Attempt, store.Failure{At: now, Error: "x", Uncertain: false}), store.ErrLeaseLost)
	wantErr(t, "Complete(taker)", s.Complete(ctx, id, taker.Attempt, store.Outcome{}), store.ErrLeaseLost)
	wantNoErr(t, "Complete", s.Complete(ctx, id, current.Attempt, store.Outcome{TicketID: 3}))
}

// Postpone returns a message to the queue without counting the attempt.
func testPostpone(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	id := enqueueN(t, s, 1)[0]
	now := time.Now()
	first := claimOne(t, s, now, id)
	at := now.Add(5 * time.Minute)
	wantNoErr(t, "Postpone", s.Postpone(ctx, id, first.Attempt, store.Failure{At: at, Error: "403 Forbidden"}))
	m := get(t, s, id)
	if m.State != store.Queued || m.Attempts != 0 || m.LastError != "403 Forbidden" {
		t.Errorf("after Postpone: State %s, Attempts %d, LastError %q; want queued, 0, 403 Forbidden",
			m.State, m.Attempts, m.LastError)
	}
	wantTime(t, "NextAttemptAt", m.NextAttemptAt, at)
	wantErr(t, "Postpone(again)", s.Postpone(ctx, id, first.Attempt, store.Failure{At: at, Error: "x"}), store.ErrLeaseLost)
	second := claimOne(t, s, at, id)
	if second.Attempts != 1 || second.Attempt != first.Attempt+1 {
		t.Errorf("claim after Postpone: Attempts %d, Attempt %d; want 1, %d", second.Attempts, second.Attempt, first.Attempt+1)
	}
}

func testHasten(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	now := time.Now()
	retried := enqueueN(t, s, 1)[0]
	c := claimOne(t, s, time.Now(), retried)
	wantNoErr(t, "Retry", s.Retry(ctx, retried, c.Attempt, store.Failure{At: now.Add(time.Hour), Error: "503"}))
	postponed := enqueue(t, s, newMessage(1, "postponed"))
	c = claimOne(t, s, time.Now(), postponed)
	wantNoErr(t, "Postpone", s.Postpone(ctx, postponed, c.Attempt, store.Failure{At: now.Add(5 * time.Minute), Error: "401"}))
	// Told by the API to come back in an hour: Hasten leaves it.
	firm := enqueue(t, s, newMessage(1, "firm"))
	c = claimOne(t, s, time.Now(), firm)
	wantNoErr(t, "Retry", s.Retry(ctx, firm, c.Attempt, store.Failure{At: now.Add(time.Hour), Error: "429", NotBefore: now.Add(time.Hour)}))
	inflight := enqueue(t, s, newMessage(1, "inflight"))
	held := claimOne(t, s, time.Now(), inflight)
	due := enqueue(t, s, newMessage(1, "due"))

	later := time.Now().Add(time.Second)
	// One at a time: the message waiting longest first (the postponement
	// is due before the retry).
	n, err := s.Hasten(ctx, later, 1)
	wantNoErr(t, "Hasten(1)", err)
	if n != 1 {
		t.Errorf("Hasten(limit 1) moved %d messages, want 1", n)
	}
	wantTime(t, "NextAttemptAt of the postponed message after Hasten(1)", get(t, s, postponed).NextAttemptAt, later)
	n, err = s.Hasten(ctx, later, 0)
	wantNoErr(t, "Hasten", err)
	if n != 1 {
		t.Errorf("Hasten moved %d more messages, want 1 (the retry)", n)
	}
	for _, id := range []int64{retried, postponed} {
		wantTime(t, "NextAttemptAt after Hasten", get(t, s, id).NextAttemptAt, later)
	}
	wantTime(t, "NextAttemptAt of the message told to wait", get(t, s, firm).NextAttemptAt, now.Add(time.Hour))
	m := get(t, s, inflight)
	if m.State != store.Inflight {
		t.Errorf("inflight message after Hasten: State %s, want inflight", m.State)
	}
	wantTime(t, "LeaseUntil of the inflight message after Hasten", m.LeaseUntil, held.LeaseUntil)
	got := claimIDs(claim(t, s, later, 10))
	slices.Sort(got)
	if want := []int64{retried, postponed, due}; !slices.Equal(got, want) {
		t.Errorf("claimed after Hasten %v, want %v", got, want)
	}
	if n, err := s.Hasten(ctx, later, 0); err != nil || n != 0 {
		t.Errorf("Hasten with nothing waiting = %d, %v; want 0, nil", n, err)
	}
	// Past its NotBefore, the message is like any other.
	if n, err := s.Hasten(ctx, now.Add(time.Hour+time.Second), 0); err != nil || n != 0 {
		t.Errorf("Hasten past NotBefore = %d, %v; want 0 (it is due by then anyway), nil", n, err)
	}
}

// RunInstances runs the tests of store.Instances. Opening the same name
// twice in a test must give two instances on one database.
func RunInstances(t *testing.T, open Open) {
	t.Run("TakeOverClaimedAtEnqueue", func(t *testing.T) {
		t.Parallel()
		testTakeOverClaimedAtEnqueue(t, open)
	})
	t.Run("TakeOverDead", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		a := openStore(t, open)
		b := openStore(t, open).(store.Instances)
		wantNoErr(t, "Announce(a)", a.(store.Instances).Announce(ctx, time.Minute))
		wantNoErr(t, "Announce(b)", b.Announce(ctx, time.Minute))
		ids := []int64{enqueue(t, a, newMessage(1, "a's")), 0}
		first := claimOne(t, a, time.Now(), ids[0])
		ids[1] = enqueue(t, a, newMessage(1, "b's"))
		if n, err := b.TakeOverDead(ctx, 0); err != nil || n != 0 {
			t.Fatalf("TakeOverDead with a alive = %d, %v; want 0, nil", n, err)
		}
		if got := claim(t, b.(store.Store), time.Now(), 10); len(got) != 1 || got[0].ID != ids[1] {
			t.Fatalf("b claimed %v while a lives, want only %d", claimIDs(got), ids[1])
		}
		wantNoErr(t, "Withdraw(a)", a.(store.Instances).Withdraw(ctx))
		// With a grace, the lease runs on for it.
		if n, err := b.TakeOverDead(ctx, time.Hour); err != nil || n != 0 {
			t.Fatalf("TakeOverDead with a grace longer than the lease = %d, %v; want 0, nil", n, err)
		}
		if n, err := b.TakeOverDead(ctx, 0); err != nil || n != 1 {
			t.Fatalf("TakeOverDead after a withdrew = %d, %v; want 1, nil", n, err)
		}
		c := claimOne(t, b.(store.Store), time.Now(), ids[0])
		if !c.Reclaimed || c.Uncertain != 1 || c.Attempt != first.Attempt+1 {
			t.Errorf("taken over: Reclaimed %v, Uncertain %d, Attempt %d; want true, 1, %d",
				c.Reclaimed, c.Uncertain, c.Attempt, first.Attempt+1)
		}
		wantErr(t, "Complete by the dead instance", a.Complete(ctx, ids[0], first.Attempt, store.Outcome{TicketID: 1}), store.ErrLeaseLost)
	})
	t.Run("UnannouncedClaimsKeepTheirLease", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		cli := openStore(t, open) // never announces, as mailbridge deliver
		daemon := openStore(t, open).(store.Instances)
		wantNoErr(t, "Announce(daemon)", daemon.Announce(ctx, time.Minute))
		id := enqueue(t, cli, newMessage(1, "cli's"))
		claimOne(t, cli, time.Now(), id)
		if n, err := daemon.TakeOverDead(ctx, 0); err != nil || n != 0 {
			t.Errorf("TakeOverDead of an unannounced claim = %d, %v; want 0, nil", n, err)
		}
	})
	t.Run("ReportsForgetTheClaimer", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		gone := openStore(t, open)
		wantNoErr(t, "Announce(gone)", gone.(store.Instances).Announce(ctx, time.Minute))
		id := enqueue(t, gone, newMessage(1, "requeued"))
		c := claimOne(t, gone, time.Now(), id)
		wantNoErr(t, "Retry", gone.Retry(ctx, id, c.Attempt, store.Failure{At: time.Now(), Error: "503"}))
		wantNoErr(t, "Withdraw(gone)", gone.(store.Instances).Withdraw(ctx))
		// Claimed again by a process that does not announce itself (a
		// binary of before the liveness rows), while gone's row is gone.
		old := openStore(t, open)
		claimOne(t, old, time.Now(), id)
		live := openStore(t, open).(store.Instances)
		wantNoErr(t, "Announce(live)", live.Announce(ctx, time.Minute))
		if n, err := live.TakeOverDead(ctx, 0); err != nil || n != 0 {
			t.Errorf("TakeOverDead of a claim whose earlier claimer died = %d, %v; want 0, nil", n, err)
		}
	})
	t.Run("ExpiredAnnouncement", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		a := openStore(t, open)
		b := openStore(t, open).(store.Instances)
		id := enqueueN(t, a, 1)[0]
		wantNoErr(t, "Announce(a)", a.(store.Instances).Announce(ctx, 50*time.Millisecond))
		claimOne(t, a, time.Now(), id)
		deadline := time.Now().Add(10 * time.Second)
		for {
			n, err := b.TakeOverDead(ctx, 0)
			wantNoErr(t, "TakeOverDead", err)
			if n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a claim of an instance whose announcement ran out was not taken over")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if c := claimOne(t, b.(store.Store), time.Now(), id); !c.Reclaimed {
			t.Error("taken-over claim not marked Reclaimed")
		}
	})
}

// deliverAs enqueues externalID on subchannel and completes it with
// ticket.
func deliverAs(t *testing.T, s store.Store, subchannel int, externalID string, ticket, conversation int64) {
	t.Helper()
	id := enqueue(t, s, newMessage(subchannel, externalID))
	c := claimOne(t, s, time.Now(), id)
	wantNoErr(t, "Complete", s.Complete(t.Context(), id, c.Attempt,
		store.Outcome{TicketID: ticket, ConversationID: conversation, EventID: 1}))
}

// The thread map answers with the first id, in the caller's order, that
// was delivered with a ticket on the subchannel; messages still on their
// way, dead, dropped or delivered without a ticket do not count.
func testThread(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	deliverAs(t, s, 1, "root@x", 10, 100)
	deliverAs(t, s, 1, "reply@x", 11, 110)
	deliverAs(t, s, 2, "other@x", 20, 200)
	deliverAs(t, s, 1, "skipped@x", 0, 0) // a mailSense skip: delivered, no ticket
	inflight := enqueue(t, s, newMessage(1, "inflight@x"))
	claimOne(t, s, time.Now(), inflight)
	dead := enqueue(t, s, newMessage(1, "dead@x"))
	c := claimOne(t, s, time.Now(), dead)
	wantNoErr(t, "Bury", s.Bury(ctx, dead, c.Attempt, "no"))
	dropped := enqueue(t, s, newMessage(1, "dropped@x"))
	wantNoErr(t, "Drop", s.Drop(ctx, dropped))
	enqueue(t, s, newMessage(1, "queued@x"))

	tests := []struct {
		name string
		sub  int
		ids  []string
		want string // "" for no hit
	}{
		{"none", 1, nil, ""},
		{"unknown", 1, []string{"nope@x"}, ""},
		{"first in given order", 1, []string{"reply@x", "root@x"}, "reply@x"},
		{"order is the caller's", 1, []string{"root@x", "reply@x"}, "root@x"},
		{"skips unknown", 1, []string{"nope@x", "root@x"}, "root@x"},
		{"per subchannel", 2, []string{"root@x", "other@x"}, "other@x"},
		{"other subchannel unseen", 1, []string{"other@x"}, ""},
		{"not yet delivered", 1, []string{"queued@x", "inflight@x", "dead@x", "dropped@x"}, ""},
		{"no ticket", 1, []string{"skipped@x", "reply@x"}, "reply@x"},
		{"case matters", 1, []string{"ROOT@x"}, ""},
	}
	want := map[string]store.ThreadHit{
		"root@x":  {MessageID: "root@x", TicketID: 10, ConversationID: 100},
		"reply@x": {MessageID: "reply@x", TicketID: 11, ConversationID: 110},
		"other@x": {MessageID: "other@x", TicketID: 20, ConversationID: 200},
	}
	for _, tt := range tests {
		hit, found, err := s.Thread(ctx, tt.sub, tt.ids)
		wantNoErr(t, "Thread "+tt.name, err)
		switch {
		case tt.want == "" && found:
			t.Errorf("%s: Thread(%d, %q) = %+v, want no hit", tt.name, tt.sub, tt.ids, hit)
		case tt.want != "" && (!found || hit != want[tt.want]):
			t.Errorf("%s: Thread(%d, %q) = %+v, %v; want %+v", tt.name, tt.sub, tt.ids, hit, found, want[tt.want])
		}
	}

	// A long list (References of a long thread) is answered in one go.
	long := make([]string, 0, 50)
	for i := range 49 {
		long = append(long, fmt.Sprintf("n%d@x", i))
	}
	long = append(long, "root@x")
	if hit, found, err := s.Thread(ctx, 1, long); err != nil || !found || hit != want["root@x"] {
		t.Errorf("Thread(50 ids) = %+v, %v, %v; want root@x", hit, found, err)
	}
}

func testThreadAfterRestart(t *testing.T, open Open) {
	s := openStore(t, open)
	deliverAs(t, s, 1, "root@x", 10, 100)
	s2 := restartAfterCrash(t, open)
	hit, found, err := s2.Thread(t.Context(), 1, []string{"root@x"})
	if err != nil || !found || hit.TicketID != 10 {
		t.Errorf("after restart: %+v, %v, %v; want ticket 10", hit, found, err)
	}
}

// Links fill the thread map where no delivered message answers: per
// subchannel, replaced by a newer link, second to a delivered message,
// and kept across a restart.
func testLinkThread(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	deliverAs(t, s, 1, "root@x", 10, 100)
	wantNoErr(t, "LinkThread", s.LinkThread(ctx, 1, "found@x", 30))
	wantNoErr(t, "LinkThread", s.LinkThread(ctx, 1, "moved@x", 31))
	wantNoErr(t, "LinkThread", s.LinkThread(ctx, 1, "moved@x", 32))
	wantNoErr(t, "LinkThread", s.LinkThread(ctx, 1, "root@x", 99))
	wantNoErr(t, "LinkThread", s.LinkThread(ctx, 2, "elsewhere@x", 40))

	s = restartAfterCrash(t, open)
	tests := []struct {
		sub  int
		ids  []string
		want store.ThreadHit // zero for no hit
	}{
		{1, []string{"found@x"}, store.ThreadHit{MessageID: "found@x", TicketID: 30}},
		{1, []string{"moved@x"}, store.ThreadHit{MessageID: "moved@x", TicketID: 32}},
		{1, []string{"root@x"}, store.ThreadHit{MessageID: "root@x", TicketID: 10, ConversationID: 100}},
		{1, []string{"nope@x", "found@x", "root@x"}, store.ThreadHit{MessageID: "found@x", TicketID: 30}},
		{1, []string{"elsewhere@x"}, store.ThreadHit{}},
		{2, []string{"elsewhere@x"}, store.ThreadHit{MessageID: "elsewhere@x", TicketID: 40}},
	}
	for _, tt := range tests {
		hit, found, err := s.Thread(ctx, tt.sub, tt.ids)
		wantNoErr(t, "Thread", err)
		if found != (tt.want != store.ThreadHit{}) || hit != tt.want {
			t.Errorf("Thread(%d, %q) = %+v, %v; want %+v", tt.sub, tt.ids, hit, found, tt.want)
		}
	}
}

// Prune removes the raw bytes of the mail delivered before its cut-off,
// oldest first and limit at a time, and of no other; the rows stay, and a
// re-sent copy of a pruned mail is still its duplicate, a different mail
// under its key still a variant.
func testPrune(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	msgs := make([]store.NewMessage, 9)
	ids := make([]int64, len(msgs))
	for i := range msgs {
		msgs[i] = newMessage(1, fmt.Sprintf("%s-%d", dbName(t), i))
		msgs[i].Digest = []byte{byte(i), 1, 2, 3}
	}
	deliver := func(i int, now time.Time) {
		t.Helper()
		c := claimOne(t, s, now, ids[i])
		wantNoErr(t, "Complete", s.Complete(ctx, ids[i], c.Attempt, store.Outcome{TicketID: 7, ConversationID: ids[i]}))
	}
	for i := range 2 {
		ids[i] = enqueue(t, s, msgs[i])
		deliver(i, time.Now())
	}
	// Delivery times are kept to the millisecond.
	time.Sleep(5 * time.Millisecond)
	cut := time.Now()
	time.Sleep(5 * time.Millisecond)
	for i := 2; i < len(msgs)-1; i++ {
		ids[i] = enqueue(t, s, msgs[i])
		switch i {
		case 2: // delivered after the cut-off
			deliver(i, time.Now())
		case 3: // dead
			c := claimOne(t, s, time.Now(), ids[i])
			wantNoErr(t, "Bury", s.Bury(ctx, ids[i], c.Attempt, "dead"))
		case 4: // in flight
			claimOne(t, s, time.Now(), ids[i])
		case 5: // held
			c := claimOne(t, s, time.Now(), ids[i])
			wantNoErr(t, "Hold", s.Hold(ctx, ids[i], c.Attempt, "held"))
		case 6: // dropped by a rule
			c := claimOne(t, s, time.Now(), ids[i])
			wantNoErr(t, "Discard", s.Discard(ctx, ids[i], c.Attempt, "dropped"))
		case 7: // queued, after a failed attempt
			c := claimOne(t, s, time.Now(), ids[i])
			wantNoErr(t, "Retry", s.Retry(ctx, ids[i], c.Attempt, store.Failure{At: time.Now().Add(time.Hour), Error: "503"}))
		}
	}
	// Claimed at enqueue, its raw bytes with a worker in memory.
	msgs[8].Claim = &store.ClaimRequest{Now: time.Now(), Lease: time.Minute}
	ids[8] = enqueue(t, s, msgs[8])
	msgs[8].Claim = nil

	for _, step := range []struct{ limit, want int }{{1, 1}, {10, 1}, {10, 0}} {
		n, err := s.Prune(ctx, cut, step.limit)
		wantNoErr(t, "Prune", err)
		if n != step.want {
			t.Fatalf("Prune(limit %d) removed %d, want %d", step.limit, n, step.want)
		}
	}
	for i, id := range ids {
		m, raw, err := s.Get(ctx, id)
		wantNoErr(t, "Get", err)
		switch {
		case i < 2 && (len(raw) != 0 || m.State != store.Delivered || m.TicketID != 7 || m.ConversationID != id):
			t.Errorf("message %d after Prune: %s, ticket %d, conversation %d, %d raw bytes; want delivered, 7, %d, none",
				id, m.State, m.TicketID, m.ConversationID, len(raw), id)
		case i >= 2 && string(raw) != string(msgs[i].Raw):
			t.Errorf("message %d (%s) after Prune: raw %q, want it kept", id, m.State, raw)
		}
	}

	res, err := s.Enqueue(ctx, msgs[0])
	wantNoErr(t, "Enqueue(copy)", err)
	if !res.Duplicate || res.ID != ids[0] {
		t.Errorf("a copy of a pruned mail: %+v, want a duplicate of %d", res, ids[0])
	}
	other := msgs[0]
	other.Digest = []byte{9, 9, 9}
	res, err = s.Enqueue(ctx, other)
	wantNoErr(t, "Enqueue(other)", err)
	if res.Duplicate || res.ExternalID != store.VariantID(other.ExternalID, 2) {
		t.Errorf("another mail under a pruned mail's key: %+v, want the variant %q", res, store.VariantID(other.ExternalID, 2))
	}
}

// Concurrent Prunes, alongside re-sent copies of the mail they prune and
// deliveries of new mail, remove each delivered mail's raw bytes once and
// count it once, and leave the raw bytes of the mail still in the queue.
func testPruneConcurrent(t *testing.T, open Open) {
	s := openStore(t, open)
	ctx := t.Context()
	const delivered, pending = 60, 20
	ids := enqueueN(t, s, delivered+pending)
	for _, c := range claim(t, s, time.Now(), delivered) {
		wantNoErr(t, "Complete", s.Complete(ctx, c.ID, c.Attempt, store.Outcome{TicketID: 1}))
	}
	time.Sleep(5 * time.Millisecond) // delivery times are kept to the millisecond
	cut := time.Now()
	var pruned atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 4 {
		wg.Go(func() {
			for {
				n, err := s.Prune(ctx, cut, 7)
				if err != nil {
					errs <- err
					return
				}
				if n == 0 {
					return
				}
				pruned.Add(int64(n))
			}
		})
	}
	wg.Go(func() { // copies of the mail being pruned
		for i := range delivered {
			if res, err := s.Enqueue(ctx, newMessage(1, fmt.Sprintf("%s-%d", dbName(t), i))); err != nil || !res.Duplicate {
				errs <- fmt.Errorf("Enqueue(copy %d) = %+v, %v; want a duplicate", i, res, err)
			}
		}
	})
	wg.Go(func() { // deliveries of the mail still queued, after the cut-off
		for {
			claims, err := s.Claim(ctx, time.Now(), lease, 3)
			if err != nil {
				errs <- err
				return
			}
			if len(claims) == 0 {
				return
			}
			for _, c := range claims {
				if err := s.Complete(ctx, c.ID, c.Attempt, store.Outcome{TicketID: 2}); err != nil {
					errs <- err
				}
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := pruned.Load(); got != delivered {
		t.Errorf("concurrent Prunes removed %d, want %d", got, delivered)
	}
	for i, id := range ids {
		m, raw, err := s.Get(ctx, id)
		wantNoErr(t, "Get", err)
		if m.State != store.Delivered || (len(raw) == 0) != (i < delivered) {
			t.Errorf("message %d: %s, %d raw bytes; want delivered, raw bytes removed only if delivered before the cut-off", id, m.State, len(raw))
		}
	}
}

// patterned is size bytes of a pattern that step and seed vary, so that
// a raw read back from the wrong place or cut short shows.
func patterned(size, step, seed int) []byte {
	b := make([]byte, size)
	for j := range b {
		b[j] = byte(j*step + seed)
	}
	return b
}
