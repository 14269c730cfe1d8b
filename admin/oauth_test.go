package admin

import (
	"testing"
	"time"
)

// The OAuth2 metrics carry the names the alert rules use, per mailbox.
func TestOAuthMetrics(t *testing.T) {
	m := NewMetrics("t", nil)
	o := m.OAuth()
	if m.OAuth() != o {
		t.Fatal("OAuth registered twice")
	}
	exp := time.Unix(1_900_000_000, 0)
	o.Expiry("support", exp)
	o.Refreshed("support", exp.Add(-time.Hour))
	o.Failed("support", "invalid_grant")
	o.Failed("support", "invalid_grant")
	o.Revoked("support", true)
	o.SecretExpires("support", exp.Add(24*time.Hour))
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			labels := ""
			for _, l := range mt.GetLabel() {
				labels += l.GetName() + "=" + l.GetValue() + ","
			}
			got[mf.GetName()+"{"+labels+"}"] = mt.GetGauge().GetValue() + mt.GetCounter().GetValue()
		}
	}
	for name, v := range map[string]float64{
		"mailbridge_oauth2_token_expiry_timestamp_seconds{mailbox=support,}":              1_900_000_000,
		"mailbridge_oauth2_last_refresh_timestamp_seconds{mailbox=support,}":              1_900_000_000 - 3600,
		"mailbridge_oauth2_refresh_failures_total{mailbox=support,reason=invalid_grant,}": 2,
		"mailbridge_oauth2_reauthorization_required{mailbox=support,}":                    1,
		"mailbridge_oauth2_secret_expiry_timestamp_seconds{mailbox=support,}":             1_900_000_000 + 86400,
	} {
		if got[name] != v {
			t.Errorf("%s = %v, want %v", name, got[name], v)
		}
	}
}

// A mailbox that no longer uses OAuth2 leaves no series behind; the
// others keep theirs.
func TestOAuthMetricsForget(t *testing.T) {
	m := NewMetrics("t", nil)
	o := m.OAuth()
	for _, mb := range []string{"support", "sales"} {
		o.Expiry(mb, time.Unix(1_900_000_000, 0))
		o.Refreshed(mb, time.Unix(1_900_000_000, 0))
		o.Failed(mb, "unreachable")
		o.Revoked(mb, true)
		o.SecretExpires(mb, time.Unix(1_900_000_000, 0))
	}
	o.Forget("support")
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sales := 0
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() != "mailbox" {
					continue
				}
				switch l.GetValue() {
				case "support":
					t.Errorf("%s still has a series of the forgotten mailbox", mf.GetName())
				case "sales":
					sales++
				}
			}
		}
	}
	if sales != 5 {
		t.Errorf("%d series of the other mailbox, want 5", sales)
	}
}
