package admin

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/enneo/mailbridge/mailbox/smtp"
	"github.com/enneo/mailbridge/mapper/autoreply"
	"github.com/enneo/mailbridge/pipeline"
)

// Metrics holds the counters and histograms that events move. It is the
// pipeline's Observer, the SMTP listeners' Observer and, through
// ObserveAPI, the API client's; the gauges of the queue and the sources
// are read at scrape time (collector). docs/operations.md lists them all.
type Metrics struct {
	reg *prometheus.Registry

	received     *prometheus.CounterVec
	duplicates   *prometheus.CounterVec
	ingestFailed *prometheus.CounterVec
	delivered    *prometheus.CounterVec
	retried      *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	classified   *prometheus.CounterVec
	smtpRejected *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	authLockouts *prometheus.CounterVec
	apiDuration  *prometheus.HistogramVec
	apiUp        prometheus.Gauge
	apiAuthOK    prometheus.Gauge

	apiErrors recentErrors

	oauthOnce sync.Once
	oauth     *OAuthMetrics // OAuth registers them on first use
}

var (
	_ pipeline.Observer    = (*Metrics)(nil)
	_ pipeline.APIObserver = (*Metrics)(nil)
	_ smtp.Observer        = (*Metrics)(nil)
	_ smtp.AuthObserver    = (*Metrics)(nil)
)

// apiBuckets span a fast API (a few ms) to api.timeout's default (60s).
var apiBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// NewMetrics returns the metrics of a mailbridge of the given version, with
// the delivery counters of subchannels at 0 so that rates exist from the
// start. The registry holds the Go runtime and process collectors too.
func NewMetrics(version string, subchannels []int) *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "mailbridge", Name: name, Help: help}, labels)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		received: counter("messages_received_total",
			"Messages committed to the queue, by source (smtp, imap, cli) and subchannel.", "source", "subchannel"),
		duplicates: counter("messages_duplicate_total",
			"Messages acknowledged as duplicates of one already queued, not queued again.", "source", "subchannel"),
		ingestFailed: counter("ingest_failures_total",
			"Messages the queue could not commit; the source keeps them (SMTP 451, IMAP leaves them).", "source"),
		delivered: counter("messages_delivered_total",
			"Messages stored at the API (or found there after a lost answer).", "subchannel"),
		retried: counter("delivery_retries_total",
			"Failed delivery attempts that will be tried again (backoff, or authRetry after 401/403).", "subchannel"),
		deadLettered: counter("messages_dead_lettered_total",
			"Messages moved to the dead letters, by reason (rejected, exhausted, unparseable, policy, loop).",
			"subchannel", "reason"),
		classified: counter("mail_sense_classified_total",
			"Messages classified by mail sense on their first attempt, by class and the policy applied.",
			"class", "policy"),
		smtpRejected: counter("smtp_rejections_total",
			"Connections, senders, recipients or messages an SMTP/LMTP listener refused, by reason.",
			"listener", "reason"),
		authFailures: counter("smtp_auth_failures_total",
			"SMTP AUTH attempts with a wrong user name or password.", "listener"),
		authLockouts: counter("smtp_auth_lockouts_total",
			"SMTP AUTH lockouts begun, by scope: a client address or a user name.", "listener", "scope"),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "mailbridge", Name: "api_request_duration_seconds",
			Help:    "enneo API calls by operation and status class (2xx, 4xx, 5xx; error: no answer).",
			Buckets: apiBuckets,
		}, []string{"operation", "status_class"}),
		apiUp: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "mailbridge", Name: "api_up",
			Help: "0 while delivery finds the enneo API down (calls in a row failing with 5xx or no answer), else 1."}),
		apiAuthOK: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "mailbridge", Name: "api_auth_ok",
			Help: "0 while the enneo API refuses the token (401/403), else 1."}),
	}
	// Nothing is known to be wrong before the first delivery attempt.
	m.apiUp.Set(1)
	m.apiAuthOK.Set(1)
	m.reg.MustRegister(m.received, m.duplicates, m.ingestFailed, m.delivered, m.retried, m.deadLettered,
		m.classified, m.smtpRejected, m.authFailures, m.authLockouts, m.apiDuration, m.apiUp, m.apiAuthOK,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "mailbridge", Name: "build_info", Help: "Always 1; the version is a label.",
			ConstLabels: prometheus.Labels{"version": version},
		}, func() float64 { return 1 }))
	// Counters that alerts take increase() of are created at 0: a series
	// born with its first event at 1 would make increase() miss it.
	for _, s := range subchannels {
		sub := strconv.Itoa(s)
		m.delivered.WithLabelValues(sub)
		m.retried.WithLabelValues(sub)
		for _, r := range deadReasons {
			m.deadLettered.WithLabelValues(sub, string(r))
		}
	}
	for _, src := range []string{"imap", "smtp"} {
		m.ingestFailed.WithLabelValues(src)
	}
	return m
}

// deadReasons are the reasons a message becomes a dead letter.
var deadReasons = []pipeline.DeadReason{pipeline.DeadRejected, pipeline.DeadExhausted,
	pipeline.DeadUnparseable, pipeline.DeadPolicy, pipeline.DeadLoop}

// Registry is where the metrics are registered; the admin listener serves
// it, and the collector of scrape-time gauges joins it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Ingested implements pipeline.Observer.
func (m *Metrics) Ingested(source string, subchannel int, duplicate bool) {
	c := m.received
	if duplicate {
		c = m.duplicates
	}
	c.WithLabelValues(source, strconv.Itoa(subchannel)).Inc()
}

// IngestFailed implements pipeline.Observer.
func (m *Metrics) IngestFailed(source string) { m.ingestFailed.WithLabelValues(source).Inc() }

// Delivered implements pipeline.Observer.
func (m *Metrics) Delivered(subchannel int) {
	m.delivered.WithLabelValues(strconv.Itoa(subchannel)).Inc()
}

// Retried implements pipeline.Observer.
func (m *Metrics) Retried(subchannel int) { m.retried.WithLabelValues(strconv.Itoa(subchannel)).Inc() }

// DeadLettered implements pipeline.Observer.
func (m *Metrics) DeadLettered(subchannel int, reason pipeline.DeadReason) {
	m.deadLettered.WithLabelValues(strconv.Itoa(subchannel), string(reason)).Inc()
}

// Classified implements pipeline.Observer.
func (m *Metrics) Classified(class autoreply.Class, policy pipeline.Policy) {
	m.classified.WithLabelValues(string(class), string(policy)).Inc()
}

// APIState implements pipeline.APIObserver.
func (m *Metrics) APIState(up, authOK bool) {
	m.apiUp.Set(boolValue(up))
	m.apiAuthOK.Set(boolValue(authOK))
}

// Rejected implements smtp.Observer.
func (m *Metrics) Rejected(listener string, reason smtp.Reason) {
	m.smtpRejected.WithLabelValues(listener, string(reason)).Inc()
}

// AuthFailed implements smtp.AuthObserver.
func (m *Metrics) AuthFailed(listener string) { m.authFailures.WithLabelValues(listener).Inc() }

// AuthLockedOut implements smtp.AuthObserver.
func (m *Metrics) AuthLockedOut(listener, scope string) {
	m.authLockouts.WithLabelValues(listener, scope).Inc()
}

// ObserveAPI is api.Options.Observe: it times the call and keeps its error
// for the status page.
func (m *Metrics) ObserveAPI(op string, status int, took time.Duration, err error) {
	op = strings.ReplaceAll(op, " ", "_")
	m.apiDuration.WithLabelValues(op, statusClass(status)).Observe(took.Seconds())
	if err != nil {
		m.apiErrors.add(APIError{At: time.Now(), Operation: op, Status: status, Error: err.Error()})
	}
}

// RecentAPIErrors returns the last API errors, newest first.
func (m *Metrics) RecentAPIErrors() []APIError { return m.apiErrors.list() }

// statusClass is 2xx, 4xx, 5xx (etc.), or error when no answer came.
func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "error"
	}
	return strconv.Itoa(status/100) + "xx"
}

// APIError is one failed API call.
type APIError struct {
	At        time.Time
	Operation string
	Status    int // 0: no answer
	Error     string
}

// keptAPIErrors is how many API errors the status page shows.
const keptAPIErrors = 10

// recentErrors keeps the last keptAPIErrors API errors.
type recentErrors struct {
	mu   sync.Mutex
	errs []APIError // oldest first
}

func (r *recentErrors) add(e APIError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) == keptAPIErrors {
		r.errs = append(r.errs[:0], r.errs[1:]...)
	}
	r.errs = append(r.errs, e)
}

func (r *recentErrors) list() []APIError {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]APIError, len(r.errs))
	for i, e := range r.errs {
		out[len(out)-1-i] = e
	}
	return out
}
