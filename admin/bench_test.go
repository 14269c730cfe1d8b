package admin

import (
	"testing"
	"time"

	"github.com/enneo/mailbridge/mapper/autoreply"
	"github.com/enneo/mailbridge/pipeline"
)

// BenchmarkObserveMessage is what metrics add to one message's path: its
// ingest, its classification, a ticket creation and a store call timed,
// its delivery. Compare with BenchmarkDeliver in pipeline (~0.6 ms a
// message against an in-process API).
func BenchmarkObserveMessage(b *testing.B) {
	m := NewMetrics("bench", []int{4})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Ingested("smtp", 4, false)
			m.Classified(autoreply.Human, pipeline.PolicyPost)
			m.ObserveAPI("create ticket", 201, 3*time.Millisecond, nil)
			m.ObserveAPI("store conversation", 201, 5*time.Millisecond, nil)
			m.Delivered(4)
		}
	})
}
