package admin

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// OAuthMetrics are the per-mailbox metrics of OAuth2 tokens: an
// oauth.Observer, plus the configured secret and certificate expiry.
type OAuthMetrics struct {
	expiry         *prometheus.GaugeVec
	lastRefresh    *prometheus.GaugeVec
	failures       *prometheus.CounterVec
	secretExpiry   *prometheus.GaugeVec
	reauthRequired *prometheus.GaugeVec
}

// OAuth returns the OAuth2 metrics, registering them the first time.
func (m *Metrics) OAuth() *OAuthMetrics {
	m.oauthOnce.Do(m.registerOAuth)
	return m.oauth
}

func (m *Metrics) registerOAuth() {
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "mailbridge", Name: name, Help: help}, []string{"mailbox"})
	}
	o := &OAuthMetrics{
		expiry: gauge("oauth2_token_expiry_timestamp_seconds",
			"Unix time the mailbox's OAuth2 access token in use expires."),
		lastRefresh: gauge("oauth2_last_refresh_timestamp_seconds",
			"Unix time this instance last got an OAuth2 token for the mailbox from the token endpoint."),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "mailbridge", Name: "oauth2_refresh_failures_total",
			Help: "OAuth2 token requests that failed, by the endpoint's error code (invalid_grant: the grant is revoked) or unreachable."},
			[]string{"mailbox", "reason"}),
		secretExpiry: gauge("oauth2_secret_expiry_timestamp_seconds",
			"Unix time the mailbox's OAuth2 client secret (oauth2.secretExpires) or certificate expires, the earlier of the two."),
		reauthRequired: gauge("oauth2_reauthorization_required",
			"1 while the mailbox's OAuth2 grant is revoked, expired or missing (run mailbridge mailbox authorize NAME), else 0."),
	}
	m.reg.MustRegister(o.expiry, o.lastRefresh, o.failures, o.secretExpiry, o.reauthRequired)
	m.oauth = o
}

// Refreshed implements oauth.Observer.
func (o *OAuthMetrics) Refreshed(mailbox string, at time.Time) {
	o.lastRefresh.WithLabelValues(mailbox).Set(unixSeconds(at))
}

// Expiry implements oauth.Observer.
func (o *OAuthMetrics) Expiry(mailbox string, t time.Time) {
	o.expiry.WithLabelValues(mailbox).Set(unixSeconds(t))
}

// Failed implements oauth.Observer.
func (o *OAuthMetrics) Failed(mailbox, reason string) {
	o.failures.WithLabelValues(mailbox, reason).Inc()
}

// Revoked implements oauth.Observer.
func (o *OAuthMetrics) Revoked(mailbox string, revoked bool) {
	o.reauthRequired.WithLabelValues(mailbox).Set(boolValue(revoked))
}

// SecretExpires records when the mailbox's client secret or certificate
// expires.
func (o *OAuthMetrics) SecretExpires(mailbox string, t time.Time) {
	o.secretExpiry.WithLabelValues(mailbox).Set(unixSeconds(t))
}

// Forget deletes the series of a mailbox that no longer uses OAuth2 (a
// reload removed it or changed its auth), so that no alert fires on what
// its token source last said.
func (o *OAuthMetrics) Forget(mailbox string) {
	for _, g := range []*prometheus.GaugeVec{o.expiry, o.lastRefresh, o.secretExpiry, o.reauthRequired} {
		g.DeleteLabelValues(mailbox)
	}
	o.failures.DeletePartialMatch(prometheus.Labels{"mailbox": mailbox})
}
