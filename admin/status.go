package admin

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/enneo/mailbridge/internal/safetext"
	"github.com/enneo/mailbridge/mailbox/imap"
	"github.com/enneo/mailbridge/mailbox/smtp"
	"github.com/enneo/mailbridge/store"
)

//go:embed status.html
var statusHTML string

// statusTemplate escapes HTML; line shows the control characters and bidi
// overrides html/template passes through, which would otherwise hide in,
// or reorder, a dead letter's subject or a server's error message.
var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"ago":   ago,
	"when":  when,
	"stale": stale,
	"line":  safetext.Line,
}).Parse(statusHTML))

// shownDeadLetters is how many of the newest dead letters the page lists.
const shownDeadLetters = 10

// statusData is what the status page shows.
type statusData struct {
	Version  string
	DryRun   bool
	Now      time.Time
	Started  time.Time
	Ready    bool
	Checks   []string
	StoreErr string
	// Queue by state, in the order of a message's life.
	Queue       []stateCount
	OldestAge   time.Duration
	Dead        int
	DeadLetters []store.Message
	Mailboxes   []imap.Status
	Listeners   []smtp.Status
	APIErrors   []APIError
	Notices     []string
}

type stateCount struct {
	State store.State
	N     int
}

func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	d := statusData{Version: s.opts.Version, DryRun: s.opts.DryRun, Now: now, Started: s.started,
		APIErrors: s.opts.Metrics.RecentAPIErrors()}
	d.Ready, d.Checks = s.readiness(r.Context())
	if s.opts.Notices != nil {
		d.Notices = s.opts.Notices()
	}
	for _, m := range s.opts.Mailboxes() {
		d.Mailboxes = append(d.Mailboxes, m.Status())
	}
	for _, l := range s.opts.Listeners {
		d.Listeners = append(d.Listeners, l.Status())
	}
	if err := s.readQueue(r, &d); err != nil {
		d.StoreErr = err.Error()
	}
	// Rendered to a buffer first: a template error must not leave half a
	// page behind a 200.
	var b bytes.Buffer
	if err := statusTemplate.Execute(&b, d); err != nil {
		s.opts.Log.Error("status page", "err", err)
		http.Error(w, "status page failed; see the log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = b.WriteTo(w)
}

func (s *Server) readQueue(r *http.Request, d *statusData) error {
	ctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	st, err := s.opts.Store.Stats(ctx)
	if err != nil {
		return fmt.Errorf("queue statistics: %w", err)
	}
	for _, state := range []store.State{store.Queued, store.Inflight, store.Held, store.Delivered, store.Dead, store.Dropped} {
		d.Queue = append(d.Queue, stateCount{state, st.Counts[state]})
	}
	d.OldestAge = oldestAge(st, d.Now)
	d.Dead = st.Counts[store.Dead]
	if d.Dead == 0 {
		return nil
	}
	d.DeadLetters, err = s.opts.Store.List(ctx, store.Filter{States: []store.State{store.Dead}, Limit: shownDeadLetters})
	if err != nil {
		return fmt.Errorf("dead letters: %w", err)
	}
	return nil
}

// ago is a duration for people: 42s, 5m, 3h10m, 2d4h.
func ago(d time.Duration) string {
	switch d = d.Round(time.Second); {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// when is a moment relative to now ("5m ago"), "never" for the zero time.
// staleAfter is how old a folder's last successful sync may be before
// the status page marks it, as the MailbridgeMailboxStale alert does.
const staleAfter = 15 * time.Minute

// stale reports whether a folder's last sync at t is older than
// staleAfter; a folder never synced is shown as "never" instead.
func stale(t, now time.Time) bool { return !t.IsZero() && now.Sub(t) > staleAfter }

func when(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return ago(now.Sub(t)) + " ago"
}
