package storetest

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo/mailbridge/store"
)

// RunOAuthTokens tests an implementation of store.OAuthTokens; open must
// return stores that implement it.
func RunOAuthTokens(t *testing.T, open Open) {
	tokens := func(t *testing.T) (store.OAuthTokens, func() store.OAuthTokens) {
		s, ok := openStore(t, open).(store.OAuthTokens)
		if !ok {
			t.Fatal("store does not implement store.OAuthTokens")
		}
		return s, func() store.OAuthTokens { return openStore(t, open).(store.OAuthTokens) }
	}
	t.Run("OAuthTokens", func(t *testing.T) {
		t.Parallel()
		s, reopen := tokens(t)
		ctx := context.Background()
		got, err := s.OAuthToken(ctx, "m")
		wantNoErr(t, "OAuthToken", err)
		if got.Version != 0 || got.Token != nil {
			t.Fatalf("empty store: %+v", got)
		}
		// A first write expects version 0; a second writer with the same
		// expectation loses.
		ok, err := s.PutOAuthToken(ctx, "m", 0, []byte("t1"), []byte("seed"), "")
		wantNoErr(t, "PutOAuthToken", err)
		if !ok {
			t.Fatal("first PutOAuthToken refused")
		}
		if ok, _ := s.PutOAuthToken(ctx, "m", 0, []byte("other"), nil, ""); ok {
			t.Error("a stale PutOAuthToken (version 0) was stored")
		}
		if ok, _ := s.PutOAuthToken(ctx, "m", 5, []byte("other"), nil, ""); ok {
			t.Error("a PutOAuthToken for a version never stored was stored")
		}
		ok, err = s.PutOAuthToken(ctx, "m", 1, []byte("t2"), []byte("seed"), "")
		wantNoErr(t, "PutOAuthToken", err)
		if !ok {
			t.Fatal("PutOAuthToken at version 1 refused")
		}
		// Survives a restart; other mailboxes are apart.
		got, err = reopen().OAuthToken(ctx, "m")
		wantNoErr(t, "OAuthToken", err)
		if got.Version != 2 || string(got.Token) != "t2" || string(got.SeedHash) != "seed" || got.UpdatedAt.IsZero() {
			t.Errorf("after reopen: %+v", got)
		}
		if got, _ := s.OAuthToken(ctx, "other"); got.Version != 0 {
			t.Errorf("other mailbox: %+v", got)
		}
	})
	t.Run("OAuthTokenLock", func(t *testing.T) {
		t.Parallel()
		s, _ := tokens(t)
		ctx := context.Background()
		// A lock on a mailbox without a token yet.
		got, ok, err := s.LockOAuthToken(ctx, "m", "a", time.Minute)
		wantNoErr(t, "LockOAuthToken", err)
		if !ok || got.Version != 0 {
			t.Fatalf("LockOAuthToken = %+v, %v", got, ok)
		}
		if _, ok, _ := s.LockOAuthToken(ctx, "m", "b", time.Minute); ok {
			t.Error("b took a's lock")
		}
		if _, ok, _ := s.LockOAuthToken(ctx, "m", "a", time.Minute); !ok {
			t.Error("a could not renew its lock")
		}
		// Storing releases the holder's lock.
		if ok, err := s.PutOAuthToken(ctx, "m", 0, []byte("t1"), nil, "a"); err != nil || !ok {
			t.Fatalf("PutOAuthToken = %v, %v", ok, err)
		}
		got, ok, err = s.LockOAuthToken(ctx, "m", "b", time.Minute)
		wantNoErr(t, "LockOAuthToken", err)
		if !ok || got.Version != 1 || string(got.Token) != "t1" {
			t.Fatalf("b after a stored: %+v, %v", got, ok)
		}
		// Another writer's Put does not release b's lock.
		if ok, _ := s.PutOAuthToken(ctx, "m", 1, []byte("t2"), nil, ""); !ok {
			t.Fatal("PutOAuthToken refused")
		}
		if _, ok, _ := s.LockOAuthToken(ctx, "m", "a", time.Minute); ok {
			t.Error("a took b's lock after a write by another")
		}
		wantNoErr(t, "UnlockOAuthToken", s.UnlockOAuthToken(ctx, "m", "a")) // not a's: no effect
		if _, ok, _ := s.LockOAuthToken(ctx, "m", "a", time.Minute); ok {
			t.Error("a's unlock released b's lock")
		}
		wantNoErr(t, "UnlockOAuthToken", s.UnlockOAuthToken(ctx, "m", "b"))
		if _, ok, _ := s.LockOAuthToken(ctx, "m", "a", time.Millisecond); !ok {
			t.Error("a could not lock after b's unlock")
		}
		// An expired lock is taken over.
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, ok, err := s.LockOAuthToken(ctx, "m", "b", time.Minute)
			wantNoErr(t, "LockOAuthToken", err)
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a's expired lock was never taken over")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	t.Run("OAuthTokenRefreshers", func(t *testing.T) {
		t.Parallel()
		// Refreshers on two connections to one store: each takes the
		// lock, reads the token and stores its successor. Under the lock
		// no version is ever read twice, and none is lost.
		s1, reopen := tokens(t)
		s2 := reopen()
		ctx := context.Background()
		const rounds = 40
		var seen sync.Map
		var reused atomic.Int32
		var wg sync.WaitGroup
		for i, s := range []store.OAuthTokens{s1, s2} {
			holder := string(rune('a' + i))
			wg.Go(func() {
				for n := 0; n < rounds; {
					got, ok, err := s.LockOAuthToken(ctx, "m", holder, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if !ok {
						time.Sleep(time.Millisecond)
						continue
					}
					if _, dup := seen.LoadOrStore(got.Version, holder); dup {
						reused.Add(1)
					}
					next := append(bytes.Clone(got.Token), holder...)
					if ok, err := s.PutOAuthToken(ctx, "m", got.Version, next, nil, holder); err != nil || !ok {
						t.Errorf("PutOAuthToken under the lock = %v, %v", ok, err)
						return
					}
					n++
				}
			})
		}
		wg.Wait()
		got, err := s1.OAuthToken(ctx, "m")
		wantNoErr(t, "OAuthToken", err)
		if got.Version != 2*rounds || len(got.Token) != 2*rounds || reused.Load() != 0 {
			t.Errorf("version %d, %d bytes, %d versions refreshed twice; want %d, %d, 0",
				got.Version, len(got.Token), reused.Load(), 2*rounds, 2*rounds)
		}
	})
}
