package postgres

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/store"
)

// openSkewed opens the store at dsn for an instance whose clock is off by
// skew.
func openSkewed(t *testing.T, dsn string, skew time.Duration) *Store {
	t.Helper()
	return openClock(t, dsn, func() time.Time { return time.Now().Add(skew) })
}

// openClock opens the store at dsn for an instance whose clock is now.
func openClock(t *testing.T, dsn string, now func() time.Time) *Store {
	t.Helper()
	cfg, err := poolConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := open(t.Context(), pool, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestClockOffset(t *testing.T) {
	dsn := testenv.UsePostgres(t).Schema(t, "clock")
	for _, skew := range []time.Duration{0, 50 * time.Millisecond, -10 * time.Minute, 10 * time.Minute} {
		s := openSkewed(t, dsn, skew)
		got := s.clock.offset()
		if skew > -clockDeadband && skew < clockDeadband {
			if got != 0 {
				t.Errorf("clock off by %v: offset %v, want none (deadband)", skew, got)
			}
			continue
		}
		// The database shares this host's clock, so the offset undoes
		// the skew, give or take a round trip.
		if d := got + skew; d < -time.Second || d > time.Second {
			t.Errorf("clock off by %v: offset %v, want about %v", skew, got, -skew)
		}
	}
}

// Instances whose clocks are minutes apart still honour each other's
// leases and retry times: those are compared on the database's clock.
// Stamped with the instances' own clocks, the instance ahead would take
// the message over while the first still delivers it, and a retry
// scheduled by the instance behind would be due at once.
func TestSkewedInstancesShareOneClock(t *testing.T) {
	dsn := testenv.UsePostgres(t).Schema(t, "skew")
	ctx := t.Context()
	right := openSkewed(t, dsn, 0)
	ahead := openSkewed(t, dsn, 10*time.Minute)
	behind := openSkewed(t, dsn, -10*time.Minute)

	_, err := right.Enqueue(ctx, store.NewMessage{SubchannelID: 1, ExternalID: "skew@example.com", Raw: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	const lease = 2 * time.Second
	claimed, err := right.Claim(ctx, right.clock.now(), lease, 1)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("first claim: %v, %v", claimed, err)
	}

	aheadNow := ahead.clock.now()
	stolen, err := ahead.Claim(ctx, aheadNow, lease, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(stolen) != 0 {
		t.Fatalf("an instance 10 minutes ahead took over a lease of %v at once", lease)
	}

	// Once the lease has run out on the database's clock, the instance
	// ahead takes over, and its claim's LeaseUntil is on its own clock,
	// as its worker's deadline needs.
	var taken []store.Claim
	testenv.WaitFor(t, 30*time.Second, "the expired lease to be taken over", func() bool {
		aheadNow = ahead.clock.now()
		if taken, err = ahead.Claim(ctx, aheadNow, lease, 1); err != nil {
			t.Fatal(err)
		}
		return len(taken) > 0
	})
	if got, want := taken[0].LeaseUntil, aheadNow.Add(lease); got.Sub(want).Abs() > time.Millisecond {
		t.Errorf("LeaseUntil %v, want %v (the claimer's clock)", got, want)
	}

	// The instance ahead, then the one behind, schedules a retry a
	// minute out on its clock; the others must not find it due now.
	c := taken[0]
	if err := ahead.Retry(ctx, c.ID, c.Attempt, store.Failure{At: aheadNow.Add(time.Minute), Error: "503"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{right, behind} {
		got, err := s.Claim(ctx, s.clock.now(), lease, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Fatalf("a retry due in a minute was claimed at once by an instance %v off", -s.clock.offset())
		}
	}
	claims, err := behind.Claim(ctx, behind.clock.now().Add(2*time.Minute), lease, 1)
	if err != nil || len(claims) != 1 {
		t.Fatalf("claim two minutes on: %v, %v", claims, err)
	}
	if err := behind.Retry(ctx, claims[0].ID, claims[0].Attempt, store.Failure{At: behind.clock.now().Add(time.Minute), Error: "503"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{right, ahead} {
		if got, err := s.Claim(ctx, s.clock.now(), lease, 1); err != nil || len(got) != 0 {
			t.Fatalf("a retry the instance behind set a minute out: claimed %v, %v", got, err)
		}
	}
}

// When NTP steps an instance's clock, the offset follows at once, not at
// the next reading of the database's clock: an instance that started 10
// minutes behind and was then set right must not take over a live lease.
// The store also reports times on the caller's clock, before and after.
func TestClockStep(t *testing.T) {
	dsn := testenv.UsePostgres(t).Schema(t, "step")
	ctx := t.Context()
	var skew atomic.Int64
	skew.Store(int64(-10 * time.Minute))
	stepped := openClock(t, dsn, func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
	right := openSkewed(t, dsn, 0)

	if _, err := right.Enqueue(ctx, store.NewMessage{SubchannelID: 1, ExternalID: "step@example.com", Raw: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	claimed, err := right.Claim(ctx, time.Now(), 30*time.Second, 1)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %v", claimed, err)
	}
	skew.Store(0) // the step; no new reading of the database's clock
	if got, err := stepped.Claim(ctx, stepped.clock.now(), 30*time.Second, 1); err != nil || len(got) != 0 {
		t.Fatalf("after its clock was set right, an instance took over a live lease: %v, %v", got, err)
	}

	// A retry set on one clock reads back on that clock.
	c := claimed[0]
	at := time.Now().Add(time.Minute)
	if err := right.Retry(ctx, c.ID, c.Attempt, store.Failure{At: at, Error: "503"}); err != nil {
		t.Fatal(err)
	}
	skew.Store(int64(-10 * time.Minute))
	for _, s := range []*Store{right, stepped} {
		m, _, err := s.Get(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		off := time.Until(s.clock.now())
		want := at.Add(off)
		if d := m.NextAttemptAt.Sub(want); d < -time.Second || d > time.Second {
			t.Errorf("NextAttemptAt %v on a clock %v off, want %v", m.NextAttemptAt, off.Round(time.Second), want)
		}
	}
}
