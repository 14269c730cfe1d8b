package smtp_test

// End-to-end: real clients from Debian (swaks, Postfix) against a
// listener wired to the real pipeline: SQLite in a temp dir, delivery to
// the fake enneo API, which validates every payload against the spec.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/mailbox/smtp"
	"github.com/enneo/mailbridge/pipeline"
	"github.com/enneo/mailbridge/store/sqlite"
)

const e2eToken = "smtp-e2e-token"

// stack is a pipeline over SQLite delivering to testapi, with delivery
// workers running.
type stack struct {
	api  *testapi.Server
	p    *pipeline.Pipeline
	down atomic.Bool // when set, Ingest fails as a full disk would
	mu   sync.Mutex
	raws [][]byte // the messages queued, as stored
}

func (s *stack) Ingest(ctx context.Context, m mailbox.Message) (mailbox.Receipt, error) {
	if s.down.Load() {
		return mailbox.Receipt{}, errors.New("store unavailable (test)")
	}
	s.mu.Lock()
	s.raws = append(s.raws, m.Raw)
	s.mu.Unlock()
	return s.p.Ingest(ctx, m)
}

func newStack(t *testing.T) *stack { return newStackWith(t, nil) }

// newStackWith is newStack with the pipeline's configuration changed by
// edit.
func newStackWith(t *testing.T, edit func(*pipeline.Config)) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	a := testapi.New(t, testapi.Options{Token: e2eToken})
	client := api.New(api.Options{
		BaseURL: a.URL(), Token: e2eToken, Timeout: 5 * time.Second, UserAgent: "mailbridge/test",
		Ticket: api.TicketOptions{Path: "/ticket", IDField: "id", Process: "batch",
			Fields: []string{"subchannelId", "from", "subject", "externalTicketId"}, Static: map[string]any{"channel": "email"}},
	})
	cfg := pipeline.Config{
		Workers: 2, MaxAttempts: 5, MaxAge: time.Hour, Lease: time.Minute, Poll: 50 * time.Millisecond,
		AuthRetry: time.Minute, BackoffInitial: time.Second, BackoffMax: time.Minute, Location: time.UTC,
		Subchannels: map[int]pipeline.Subchannel{1: {Process: "batch", Direction: "in"}, 2: {Process: "batch", Direction: "in"}},
	}
	if edit != nil {
		edit(&cfg)
	}
	p := pipeline.New(st, client, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		st.Close()
		a.AssertValid(t)
	})
	return &stack{api: a, p: p}
}

// listen starts a mailbridge SMTP listener on a free loopback port.
func (s *stack) listen(t *testing.T, opts smtp.Options) string {
	t.Helper()
	r, err := smtp.NewRouter([]smtp.Route{
		{Address: "support@example.com", SubchannelID: 1},
		{Address: "*@help.example.com", SubchannelID: 2},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	opts.Router, opts.Name, opts.Hostname = r, "e2e", "mailbridge.test"
	if opts.AllowedNetworks == nil {
		opts.AllowedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	srv, err := smtp.New(opts, s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

func TestSwaks(t *testing.T) {
	swaks := testenv.LookTool(t, "swaks")
	s := newStack(t)
	certFile, keyFile := writeCert(t)
	cert := loadCert(t, certFile, keyFile)
	open := s.listen(t, smtp.Options{TLS: cert})
	authOnly := s.listen(t, smtp.Options{TLS: cert, AllowedNetworks: []netip.Prefix{},
		Users: []smtp.User{{Username: "relay", Password: "s3cret"}}})

	attachment := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(attachment, []byte("%PDF-1.4 not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, swaks, append([]string{"--from", "customer@example.org",
			"--timeout", "10"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("swaks %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Run("plain", func(t *testing.T) {
		run(t, "--server", open, "--to", "support@example.com", "--header", "Subject: plain")
	})
	t.Run("starttls", func(t *testing.T) {
		out := run(t, "--server", open, "--tls", "--to", "anyone@help.example.com", "--header", "Subject: starttls")
		if !strings.Contains(out, "TLS started") {
			t.Errorf("no TLS:\n%s", out)
		}
	})
	t.Run("auth", func(t *testing.T) {
		run(t, "--server", authOnly, "--tls", "--auth", "PLAIN", "--auth-user", "relay", "--auth-password", "s3cret",
			"--to", "support@example.com", "--header", "Subject: auth")
	})
	t.Run("attachment", func(t *testing.T) {
		run(t, "--server", open, "--to", "support@example.com", "--header", "Subject: attachment",
			"--attach", "@"+attachment)
	})
	t.Run("relay refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, swaks, "--server", authOnly, "--from", "a@example.org",
			"--to", "support@example.com").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "530 5.7.0") {
			t.Errorf("unauthenticated client: %v\n%s", err, out)
		}
		out, _ = exec.CommandContext(ctx, swaks, "--server", open, "--from", "a@example.org",
			"--to", "someone@elsewhere.example").CombinedOutput()
		if !strings.Contains(string(out), "550 5.1.1") {
			t.Errorf("unrouted recipient:\n%s", out)
		}
	})

	convs := s.api.WaitConversations(t, 4, 20*time.Second)
	bySubject := map[string]testapi.StoredConversation{}
	for _, c := range convs {
		bySubject[c.Payload.Subject] = c
	}
	for subject, sub := range map[string]int{"plain": 1, "starttls": 2, "auth": 1, "attachment": 1} {
		c, ok := bySubject[subject]
		if !ok {
			t.Errorf("no conversation %q (have %d)", subject, len(convs))
			continue
		}
		if c.Payload.SubchannelID != sub || c.Payload.From != "customer@example.org" {
			t.Errorf("%s: subchannel %d, from %q", subject, c.Payload.SubchannelID, c.Payload.From)
		}
		src := fmt.Sprint(c.Payload.RawData["source"])
		if !strings.Contains(src, "smtp") {
			t.Errorf("%s: rawData.source = %s", subject, src)
		}
	}
	if a := bySubject["attachment"].Payload.Attachments; len(a) != 1 || a[0].Name != "invoice.pdf" {
		t.Errorf("attachments = %+v", a)
	}
	if src := fmt.Sprint(bySubject["auth"].Payload.RawData["source"]); !strings.Contains(src, "relay") {
		t.Errorf("auth user missing from rawData.source: %s", src)
	}
}

// TestPostfixRelay: Postfix relays a domain to mailbridge; mail injected
// with sendmail arrives at the API. While the store fails, mailbridge
// answers 451, Postfix defers, and delivers after the store is back.
func TestPostfixRelay(t *testing.T) {
	s := newStack(t)
	addr := s.listen(t, smtp.Options{})
	pf := testenv.StartPostfix(t, "example.com", addr)

	pf.Sendmail("customer@example.org", []string{"support@example.com"},
		"From: Customer <customer@example.org>\nTo: support@example.com\nSubject: via postfix\n"+
			"Message-ID: <pf-1@example.org>\n\nHello from Postfix.\n")
	pf.WaitLog("status=sent (250 2.0.0 OK: queued as ", 20*time.Second)
	convs := s.api.WaitConversations(t, 1, 20*time.Second)
	if p := convs[0].Payload; p.Subject != "via postfix" || p.ExternalConversationID != "pf-1@example.org" ||
		!strings.Contains(p.BodyPlain, "Hello from Postfix.") {
		t.Errorf("payload = %+v", p)
	}

	s.down.Store(true)
	pf.Sendmail("customer@example.org", []string{"support@example.com"},
		"From: customer@example.org\nTo: support@example.com\nSubject: deferred\nMessage-ID: <pf-2@example.org>\n\nLater.\n")
	pf.WaitLog("451 4.3.0", 20*time.Second)
	if n := s.api.CountByExternalID("pf-2@example.org"); n != 0 {
		t.Fatalf("deferred message stored %d times while the store was down", n)
	}
	s.down.Store(false)
	// A flush while Postfix still holds the deferred message in delivery
	// is skipped ("still being delivered"), so flush until it arrives.
	var flushed time.Time
	testenv.WaitFor(t, 30*time.Second, "the deferred message at the API", func() bool {
		if s.api.CountByExternalID("pf-2@example.org") > 0 {
			return true
		}
		if time.Since(flushed) > time.Second {
			pf.Flush()
			flushed = time.Now()
		}
		return false
	})
	if n := s.api.CountByExternalID("pf-2@example.org"); n != 1 {
		t.Fatalf("deferred message stored %d times, want 1", n)
	}
}
