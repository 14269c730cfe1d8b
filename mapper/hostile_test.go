package mapper_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/hostile"
	"github.com/enneo/mailbridge/mapper"
)

// countWriter counts what is written to it.
type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// mapCost maps raw and encodes its payload, and returns the payload's size
// and the bytes allocated on the way. Allocation is an upper bound of the
// peak heap the mapping adds that, unlike a sampled peak, no timing and no
// collector setting can change.
func mapCost(t testing.TB, raw []byte) (payload, allocated int64, res *mapper.Result) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := mapper.Map(context.Background(), raw, goldenOptions("hostile"))
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	var n countWriter
	if err := res.Conversation.WriteJSON(&n); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	return int64(n), int64(after.TotalAlloc - before.TotalAlloc), res
}

// Every crafted mail stays within the mapper's bounds: the memory of
// parse, map and encode, the raw message included, at most 3× the raw
// size + 64 MB; the payload at most 3× + 2 MB.
func TestHostileMailBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("maps 40 MB of crafted mail")
	}
	for _, h := range hostile.All() {
		t.Run(h.Name, func(t *testing.T) {
			raw := int64(len(h.Raw))
			payload, allocated, res := mapCost(t, h.Raw)
			memory := raw + allocated
			t.Logf("%s: raw %d KB, payload %d KB (%.2f×), memory %d KB (%.2f×), %d warnings",
				h.What, raw>>10, payload>>10, float64(payload)/float64(raw), memory>>10, float64(memory)/float64(raw), len(res.Warnings))
			if limit := 3*raw + 64<<20; memory > limit && !raceEnabled {
				t.Errorf("memory %d MB, over the bound of %d MB", memory>>20, limit>>20)
			}
			if limit := 3*raw + 2<<20; payload > limit {
				t.Errorf("payload %d KB, over the bound of %d KB", payload>>10, limit>>10)
			}
		})
	}
}

// Mapping gives up once its context ends, with an error that says so (and
// is not ErrUnusable: the mail itself may be fine).
func TestMapGivesUpWithItsContext(t *testing.T) {
	raw := hostile.Repeated("lt", "<", 8<<20, 0).Raw
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := mapper.Map(ctx, raw, goldenOptions("canceled"))
	if !errors.Is(err, context.Canceled) || errors.Is(err, mapper.ErrUnusable) {
		t.Fatalf("Map with a canceled context: %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	time.Sleep(2 * time.Millisecond)
	if _, err := mapper.Map(ctx, raw, goldenOptions("late")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Map after its deadline: %v, want context.DeadlineExceeded", err)
	}
}

// BenchmarkHostile reports the time, memory and payload of each crafted
// mail.
func BenchmarkHostile(b *testing.B) {
	for _, h := range hostile.All() {
		b.Run(h.Name, func(b *testing.B) {
			b.SetBytes(int64(len(h.Raw)))
			var payload, allocated int64
			for b.Loop() {
				payload, allocated, _ = mapCost(b, h.Raw)
			}
			b.ReportMetric(float64(payload)/float64(len(h.Raw)), "payload/raw")
			b.ReportMetric(float64(allocated+int64(len(h.Raw)))/float64(len(h.Raw)), "memory/raw")
		})
	}
}
