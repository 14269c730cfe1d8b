package storetest

import (
	"bytes"
	"fmt"
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
		nm.Raw = make([]byte, size)
		for j := range nm.Raw {
			nm.Raw[j] = byte(j*13 + i)
		}
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
