package storetest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// withContent is newMessage(subchannel, key) with content called content:
// its raw bytes and digest differ from any other content's.
func withContent(subchannel int, key, content string) store.NewMessage {
	m := newMessage(subchannel, key)
	m.Raw = append(m.Raw, content...)
	sum := sha256.Sum256([]byte(content))
	m.Digest = sum[:]
	return m
}

func enqueueRes(t *testing.T, s store.Store, m store.NewMessage) store.EnqueueResult {
	t.Helper()
	res, err := s.Enqueue(t.Context(), m)
	if err != nil {
		t.Fatalf("Enqueue(%q): %v", m.ExternalID, err)
	}
	return res
}

// wantResult checks an Enqueue's result, the new message's id aside
// (want.ID 0), for which it returns the result's.
func wantResult(t *testing.T, what string, got, want store.EnqueueResult) int64 {
	t.Helper()
	if want.ID == 0 {
		want.ID = got.ID
	}
	if got != want || got.ID == 0 {
		t.Fatalf("%s: Enqueue = %+v, want %+v", what, got, want)
	}
	return got.ID
}

// testDigests: under one key, the same content is one message and each
// other content a message of its own under key#2, key#3..., whose own
// re-sends are duplicates of it, after a restart too.
func testDigests(t *testing.T, open Open) {
	s := openStore(t, open)
	const key = "shared@example.com"
	q := store.Queued

	first := wantResult(t, "first", enqueueRes(t, s, withContent(1, key, "one")),
		store.EnqueueResult{ExternalID: key, State: q})
	wantResult(t, "re-send of the first", enqueueRes(t, s, withContent(1, key, "one")),
		store.EnqueueResult{ID: first, ExternalID: key, Duplicate: true, State: q})

	second := wantResult(t, "different content", enqueueRes(t, s, withContent(1, key, "two")),
		store.EnqueueResult{ExternalID: key + "#2", State: q, FirstID: first})
	if second == first {
		t.Fatalf("different content queued as the first message, %d", first)
	}
	wantResult(t, "re-send of the second", enqueueRes(t, s, withContent(1, key, "two")),
		store.EnqueueResult{ID: second, ExternalID: key + "#2", Duplicate: true, State: q, FirstID: first})
	third := wantResult(t, "third content", enqueueRes(t, s, withContent(1, key, "three")),
		store.EnqueueResult{ExternalID: key + "#3", State: q, FirstID: first})
	wantResult(t, "re-send of the first after the others", enqueueRes(t, s, withContent(1, key, "one")),
		store.EnqueueResult{ID: first, ExternalID: key, Duplicate: true, State: q})
	wantResult(t, "unknown digest", enqueueRes(t, s, newMessage(1, key)),
		store.EnqueueResult{ID: first, ExternalID: key, Duplicate: true, State: q})
	// Per subchannel, as the key is.
	wantResult(t, "other subchannel", enqueueRes(t, s, withContent(2, key, "two")),
		store.EnqueueResult{ExternalID: key, State: q})

	for id, want := range map[int64]string{first: key, second: key + "#2", third: key + "#3"} {
		m, raw, err := s.Get(t.Context(), id)
		wantNoErr(t, "Get", err)
		if m.ExternalID != want || m.MessageID != "<"+key+">" {
			t.Errorf("message %d: ExternalID %q, MessageID %q; want %q, <%s>", id, m.ExternalID, m.MessageID, want, key)
		}
		if !bytes.HasPrefix(raw, newMessage(1, key).Raw) || len(raw) == len(newMessage(1, key).Raw) {
			t.Errorf("message %d: raw %q is not its own", id, raw)
		}
	}

	// The numbering is the store's, not the process's. A delivered
	// variant stays a duplicate's record as any message does.
	c := claim(t, s, time.Now(), 10)
	for _, c := range c {
		if c.ID == second {
			wantNoErr(t, "Complete", s.Complete(t.Context(), c.ID, c.Attempt, store.Outcome{TicketID: 5}))
		}
	}
	s = restartAfterCrash(t, open)
	wantResult(t, "re-send of the second after restart", enqueueRes(t, s, withContent(1, key, "two")),
		store.EnqueueResult{ID: second, ExternalID: key + "#2", Duplicate: true, State: store.Delivered, FirstID: first})
	wantResult(t, "fourth content after restart", enqueueRes(t, s, withContent(1, key, "four")),
		store.EnqueueResult{ExternalID: key + "#4", State: q, FirstID: first})
}

// testDigestUnknown: a message queued without a digest (a row from before
// digests) is a duplicate of any message under its key, as it was.
func testDigestUnknown(t *testing.T, open Open) {
	s := openStore(t, open)
	const key = "old@example.com"
	old := enqueue(t, s, newMessage(1, key))
	for _, content := range []string{"one", "two"} {
		wantResult(t, "content "+content, enqueueRes(t, s, withContent(1, key, content)),
			store.EnqueueResult{ID: old, ExternalID: key, Duplicate: true, State: store.Queued})
	}
}

// testVariantIDTaken: a Message-ID that looks like a derived id is a key
// like any other; a derived id it holds is passed over.
func testVariantIDTaken(t *testing.T, open Open) {
	s := openStore(t, open)
	const key = "look@example.com"
	other := wantResult(t, "lookalike", enqueueRes(t, s, withContent(1, key+"#2", "other")),
		store.EnqueueResult{ExternalID: key + "#2", State: store.Queued})
	first := wantResult(t, "first", enqueueRes(t, s, withContent(1, key, "one")),
		store.EnqueueResult{ExternalID: key, State: store.Queued})
	wantResult(t, "different content", enqueueRes(t, s, withContent(1, key, "two")),
		store.EnqueueResult{ExternalID: key + "#3", State: store.Queued, FirstID: first})
	wantResult(t, "re-send of the lookalike", enqueueRes(t, s, withContent(1, key+"#2", "other")),
		store.EnqueueResult{ID: other, ExternalID: key + "#2", Duplicate: true, State: store.Queued})
}

// testConcurrentDigests: contents racing under one key, each sent several
// times at once from two stores on one database (two instances), are
// each queued once, under ids of their own.
func testConcurrentDigests(t *testing.T, open Open) {
	stores := []store.Store{openStore(t, open), openStore(t, open)}
	const key = "racy-content@example.com"
	const contents, copies = 6, 4
	type sent struct {
		content int
		res     store.EnqueueResult
		err     error
	}
	results := make([]sent, contents*copies)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			c := i % contents
			res, err := stores[i%2].Enqueue(t.Context(), withContent(1, key, fmt.Sprint("content ", c)))
			results[i] = sent{c, res, err}
		})
	}
	wg.Wait()

	byContent := map[int]store.EnqueueResult{} // the queued one
	for _, r := range results {
		wantNoErr(t, "Enqueue", r.err)
		if !r.res.Duplicate {
			if q, ok := byContent[r.content]; ok {
				t.Fatalf("content %d queued twice: %d and %d", r.content, q.ID, r.res.ID)
			}
			byContent[r.content] = r.res
		}
	}
	if len(byContent) != contents {
		t.Fatalf("%d of %d contents queued", len(byContent), contents)
	}
	var ids []string
	for _, r := range byContent {
		ids = append(ids, r.ExternalID)
	}
	slices.Sort(ids)
	want := []string{key}
	for n := 2; n <= contents; n++ {
		want = append(want, store.VariantID(key, n))
	}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("queued under %q, want %q", ids, want)
	}
	for _, r := range results {
		if q := byContent[r.content]; r.res.Duplicate && (r.res.ID != q.ID || r.res.ExternalID != q.ExternalID) {
			t.Errorf("a copy of content %d is a duplicate of %d (%s), want %d (%s)",
				r.content, r.res.ID, r.res.ExternalID, q.ID, q.ExternalID)
		}
	}
	msgs, err := stores[0].List(t.Context(), store.Filter{})
	wantNoErr(t, "List", err)
	if len(msgs) != contents {
		t.Fatalf("List = %d messages, want %d", len(msgs), contents)
	}
}

// testVariantOverflow: past sqlrow.MaxVariants contents under one key, a
// new content is still queued, under an id of its digest, and its
// re-sends are duplicates of it: sending a thousand variants ahead of a
// mail cannot get the mail refused.
func testVariantOverflow(t *testing.T, open Open) {
	s := openStore(t, open)
	const key = "flooded@example.com"
	first := enqueueRes(t, s, withContent(1, key, "c0")).ID
	for i := 1; i < 1000; i++ {
		if res := enqueueRes(t, s, withContent(1, key, fmt.Sprintf("c%d", i))); res.Duplicate {
			t.Fatalf("content %d taken as a duplicate: %+v", i, res)
		}
	}
	real := withContent(1, key, "the real mail")
	got := enqueueRes(t, s, real)
	want := store.OverflowID(key, real.Digest)
	if got.Duplicate || got.ExternalID != want || got.FirstID != first || got.ID == 0 {
		t.Fatalf("the mail after a thousand variants: %+v, want queued as %s", got, want)
	}
	again := enqueueRes(t, s, real)
	if !again.Duplicate || again.ID != got.ID || again.ExternalID != want {
		t.Fatalf("its re-send: %+v, want a duplicate of %d", again, got.ID)
	}
	other := enqueueRes(t, s, withContent(1, key, "another"))
	if other.Duplicate || other.ExternalID == want {
		t.Fatalf("another content past the thousand: %+v", other)
	}
}
