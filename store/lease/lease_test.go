package lease

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// memLeases is a store.Leases in memory; a holder in cut is cut off from
// it, as an instance that lost its database connection.
type memLeases struct {
	mu     sync.Mutex
	holder map[string]string
	until  map[string]time.Time
	cut    map[string]bool
	hang   map[string]bool // its calls block until their context ends
}

func newMemLeases() *memLeases {
	return &memLeases{holder: map[string]string{}, until: map[string]time.Time{}, cut: map[string]bool{}, hang: map[string]bool{}}
}

var errCut = errors.New("connection refused")

func (m *memLeases) TakeLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	if m.hang[holder] {
		m.mu.Unlock()
		<-ctx.Done()
		return false, ctx.Err()
	}
	defer m.mu.Unlock()
	if m.cut[holder] {
		return false, errCut
	}
	if h := m.holder[name]; h != "" && h != holder && time.Now().Before(m.until[name]) {
		return false, nil
	}
	m.holder[name], m.until[name] = holder, time.Now().Add(ttl)
	return true, nil
}

func (m *memLeases) DropLease(_ context.Context, name, holder string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cut[holder] {
		return errCut
	}
	if m.holder[name] == holder {
		delete(m.holder, name)
	}
	return nil
}

func (m *memLeases) setCut(holder string, cut bool) {
	m.mu.Lock()
	m.cut[holder] = cut
	m.mu.Unlock()
}

// worker counts who runs the work, and how many at once.
type worker struct {
	running, maxRunning atomic.Int32
	mu                  sync.Mutex
	last                string
	startedAt           time.Time
}

func (w *worker) work(holder string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		n := w.running.Add(1)
		for {
			m := w.maxRunning.Load()
			if n <= m || w.maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		w.mu.Lock()
		w.last, w.startedAt = holder, time.Now()
		w.mu.Unlock()
		<-ctx.Done()
		w.running.Add(-1)
		return nil
	}
}

func (w *worker) who() (string, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, w.startedAt
}

// The tests run in a synctest bubble: time is the bubble's, so the waits
// below take no real time and their bounds hold on a loaded machine.
const ttl, renew = 400 * time.Millisecond, 50 * time.Millisecond

// start runs holder's lease loop until the returned stop is called.
func start(t *testing.T, l *memLeases, w *worker, holder string) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Leases: l, Name: "imap:support/INBOX", Holder: holder, TTL: ttl, Renew: renew,
			Log: slog.New(slog.DiscardHandler)}, w.work(holder))
	}()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run(%s): %v", holder, err)
		}
	}
}

func waitFor(t *testing.T, w *worker, holder string, within time.Duration) time.Duration {
	t.Helper()
	begin := time.Now()
	for time.Since(begin) < within {
		if h, _ := w.who(); h == holder && w.running.Load() == 1 {
			return time.Since(begin)
		}
		time.Sleep(5 * time.Millisecond)
	}
	h, _ := w.who()
	t.Fatalf("%s not working within %v (last: %s, running %d)", holder, within, h, w.running.Load())
	return 0
}

// One instance works at a time; one that stops gives the lease up and
// another takes over within a renewal period.
func TestOneAtATimeAndHandOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, w := newMemLeases(), &worker{}
		stopA := start(t, l, w, "a")
		waitFor(t, w, "a", time.Second)
		stopB := start(t, l, w, "b")
		defer stopB()
		time.Sleep(3 * renew)
		synctest.Wait()
		if h, _ := w.who(); h != "a" {
			t.Fatalf("b took over a held lease")
		}
		stopA()
		waitFor(t, w, "b", 3*renew)
		if m := w.maxRunning.Load(); m != 1 {
			t.Errorf("%d instances worked at once", m)
		}
	})
}

// An instance cut off from the store stops working before its lease can
// expire, and another takes over after it expired: never both at once.
func TestHolderCutOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, w := newMemLeases(), &worker{}
		stopA := start(t, l, w, "a")
		defer stopA()
		waitFor(t, w, "a", time.Second)
		stopB := start(t, l, w, "b")
		defer stopB()

		l.setCut("a", true)
		took := waitFor(t, w, "b", ttl+3*renew)
		if took < ttl-renew {
			t.Errorf("b took over after %v, before a's lease (%v) could expire", took, ttl)
		}
		if m := w.maxRunning.Load(); m != 1 {
			t.Errorf("%d instances worked at once", m)
		}
		// Back on line, a waits for b.
		l.setCut("a", false)
		time.Sleep(3 * renew)
		synctest.Wait()
		if h, _ := w.who(); h != "b" || w.running.Load() != 1 {
			t.Errorf("after a came back: %s working, %d running", h, w.running.Load())
		}
	})
}

// A renewal stuck on a dead connection (no answer, no error) does not keep
// the holder working past the point where its lease may expire.
func TestHolderRenewalHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, w := newMemLeases(), &worker{}
		stopA := start(t, l, w, "a")
		defer stopA()
		waitFor(t, w, "a", time.Second)
		stopB := start(t, l, w, "b")
		defer stopB()

		l.mu.Lock()
		l.hang["a"] = true
		l.mu.Unlock()
		waitFor(t, w, "b", ttl+3*renew)
		if m := w.maxRunning.Load(); m != 1 {
			t.Errorf("%d instances worked at once", m)
		}
		l.mu.Lock()
		l.hang["a"] = false
		l.mu.Unlock()
	})
}
