package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"
)

func TestGCPercentFor(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 200},        // nothing known yet
		{4 * mb, 200},   // small mail: the proportion
		{32 * mb, 200},  // 64 MB of headroom is 200%
		{48 * mb, 133},  // beyond, the headroom
		{64 * mb, 100},  //
		{100 * mb, 64},  // large mail in flight
		{128 * mb, 50},  // no lower than minGCPercent
		{4096 * mb, 50}, // nor when huge
	} {
		if got := gcPercentFor(tc.live, 200, 64*mb); got != tc.want {
			t.Errorf("live %d MB: GOGC %d, want %d", tc.live/mb, got, tc.want)
		}
	}
}

// The tuner follows the live heap: down while large mail is in flight,
// back to the base when it is gone.
func TestGCTunerFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	tuner := tuneGCToHeap(200, 8<<20) // 8 MB of headroom: 64 MB live is large
	defer tuner.stop()
	live := make([][]byte, 64)
	for i := range live {
		live[i] = make([]byte, 1<<20)
		live[i][0] = 1
	}
	// 12.5 for 64 MB, so the least; or a value a tenth above it when
	// a collection during the allocations saw part of them.
	var percent int64
	testenv.WaitFor(t, 10*time.Second, "GOGC lowered to the least with 64 MB live", func() bool {
		runtime.GC()
		percent = tuner.percent.Load()
		return percent <= minGCPercent*11/10
	})
	if got := debug.SetGCPercent(int(percent)); int64(got) != percent {
		t.Errorf("the runtime's GOGC is %d, the tuner says %d", got, percent)
	}
	runtime.KeepAlive(live)
	live = nil
	testenv.WaitFor(t, 10*time.Second, "GOGC back to 200 once the heap is small", func() bool {
		runtime.GC()
		return tuner.percent.Load() == 200
	})
	runtime.KeepAlive(live)
}
