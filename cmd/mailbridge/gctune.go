package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// gcHeadroom is the most the heap grows past what is live before the
// collector runs again, where daemonGCPercent would let it grow more.
//
// The proportion of daemonGCPercent is what keeps the collector cheap
// under small mail: the live heap is a few MB of small objects that every
// cycle scans. Under large mail the live heap is the mail in flight, up to
// a few hundred MB of byte slices the collector does not scan, so a cycle
// costs about what it costs under small mail while three times the live
// heap is most of the daemon's RSS. After each collection the daemon thus
// lowers GOGC so that the heap grows by at most gcHeadroom, and raises it
// back as the mail in flight shrinks (docs/benchmarks.md, "Cost per byte
// and per message").
const gcHeadroom = 64 << 20

// minGCPercent is the lowest GOGC the headroom sets. Under large text
// mail, whose mapping allocates many times the message, the live heap is
// the largest, and a GOGC near 25 made the collector run often enough to
// cost CPU; at 50 it costs about what 200 does.
const minGCPercent = 50

// gcPercentFor is the GOGC for a live heap of live bytes: base, or less
// so that the heap grows by at most headroom.
func gcPercentFor(live uint64, base int, headroom uint64) int {
	if live == 0 {
		return base
	}
	p := min(headroom*100/live, uint64(base))
	return max(int(p), minGCPercent)
}

// gcTuner sets GOGC to gcPercentFor the live heap after every collection
// until stop is called.
type gcTuner struct {
	base     int
	headroom uint64
	stopped  atomic.Bool
	percent  atomic.Int64 // the GOGC set last
	sample   []metrics.Sample
}

// activeTuner is the process's tuner: GOGC is the process's, so a new one
// (another run in the same process, as in tests) stops the one before.
var activeTuner atomic.Pointer[gcTuner]

// tuneGCToHeap starts the tuner with GOGC at base.
func tuneGCToHeap(base int, headroom uint64) *gcTuner {
	t := &gcTuner{base: base, headroom: headroom, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	if old := activeTuner.Swap(t); old != nil {
		old.stop()
	}
	t.percent.Store(int64(base))
	debug.SetGCPercent(base)
	t.arm()
	return t
}

func (t *gcTuner) stop() { t.stopped.Store(true) }

// gcSentinel is garbage whose finalizer runs after the collection that
// found it, which is how the tuner learns that one ended.
type gcSentinel struct{ _ *int }

func (t *gcTuner) arm() {
	runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
		if t.stopped.Load() {
			return
		}
		t.adjust()
		t.arm()
	})
}

// adjust runs on the finalizer goroutine after a collection. A change of
// less than a tenth is not worth the call.
func (t *gcTuner) adjust() {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	p := int64(gcPercentFor(t.sample[0].Value.Uint64(), t.base, t.headroom))
	if cur := t.percent.Load(); p != cur && (p == int64(t.base) || 10*abs(p-cur) >= cur) {
		debug.SetGCPercent(int(p))
		t.percent.Store(p)
	}
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
