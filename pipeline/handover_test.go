package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/sqlite"
)

// heldAnswers is the SQLite store with the answers of ClaimHeld's held
// recorded.
type heldAnswers struct {
	*sqlite.Store
	mu   sync.Mutex
	held map[int64]bool
}

func (s *heldAnswers) ClaimHeld(ctx context.Context, now time.Time, lease time.Duration, limit int, held func(int64) bool) ([]store.Claim, error) {
	return s.Store.ClaimHeld(ctx, now, lease, limit, func(id int64) bool {
		ok := held(id)
		s.mu.Lock()
		s.held[id] = ok
		s.mu.Unlock()
		return ok
	})
}

func newHeldHarness(t *testing.T) (*harness, *heldAnswers) {
	h := newHarness(t)
	s := &heldAnswers{held: map[int64]bool{}}
	h.wrapSQLite(func(st *sqlite.Store) store.Store { s.Store = st; return s })
	return h, s
}

func (h *harness) ingestHandover(raw []byte, handover bool) mailbox.Receipt {
	h.t.Helper()
	r, err := h.p.Ingest(context.Background(), mailbox.Message{
		Raw: raw, SubchannelID: 4, Handover: handover,
		Origin: mailbox.Origin{Source: "imap", ReceivedAt: h.clock.Now(),
			IMAP: &mailbox.IMAPOrigin{Mailbox: "in", Folder: "INBOX", UIDValidity: 1, UID: 1}},
	})
	if err != nil {
		h.t.Fatalf("Ingest: %v", err)
	}
	return r
}

// A message a source handed over is delivered from the bytes it handed
// over, without reading them back from the queue, and let go of.
func TestHandedOverRawIsDeliveredFromMemory(t *testing.T) {
	h, s := newHeldHarness(t)
	r := h.ingestHandover(message("held@example.org"), true)
	if h.p.held.len() != 1 {
		t.Fatalf("%d messages held after ingest, want 1", h.p.held.len())
	}
	if n := h.drain(); n != 1 {
		t.Fatalf("attempted %d, want 1", n)
	}
	if !s.held[r.QueueID] {
		t.Errorf("the claim read message %d back from the queue, though its bytes were held", r.QueueID)
	}
	if h.p.held.len() != 0 {
		t.Errorf("%d messages still held after delivery", h.p.held.len())
	}
	convs := h.api.Conversations()
	if len(convs) != 1 || convs[0].Payload.Subject != "help with held@example.org" || !strings.Contains(convs[0].Payload.BodyPlain, "Please help.") {
		t.Fatalf("API has %+v", convs)
	}
	if m := h.get(r.QueueID); m.State != store.Delivered {
		t.Errorf("message is %s, want delivered", m.State)
	}
}

// A source that did not hand its buffer over may write to it once Ingest
// returned (SMTP reuses it): the queued copy is what is delivered.
func TestRawNotHandedOverIsReadFromQueue(t *testing.T) {
	h, s := newHeldHarness(t)
	raw := message("kept@example.org")
	r := h.ingestHandover(raw, false)
	copy(raw, bytes.Repeat([]byte("X"), len(raw))) // the source's next message
	if h.p.held.len() != 0 {
		t.Fatalf("%d messages held, want none", h.p.held.len())
	}
	h.drain()
	if s.held[r.QueueID] {
		t.Error("a message not handed over was claimed as held")
	}
	convs := h.api.Conversations()
	if len(convs) != 1 || convs[0].Payload.Subject != "help with kept@example.org" {
		t.Fatalf("API has %+v, want the queued copy's conversation", convs)
	}
}

// A duplicate is not held: the queue's first copy is the one delivered,
// and its bytes are held already or read back.
func TestDuplicateNotHeld(t *testing.T) {
	h, _ := newHeldHarness(t)
	h.ingestHandover(message("dup@example.org"), true)
	h.ingestHandover(message("dup@example.org"), true)
	if h.p.held.len() != 1 {
		t.Fatalf("%d messages held, want 1", h.p.held.len())
	}
}

// Held bytes are bounded: past the bound a message is not held, and one
// held longer than heldFor is let go; either is read from the queue.
func TestHeldRawsBound(t *testing.T) {
	h := newHeldRaws(10)
	now := time.Now()
	h.put(1, []byte("12345"), now)
	h.put(2, []byte("123456"), now) // over the bound
	h.put(3, []byte("12345"), now)
	if _, ok := h.take(2); ok {
		t.Error("message over the bound held")
	}
	if raw, ok := h.take(1); !ok || string(raw) != "12345" {
		t.Fatalf("take(1) = %q, %v", raw, ok)
	}
	if _, ok := h.take(1); ok {
		t.Error("message 1 taken twice")
	}
	// Taking 1 made room.
	h.put(4, []byte("12345"), now.Add(time.Second))
	if h.len() != 2 || h.size != 10 {
		t.Fatalf("held %d messages, %d bytes; want 2, 10", h.len(), h.size)
	}
	h.put(5, []byte("1"), now.Add(heldFor))
	if _, ok := h.take(3); ok {
		t.Error("message 3 still held after heldFor")
	}
	if _, ok := h.take(4); !ok {
		t.Error("message 4 let go before heldFor")
	}
	if _, ok := h.take(5); !ok {
		t.Error("message 5 not held")
	}
	// The next put drops the entries of the messages taken.
	h.put(6, []byte("1"), now.Add(heldFor))
	if h.size != 1 || len(h.fifo) != 1 {
		t.Errorf("%d bytes and %d entries held, want 1 and 1", h.size, len(h.fifo))
	}
}

// A claim lets go of bytes held past heldFor even when no new mail comes
// to be held.
func TestHeldRawsPrunedByClaim(t *testing.T) {
	h, _ := newHeldHarness(t)
	h.p.held.put(1<<40, []byte("raw bytes nobody claims"), h.clock.Now())
	h.clock.Add(heldFor)
	if _, err := h.p.claim(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if n := h.p.held.len(); n != 0 {
		t.Errorf("after heldFor and a claim, %d messages still held", n)
	}
}

// claimedRaw is the SQLite store with the most raw bytes one claim
// brought recorded.
type claimedRaw struct {
	*sqlite.Store
	mu   sync.Mutex
	most int
}

func (s *claimedRaw) ClaimHeld(ctx context.Context, now time.Time, lease time.Duration, limit int, held func(int64) bool) ([]store.Claim, error) {
	claims, err := s.Store.ClaimHeld(ctx, now, lease, limit, held)
	n := 0
	for _, c := range claims {
		n += len(c.Raw)
	}
	s.mu.Lock()
	s.most = max(s.most, n)
	s.mu.Unlock()
	return claims, err
}

// A claim of several large messages brings the raw bytes of the first
// into memory, not all of them: the others are read when their turn
// comes, within the budget, and delivered whole.
func TestClaimOfLargeMailReadsTheFirst(t *testing.T) {
	const size = 600 << 10
	h := newHarness(t)
	s := &claimedRaw{}
	h.wrapSQLite(func(st *sqlite.Store) store.Store { s.Store = st; return s })
	var ids []string
	for i := range 4 {
		ids = append(ids, fmt.Sprintf("large%d@example.org", i))
		h.ingest(sizedMessage(ids[i], size))
	}
	if n, err := h.p.DeliverDue(context.Background(), len(ids)); err != nil || n != len(ids) {
		t.Fatalf("DeliverDue = %d, %v; want %d", n, err, len(ids))
	}
	if s.most > size+size/10 {
		t.Errorf("a claim brought %d raw bytes into memory, want the first message's %d", s.most, size)
	}
	for _, id := range ids {
		c := conversationOf(t, h.api, id)
		if !strings.Contains(c.Payload.BodyPlain, strings.Repeat("y", 76)) {
			t.Errorf("%s: body lost its text: %.80q", id, c.Payload.BodyPlain)
		}
	}
}
