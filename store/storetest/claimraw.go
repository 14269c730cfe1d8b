package storetest

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// testClaimRawBound: a claim of many large messages reads the raw bytes of
// the first and of those after it while their sizes together stay within
// store.ClaimRaw; the others come without Raw, and Get still has them.
func testClaimRawBound(t *testing.T, open Open) {
	s := openStore(t, open)
	const size = 600 << 10
	raws := make(map[int64][]byte)
	var ids []int64
	for i := range 4 {
		nm := newMessage(1, fmt.Sprintf("claimraw-%d@example.com", i))
		nm.Raw = patterned(size, 13, i)
		id := enqueue(t, s, nm)
		raws[id] = nm.Raw
		ids = append(ids, id)
	}
	claims := claim(t, s, time.Now(), len(ids))
	if len(claims) != len(ids) {
		t.Fatalf("claimed %d messages, want %d", len(claims), len(ids))
	}
	var read int64
	for i, c := range claims {
		if c.Raw == nil {
			if i == 0 {
				t.Errorf("the first claim came without its raw bytes")
			}
			_, raw, err := s.Get(t.Context(), c.ID)
			wantNoErr(t, "Get", err)
			if !bytes.Equal(raw, raws[c.ID]) {
				t.Errorf("Get(%d) after a claim without Raw: %d bytes, want the %d enqueued", c.ID, len(raw), len(raws[c.ID]))
			}
			continue
		}
		if !bytes.Equal(c.Raw, raws[c.ID]) {
			t.Errorf("claim of %d: %d bytes, want the %d bytes enqueued", c.ID, len(c.Raw), len(raws[c.ID]))
		}
		read += int64(len(c.Raw))
	}
	if read > max(size, store.ClaimRaw) {
		t.Errorf("a claim of %d messages of %d bytes read %d raw bytes, more than the first and store.ClaimRaw (%d)",
			len(claims), size, read, store.ClaimRaw)
	}
}

// testMessageWithoutRaw: a store that reads a message's row alone
// (Message) reads what Get does, and ErrNotFound for an unknown id.
func testMessageWithoutRaw(t *testing.T, open Open) {
	s := openStore(t, open)
	mr, ok := s.(interface {
		Message(ctx context.Context, id int64) (store.Message, error)
	})
	if !ok {
		t.Skip("the store reads no row without its raw bytes")
	}
	id := enqueue(t, s, newMessage(1, "row@example.com"))
	c := claimOne(t, s, time.Now(), id)
	wantNoErr(t, "Complete", s.Complete(t.Context(), id, c.Attempt, store.Outcome{TicketID: 7, ConversationID: 8, EventID: 9}))
	want, _, err := s.Get(t.Context(), id)
	wantNoErr(t, "Get", err)
	got, err := mr.Message(t.Context(), id)
	wantNoErr(t, "Message", err)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Message = %+v, want %+v", got, want)
	}
	_, err = mr.Message(t.Context(), 12345)
	wantErr(t, "Message(unknown)", err, store.ErrNotFound)
}

// testClaimRawReclaimedFirst: the first message of a claim, in the order
// the claim hands them out, comes with its raw bytes also when it is taken
// over (its lease ran out after the next message came due), and the raw
// bytes read are counted in that order.
func testClaimRawReclaimedFirst(t *testing.T, open Open) {
	s := openStore(t, open)
	const size = 600 << 10
	big := func(i int) store.NewMessage {
		nm := newMessage(1, fmt.Sprintf("claimraw-reclaimed-%d@example.com", i))
		nm.Raw = bytes.Repeat([]byte{byte('a' + i)}, size)
		return nm
	}
	taken := enqueue(t, s, big(0))
	now := time.Now()
	claimOne(t, s, now, taken)
	// Due before the lease of the first runs out, after it was due.
	next := enqueue(t, s, big(1))
	claims := claim(t, s, now.Add(2*lease), 2)
	if got := claimIDs(claims); !reflect.DeepEqual(got, []int64{taken, next}) {
		t.Fatalf("Claim = %v, want [%d %d]: the oldest due first", got, taken, next)
	}
	if claims[0].Raw == nil {
		t.Errorf("the first claim (taken over) came without its raw bytes")
	}
	if claims[1].Raw != nil {
		t.Errorf("the second claim came with its raw bytes, %d in all: more than store.ClaimRaw beyond the first", 2*size)
	}
}
