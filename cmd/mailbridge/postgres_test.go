package main

import (
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/enneo/mailbridge/config"
	"github.com/enneo/mailbridge/internal/testenv"
	mbimap "github.com/enneo/mailbridge/mailbox/imap"
)

// The commands work the same on store.driver postgres, and never print the
// connection string's password.
func TestPostgresStore(t *testing.T) {
	dsn := testenv.UsePostgres(t).Schema(t, "cmd")
	t.Setenv("MB_TEST_DSN", dsn)
	cfg := writeConfig(t, "")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = regexp.MustCompile(`(?m)^  path: .*$`).ReplaceAllLiteral(b, []byte("  driver: postgres\n  dsn: ${MB_TEST_DSN}"))
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var outputs []string
	cmd := func(want int, args ...string) string {
		t.Helper()
		code, stdout, stderr := run(t, append([]string{args[0], "-c", cfg}, args[1:]...)...)
		if code != want {
			t.Fatalf("mailbridge %q: exit %d, want %d\n%s%s", args, code, want, stdout, stderr)
		}
		outputs = append(outputs, stdout, stderr)
		return stdout
	}

	if out := cmd(exitOK, "check"); !strings.Contains(out, "store postgres ") || !strings.Contains(out, ": ok (0 queued") {
		t.Errorf("check:\n%s", out)
	}
	if out := cmd(exitOK, "deliver", "--enqueue-only", sample); !strings.Contains(out, "queue id") {
		t.Errorf("deliver --enqueue-only:\n%s", out)
	}
	if out := cmd(exitOK, "deliver", sample); !strings.Contains(out, "duplicate") {
		t.Errorf("deliver of the same mail again:\n%s", out)
	}
	if out := cmd(exitOK, "queue", "list"); !strings.Contains(out, "Rückfrage zur Bestellung") {
		t.Errorf("queue list:\n%s", out)
	}
	cmd(exitOK, "queue", "drop", "1")
	if out := cmd(exitOK, "queue", "list", "--state", "dropped"); !strings.Contains(out, "Rückfrage zur Bestellung") {
		t.Errorf("queue list --state dropped:\n%s", out)
	}

	// A server that is not there: the command fails, naming the database
	// but not the password.
	t.Setenv("MB_TEST_DSN", "postgres://mb:SECRET-PW@127.0.0.1:1/nowhere?connect_timeout=2")
	cmd(exitFailure, "check")
	for _, out := range outputs {
		if strings.Contains(out, "SECRET-PW") || strings.Contains(out, "mailbridge_test:mailbridge_test") {
			t.Errorf("password printed:\n%s", out)
		}
	}
}

// On a shared store each IMAP folder is polled under a lease; the poller
// keeps what the admin page reads of it.
func TestIMAPSourcesLeasedOnPostgres(t *testing.T) {
	st, err := openStore(t.Context(), config.Store{Driver: "postgres",
		DSN: config.Secret(testenv.UsePostgres(t).Schema(t, "imaplease"))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mb := config.Mailbox{
		Name: "support", SubchannelID: 1, Host: "imap.example.com", Port: 993, Security: "tls",
		Username: "bob", Password: "pw", Folders: []string{"INBOX"}, AfterProcess: "seen",
	}
	a := &app{cfg: &config.Config{Mailboxes: []config.Mailbox{mb}}, log: slog.New(slog.DiscardHandler), store: st}
	src, err := mailboxSources(a, mb, "test-holder")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := src[0].(leasedPoller)
	if !ok || p.lease.Name != "imap:support/INBOX" || p.lease.Holder == "" {
		t.Fatalf("source %T %+v, want a leased poller", src[0], src[0])
	}
	if _, ok := src[0].(interface{ Status() mbimap.Status }); !ok {
		t.Error("leased poller lost Status")
	}
}
