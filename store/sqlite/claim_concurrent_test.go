package sqlite

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// Claims made at once, by workers of one store and of a second store on
// the same file, never lease one message twice, and each claim lists its
// messages oldest first.
func TestClaimConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	s := openTest(t, path)
	defer s.Close()
	other := openTest(t, path)
	defer other.Close()
	ctx := t.Context()
	const n = 300
	base := time.Now().Add(-time.Hour)
	for i := range n {
		m := store.NewMessage{SubchannelID: 1, ExternalID: fmt.Sprintf("m%03d@x", i), Raw: []byte("x"),
			ReceivedAt: base.Add(time.Duration(i) * time.Millisecond)}
		if _, err := s.Enqueue(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for w := range 6 {
		st := s
		if w%2 == 1 {
			st = other
		}
		wg.Go(func() {
			for {
				claims, err := st.Claim(ctx, time.Now(), time.Hour, 7)
				if err != nil {
					t.Error(err)
					return
				}
				if len(claims) == 0 {
					return
				}
				for i := 1; i < len(claims); i++ {
					a, b := claims[i-1], claims[i]
					if a.NextAttemptAt.After(b.NextAttemptAt) || (a.NextAttemptAt.Equal(b.NextAttemptAt) && a.ID > b.ID) {
						t.Errorf("claim out of order: %d before %d", a.ID, b.ID)
					}
				}
				mu.Lock()
				for _, c := range claims {
					seen[c.ID]++
					if c.State != store.Inflight || c.Attempt != 1 {
						t.Errorf("claim of %d: state %s, attempt %d", c.ID, c.State, c.Attempt)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("%d messages claimed, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("message %d claimed %d times", id, k)
		}
	}
}
