package admin

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/enneo/mailbridge/mailbox/imap"
	"github.com/enneo/mailbridge/mailbox/smtp"
	"github.com/enneo/mailbridge/store"
)

// Store is the part of the queue the admin listener reads.
type Store interface {
	Ping(ctx context.Context) error
	Stats(ctx context.Context) (store.Stats, error)
	List(ctx context.Context, f store.Filter) ([]store.Message, error)
}

// Mailbox is an IMAP folder poller (*imap.Poller).
type Mailbox interface{ Status() imap.Status }

// Listener is an SMTP/LMTP listener (*smtp.Server).
type Listener interface{ Status() smtp.Status }

// storeTimeout bounds the store reads of one scrape, ping or page.
const storeTimeout = 5 * time.Second

// collector reads the queue and the sources at scrape time, so that the
// gauges are never stale and nothing polls between scrapes.
type collector struct {
	store     Store
	mailboxes func() []Mailbox
	listeners []Listener
	now       func() time.Time
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("mailbridge_"+name, help, labels, nil)
}

var (
	queueMessages = desc("queue_messages",
		"Messages in the queue by state (queued, inflight, held, delivered, dead, dropped).", "state")
	queueOldest = desc("queue_oldest_pending_age_seconds",
		"Age of the oldest queued or inflight message since it was received; 0 when none waits.")
	storeUp = desc("store_up",
		"1 when the last read of the queue's statistics succeeded, else 0.")
	imapConnected = desc("imap_connected",
		"1 while the folder's IMAP connection is open and the folder selected, else 0.", "mailbox", "folder")
	imapLastSuccess = desc("imap_last_success_timestamp_seconds",
		"Unix time of the folder's last successful sync (read up to date); 0 before the first.", "mailbox", "folder")
	imapFailures = desc("imap_session_failures_total",
		"IMAP sessions of the folder that failed (connect, login, select, or a broken connection).",
		"mailbox", "folder")
	imapSetAside = desc("imap_messages_set_aside_total",
		"Messages of the folder moved to its error folder or flagged $MailbridgeError: rejected by the queue for good, or over maxMessageBytes.",
		"mailbox", "folder")
	smtpListening = desc("smtp_listening",
		"1 while the SMTP/LMTP listener accepts connections, else 0.", "listener")
	smtpConnections = desc("smtp_connections",
		"Clients connected to the SMTP/LMTP listener now.", "listener")
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueMessages, queueOldest, storeUp, imapConnected, imapLastSuccess,
		imapFailures, imapSetAside, smtpListening, smtpConnections} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if st, err := c.store.Stats(ctx); err != nil {
		gauge(storeUp, 0)
	} else {
		gauge(storeUp, 1)
		for state, n := range st.Counts {
			gauge(queueMessages, float64(n), string(state))
		}
		gauge(queueOldest, oldestAge(st, c.now()).Seconds())
	}
	for _, m := range c.mailboxes() {
		s := m.Status()
		gauge(imapConnected, boolValue(s.State == imap.Connected), s.Mailbox, s.Folder)
		gauge(imapLastSuccess, unixSeconds(s.LastPoll), s.Mailbox, s.Folder)
		ch <- prometheus.MustNewConstMetric(imapFailures, prometheus.CounterValue, float64(s.Errors), s.Mailbox, s.Folder)
		ch <- prometheus.MustNewConstMetric(imapSetAside, prometheus.CounterValue, float64(s.SetAside), s.Mailbox, s.Folder)
	}
	for _, l := range c.listeners {
		s := l.Status()
		gauge(smtpListening, boolValue(s.Listening), s.Name)
		gauge(smtpConnections, float64(s.Connections), s.Name)
	}
}

// oldestAge is how long the oldest pending message has waited, 0 if none.
func oldestAge(st store.Stats, now time.Time) time.Duration {
	if st.OldestPending.IsZero() {
		return 0
	}
	return max(now.Sub(st.OldestPending), 0)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixMilli()) / 1000
}
