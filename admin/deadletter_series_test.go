package admin

import (
	"testing"
)

// MailbridgeDeadLettersRising is increase(...[1h]) > 0: the series of
// each subchannel and reason exists at 0 before the first dead letter,
// or increase() over a series born at 1 would miss that first one. The
// same goes for the ingest failures of each source.
func TestCounterSeriesBornAtZero(t *testing.T) {
	m := NewMetrics("test", []int{4})
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"mailbridge_messages_dead_lettered_total": len(deadReasons), "mailbridge_ingest_failures_total": 2}
	for _, mf := range mfs {
		n, ok := want[mf.GetName()]
		if !ok {
			continue
		}
		delete(want, mf.GetName())
		if len(mf.GetMetric()) != n {
			t.Errorf("%s: %d series before any event, want %d", mf.GetName(), len(mf.GetMetric()), n)
		}
		for _, s := range mf.GetMetric() {
			if v := s.GetCounter().GetValue(); v != 0 {
				t.Errorf("%s %v: %v before any event, want 0", mf.GetName(), s.GetLabel(), v)
			}
		}
	}
	for name := range want {
		t.Errorf("no series of %s before any event", name)
	}
}
