package admin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/mailbox/imap"
	"github.com/enneo/mailbridge/mailbox/smtp"
	"github.com/enneo/mailbridge/pipeline"
	"github.com/enneo/mailbridge/store/sqlite"
)

const token = "admin-test-token"

// fakeMailbox stands in for an IMAP poller.
type fakeMailbox struct{ s imap.Status }

func (f fakeMailbox) Status() imap.Status { return f.s }

// instance is a running mailbridge without its command line: an SMTP
// listener feeding a pipeline whose workers post to the fake API, with
// the admin endpoints on a test server.
type instance struct {
	t        *testing.T
	store    *sqlite.Store
	api      *testapi.Server
	smtp     string // the listener's address
	admin    *httptest.Server
	server   *Server
	stopSMTP context.CancelFunc
}

func start(t *testing.T) *instance {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	m := NewMetrics("test-1.0", []int{4})
	fake := testapi.New(t, testapi.Options{Token: token})
	client := api.New(api.Options{BaseURL: fake.URL(), Token: token, Timeout: 5 * time.Second, Observe: m.ObserveAPI})
	p := pipeline.New(st, client, pipeline.Config{
		Workers: 2, MaxAttempts: 5, MaxAge: time.Hour, Lease: time.Minute, Poll: 10 * time.Millisecond,
		AuthRetry: time.Minute, BackoffInitial: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
		Observer: m,
	}, log)

	router, err := smtp.NewRouter([]smtp.Route{{Address: "support@example.com", SubchannelID: 4}}, false)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := smtp.New(smtp.Options{Name: "mta", Router: router, Hostname: "mx.test", Observer: m,
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, p, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	smtpCtx, stopSMTP := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { _ = srv.Serve(smtpCtx, ln); done <- struct{}{} }()
	go func() { _ = p.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })

	inbox := fakeMailbox{imap.Status{Mailbox: "support", Folder: "INBOX", State: imap.Connected, IDLE: true,
		Since: time.Now().Add(-time.Hour), LastPoll: time.Now().Add(-time.Minute)}}
	broken := fakeMailbox{imap.Status{Mailbox: "sales", Folder: "INBOX", State: imap.Disconnected,
		Since: time.Now(), LastError: "login refused: AUTHENTICATIONFAILED", LastErrorAt: time.Now(), Errors: 3, SetAside: 2}}
	s := New(Options{Metrics: m, Store: st, Mailboxes: func() []Mailbox { return []Mailbox{inbox, broken} }, Listeners: []Listener{srv},
		Notices: func() []string { return []string{"mailbox sales: the OAuth2 client secret expires <soon>"} },
		Version: "test-1.0", Log: log})
	admin := httptest.NewServer(s)
	t.Cleanup(admin.Close)
	i := &instance{t: t, store: st, api: fake, smtp: ln.Addr().String(), admin: admin, server: s, stopSMTP: stopSMTP}
	i.waitReady()
	return i
}

func (i *instance) get(path string) (int, string) {
	i.t.Helper()
	resp, err := http.Get(i.admin.URL + path)
	if err != nil {
		i.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		i.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// waitReady waits for the SMTP listener to be up.
func (i *instance) waitReady() {
	i.t.Helper()
	testenv.WaitUntil(i.t, 5*time.Second, "/readyz to answer 200", func() (bool, string) {
		code, body := i.get("/readyz")
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
	})
}

// send hands one message to the SMTP listener.
func (i *instance) send(to, messageID string) error {
	msg := fmt.Sprintf("From: Jane <jane@example.org>\r\nTo: %s\r\nSubject: help %s\r\nMessage-ID: <%s>\r\n\r\nPlease help.\r\n",
		to, messageID, messageID)
	c, err := gosmtp.Dial(i.smtp)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.SendMail("jane@example.org", []string{to}, strings.NewReader(msg))
}

// sample reads one sample of /metrics: name with its labels as Prometheus
// writes them (sorted by name), e.g. x_total{a="1",b="2"}. Missing is -1.
func sample(body, series string) float64 {
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == series {
			f, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return -2
			}
			return f
		}
	}
	return -1
}

// waitMetric waits for a sample to reach want and returns a scrape taken
// after that. The scrape that saw it may not show what happened before:
// a scrape reads its collectors concurrently.
func (i *instance) waitMetric(series string, want float64) string {
	i.t.Helper()
	testenv.WaitUntil(i.t, 10*time.Second, fmt.Sprintf("%s = %v", series, want), func() (bool, string) {
		code, body := i.get("/metrics")
		got := sample(body, series)
		return code == http.StatusOK && got == want, fmt.Sprintf("%v", got)
	})
	_, body := i.get("/metrics")
	return body
}

func TestMetricsMoveAsMailFlows(t *testing.T) {
	i := start(t)
	_, body := i.get("/metrics")
	for series, want := range map[string]float64{
		`mailbridge_messages_delivered_total{subchannel="4"}`: 0, // there from the start
		`mailbridge_queue_messages{state="queued"}`:           0,
		`mailbridge_store_up`:                                 1,
		`mailbridge_smtp_listening{listener="mta"}`:           1,
		`mailbridge_build_info{version="test-1.0"}`:           1,
	} {
		if got := sample(body, series); got != want {
			t.Errorf("before any mail: %s = %v, want %v", series, got, want)
		}
	}

	// One store call fails with a 503 and is retried; one recipient has no
	// route; the third message is refused for good by the API.
	i.api.Inject(testapi.Fault{Path: "conversation/store", Status: 503, Times: 1})
	for _, id := range []string{"one@example.org", "two@example.org"} {
		if err := i.send("support@example.com", id); err != nil {
			t.Fatal(err)
		}
	}
	if err := i.send("nobody@example.com", "lost@example.org"); err == nil {
		t.Fatal("unrouted recipient accepted")
	}
	body = i.waitMetric(`mailbridge_messages_delivered_total{subchannel="4"}`, 2)
	for series, want := range map[string]float64{
		`mailbridge_messages_received_total{source="smtp",subchannel="4"}`:               2,
		`mailbridge_delivery_retries_total{subchannel="4"}`:                              1,
		`mailbridge_smtp_rejections_total{listener="mta",reason="no_route"}`:             1,
		`mailbridge_mail_sense_classified_total{class="human",policy="post"}`:            2,
		`mailbridge_queue_messages{state="delivered"}`:                                   2,
		`mailbridge_queue_oldest_pending_age_seconds`:                                    0,
		`mailbridge_imap_connected{folder="INBOX",mailbox="support"}`:                    1,
		`mailbridge_imap_connected{folder="INBOX",mailbox="sales"}`:                      0,
		`mailbridge_imap_session_failures_total{folder="INBOX",mailbox="sales"}`:         3,
		`mailbridge_imap_messages_set_aside_total{folder="INBOX",mailbox="sales"}`:       2,
		`mailbridge_imap_last_success_timestamp_seconds{folder="INBOX",mailbox="sales"}`: 0,
		// Two tickets and two conversations (one after the 503).
		`mailbridge_api_request_duration_seconds_count{operation="store_conversation",status_class="2xx"}`: 2,
		`mailbridge_api_request_duration_seconds_count{operation="store_conversation",status_class="5xx"}`: 1,
		`mailbridge_api_request_duration_seconds_count{operation="create_ticket",status_class="2xx"}`:      2,
	} {
		if got := sample(body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if got := sample(body, `mailbridge_imap_last_success_timestamp_seconds{folder="INBOX",mailbox="support"}`); got < float64(time.Now().Add(-2*time.Minute).Unix()) {
		t.Errorf("last sync of support/INBOX = %v, want about a minute ago", got)
	}

	i.api.Inject(testapi.Fault{Path: "conversation/store", Status: 400, Times: 1})
	if err := i.send("support@example.com", "refused@example.org"); err != nil {
		t.Fatal(err)
	}
	body = i.waitMetric(`mailbridge_messages_dead_lettered_total{reason="rejected",subchannel="4"}`, 1)
	if got := sample(body, `mailbridge_queue_messages{state="dead"}`); got != 1 {
		t.Errorf("dead letters in the queue = %v, want 1", got)
	}
	if strings.Contains(body, token) {
		t.Error("the API token is in /metrics")
	}
}

func TestReadiness(t *testing.T) {
	i := start(t)
	if code, body := i.get("/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := i.get("/readyz"); code != http.StatusOK || !strings.Contains(body, "ok   smtp listener mta") {
		t.Errorf("/readyz = %d %q", code, body)
	}

	t.Run("store closed", func(t *testing.T) {
		i := start(t)
		i.store.Close()
		code, body := i.get("/readyz")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "FAIL store") {
			t.Errorf("/readyz with the store closed = %d %q, want 503 naming the store", code, body)
		}
		if code, _ := i.get("/healthz"); code != http.StatusOK {
			t.Errorf("/healthz with the store closed = %d, want 200: the process is alive", code)
		}
		if _, body := i.get("/metrics"); sample(body, "mailbridge_store_up") != 0 {
			t.Errorf("mailbridge_store_up = %v with the store closed, want 0", sample(body, "mailbridge_store_up"))
		}
	})
	t.Run("listener stopped", func(t *testing.T) {
		i := start(t)
		i.stopSMTP()
		testenv.WaitUntil(t, 5*time.Second, "/readyz to fail on the stopped listener", func() (bool, string) {
			code, body := i.get("/readyz")
			return code == http.StatusServiceUnavailable && strings.Contains(body, "smtp listener mta"), fmt.Sprintf("%d %q", code, body)
		})
	})
	t.Run("draining", func(t *testing.T) {
		i := start(t)
		i.server.Drain()
		if code, body := i.get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
			t.Errorf("/readyz while draining = %d %q", code, body)
		}
	})
}

// The API gauges follow an outage and a refused token, and readiness does
// not: the queue takes mail all the same.
func TestAPIGaugesFlip(t *testing.T) {
	for _, tt := range []struct {
		name, series string
		status       int
	}{
		{"outage", "mailbridge_api_up", http.StatusServiceUnavailable},
		{"token refused", "mailbridge_api_auth_ok", http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			i := start(t)
			i.waitMetric(tt.series, 1)
			i.api.Inject(testapi.Fault{Status: tt.status})
			for n := range 3 {
				if err := i.send("support@example.com", fmt.Sprintf("%d-%s@example.org", n, tt.series)); err != nil {
					t.Fatal(err)
				}
			}
			i.waitMetric(tt.series, 0)
			if code, body := i.get("/readyz"); code != http.StatusOK {
				t.Errorf("/readyz with the API failing = %d %q, want 200: mail is queued durably", code, body)
			}
			i.api.ClearFaults()
			if err := i.send("support@example.com", "back-"+tt.series+"@example.org"); err != nil {
				t.Fatal(err)
			}
			body := i.waitMetric(tt.series, 1)
			if sample(body, "mailbridge_api_up") != 1 || sample(body, "mailbridge_api_auth_ok") != 1 {
				t.Errorf("after recovery: api_up %v, api_auth_ok %v", sample(body, "mailbridge_api_up"), sample(body, "mailbridge_api_auth_ok"))
			}
		})
	}
}

// deadLetter sends a message the API refuses (400) and waits until it is
// a dead letter; the status page then has a dead letter and an API error.
func (i *instance) deadLetter(messageID string) {
	i.t.Helper()
	i.api.Inject(testapi.Fault{Path: "conversation/store", Status: 400, Times: 1})
	if err := i.send("support@example.com", messageID); err != nil {
		i.t.Fatal(err)
	}
	i.waitMetric(`mailbridge_messages_dead_lettered_total{reason="rejected",subchannel="4"}`, 1)
}

func TestStatusPage(t *testing.T) {
	i := start(t)
	i.deadLetter("page@example.org")

	code, page := i.get("/")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	for _, want := range []string{
		`<meta name="viewport"`,
		"mailbridge <span class=\"ok\">ready</span>", "version test-1.0",
		// the mailboxes, with state, last successful sync and last error
		"<th>last successful sync</th>", "support / INBOX", "connected</span> (IDLE)", "1m ago",
		"sales / INBOX", "disconnected", "login refused: AUTHENTICATIONFAILED", "3 failed sessions", "2 messages set aside",
		// the listener
		"<td>mta</td><td>" + i.smtp + "</td>", "<span class=\"ok\">listening</span>", "<td>smtp</td><td>none</td></tr>",
		// the queue: one dead letter, with its subject and the API's reason
		"<b>1</b><span>dead</span>", "help page@example.org", "store conversation",
		// the API error behind it
		"store_conversation", "<td>400</td>",
		// a notice, escaped
		`<p class="warn notice">mailbox sales: the OAuth2 client secret expires &lt;soon&gt;</p>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") {
		t.Error("status page has a script")
	}
	if strings.Contains(page, token) {
		t.Error("the API token is on the status page")
	}
	if code, _ := i.get("/nonexistent"); code != http.StatusNotFound {
		t.Errorf("GET /nonexistent = %d, want 404", code)
	}
}

func TestStatusPageWithoutStore(t *testing.T) {
	i := start(t)
	i.store.Close()
	code, page := i.get("/")
	if code != http.StatusOK || !strings.Contains(page, "NOT READY") || !strings.Contains(page, "queue statistics:") {
		t.Errorf("status page with the store closed = %d, want 200 saying NOT READY and the store's error:\n%s", code, page)
	}
}

func TestAgo(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 59 * time.Second: "59s", 5 * time.Minute: "5m", 3*time.Hour + 10*time.Minute: "3h10m",
		50 * time.Hour: "2d2h",
	} {
		if got := ago(d); got != want {
			t.Errorf("ago(%s) = %q, want %q", d, got, want)
		}
	}
	if got := when(time.Time{}, time.Now()); got != "never" {
		t.Errorf("when(zero) = %q", got)
	}
}
