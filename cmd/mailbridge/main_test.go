package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"

	"github.com/enneo/mailbridge/internal/spec"
	"github.com/enneo/mailbridge/internal/testapi"
)

const sample = "../../mapper/testdata/10-iso-8859-1-german.eml"

// writeConfig writes a config.yaml into a fresh directory; extra is
// appended YAML. The store and the dry-run outbox live in that directory.
// The admin listener takes any free port, so that daemons of tests
// running at once do not collide on the default.
func writeConfig(t *testing.T, api string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
admin:
  listen: 127.0.0.1:0
store:
  path: %[1]s/queue.db
api:
  dryRunDir: %[1]s/outbox
%[2]s
delivery:
  backoff: {initial: 1s, max: 1m}
subchannels:
  - id: 4
    name: Support
`, dir, api)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = mainArgs(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	cfg := writeConfig(t, "")
	for _, tc := range []struct {
		args []string
		code int
	}{
		{nil, exitUsage},
		{[]string{"--help"}, exitOK},
		{[]string{"nonsense"}, exitUsage},
		{[]string{"version"}, exitOK},
		{[]string{"parse", "--help"}, exitOK},
		{[]string{"parse", "-c", cfg}, exitUsage},                     // no file
		{[]string{"parse", "-c", cfg, "/nonexistent.eml"}, exitUsage}, // unreadable file
		{[]string{"parse", "--no-such-flag"}, exitUsage},
		{[]string{"parse", "-c", cfg, "--subchannel", "99", sample}, exitUsage}, // unknown subchannel
		{[]string{"check", "-c", "/nonexistent/config.yaml"}, exitUsage},
		{[]string{"queue", "-c", cfg}, exitUsage},
		{[]string{"queue", "-c", cfg, "explode"}, exitUsage},
		{[]string{"queue", "-c", cfg, "show", "x"}, exitUsage},
		{[]string{"queue", "-c", cfg, "show", "42"}, exitFailure}, // no such message
		{[]string{"mailbox", "-c", cfg, "test", "nope"}, exitUsage},
		{[]string{"mailbox", "-c", cfg}, exitUsage},
		{[]string{"check", "-c", cfg}, exitOK},
	} {
		if code, _, stderr := run(t, tc.args...); code != tc.code {
			t.Errorf("mailbridge %q: exit %d, want %d (stderr: %s)", tc.args, code, tc.code, stderr)
		}
	}
}

func TestCheckReportsConfigErrorsWithPaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	os.WriteFile(path, []byte("subchannels:\n  - id: 4\n    procces: batch\ndelivery:\n  lease: 5 minutes\n"), 0o600)
	code, _, stderr := run(t, "check", "-c", path)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	for _, want := range []string{`subchannels[0].procces: unknown key (did you mean "process"?)`, `delivery.lease: invalid duration "5 minutes"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestParsePrintsTheExactPayload(t *testing.T) {
	cfg := writeConfig(t, "")
	code, stdout, stderr := run(t, "parse", "-c", cfg, "--explain", sample)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if err := spec.ValidateStoreRequest([]byte(stdout)); err != nil {
		t.Errorf("parse output violates the contract: %v", err)
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout)
	}
	if p["subject"] != "Rückfrage zur Bestellung für Müller & Söhne" || p["subchannelId"] != float64(4) {
		t.Errorf("payload = %v", p)
	}
	for _, want := range []string{"subchannel: 4", "ticket: a new ticket", "externalConversationId: 4f2a9c31"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("--explain lacks %q:\n%s", want, stderr)
		}
	}
	if _, plain, _ := run(t, "parse", "-c", cfg, sample); strings.TrimSpace(plain) != strings.TrimSpace(stdout) {
		t.Errorf("--explain changed stdout")
	}
}

func TestDeliverAgainstTheAPIAndManageTheQueue(t *testing.T) {
	srv := testapi.New(t, testapi.Options{Token: "cli-token"})
	t.Cleanup(func() { srv.AssertValid(t) })
	cfg := writeConfig(t, fmt.Sprintf("  baseURL: %s\n  token: cli-token", srv.URL()))

	code, stdout, stderr := run(t, "deliver", "-c", cfg, "--subchannel", "4", sample)
	if code != exitOK || !strings.Contains(stdout, "queue id 1: delivered") {
		t.Fatalf("deliver: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if strings.Contains(stderr, "cli-token") {
		t.Errorf("token in the log")
	}
	// The same file again is a duplicate, not a second conversation.
	code, stdout, _ = run(t, "deliver", "-c", cfg, sample)
	if code != exitOK || !strings.Contains(stdout, "duplicate") {
		t.Errorf("second deliver: exit %d\n%s", code, stdout)
	}
	if n := srv.CountByExternalID("4f2a9c31.20250310080533@mail.example.com"); n != 1 {
		t.Errorf("API stored %d conversations, want 1", n)
	}

	// A permanent error: exit 1, the message is a dead letter an operator
	// can list, retry and drop.
	srv.Inject(testapi.Fault{Path: "conversation/store", Status: 400, Times: 1})
	code, _, _ = run(t, "deliver", "-c", cfg, "../../mapper/testdata/01-text-only.eml")
	if code != exitFailure {
		t.Fatalf("deliver with a 400: exit %d, want %d", code, exitFailure)
	}
	_, list, _ := run(t, "queue", "-c", cfg, "list", "--state", "dead")
	if !strings.Contains(list, "Question about invoice") || strings.Contains(list, "Rückfrage") {
		t.Errorf("dead letters:\n%s", list)
	}
	if code, out, _ := run(t, "queue", "-c", cfg, "show", "2"); code != exitOK || !strings.Contains(out, "state:              dead") {
		t.Errorf("queue show: exit %d\n%s", code, out)
	}
	if code, out, _ := run(t, "queue", "-c", cfg, "show", "--raw", "2"); code != exitOK || !strings.Contains(out, "\r\nSubject: Question about invoice #4711\r\n") {
		t.Errorf("queue show --raw: exit %d\n%.100s", code, out)
	}
	if code, _, _ := run(t, "queue", "-c", cfg, "retry", "2"); code != exitOK {
		t.Errorf("queue retry: exit %d", code)
	}
	if code, _, stderr := run(t, "queue", "-c", cfg, "retry", "1"); code != exitFailure || !strings.Contains(stderr, "state") {
		t.Errorf("retry of a delivered message: exit %d %s", code, stderr)
	}
	if code, _, _ := run(t, "queue", "-c", cfg, "drop", "2"); code != exitOK {
		t.Errorf("queue drop: exit %d", code)
	}
	if _, list, _ = run(t, "queue", "-c", cfg, "list", "--state", "dropped"); !strings.Contains(list, "Question about invoice") {
		t.Errorf("dropped:\n%s", list)
	}
}

// TestDaemonDryRun is README's quick start: the daemon in dry run on an
// SQLite queue, fed one message by `deliver --enqueue-only`, writes the
// payload it would post and stops cleanly on SIGTERM.
func TestDaemonDryRun(t *testing.T) {
	bin := testenv.MailbridgeBinary(t)
	cfg := writeConfig(t, "")
	daemon, logs := startProcess(t, bin, cfg)

	if out, err := exec.Command(bin, "deliver", "-c", cfg, "--enqueue-only", sample).CombinedOutput(); err != nil {
		t.Fatalf("deliver --enqueue-only: %v\n%s", err, out)
	}
	outbox := filepath.Join(filepath.Dir(cfg), "outbox")
	files := waitPayloads(t, outbox, logs)
	if len(files) != 1 {
		t.Fatalf("outbox holds %v; daemon log:\n%s", files, logs.String())
	}
	body, _ := os.ReadFile(files[0])
	if err := spec.ValidateStoreRequest(body); err != nil {
		t.Errorf("dry-run payload violates the contract: %v", err)
	}
	if err := daemon.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := daemon.Wait(); err != nil {
		t.Errorf("daemon exit after SIGTERM: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "mailbridge stopped") {
		t.Errorf("no orderly stop in the log:\n%s", logs.String())
	}
}

// waitPayloads waits up to 15 s for a conversation payload in the dry-run
// outbox and returns the payload files there.
func waitPayloads(t *testing.T, outbox string, logs *testenv.Buffer) []string {
	t.Helper()
	var files []string
	testenv.WaitUntil(t, 15*time.Second, "a payload in the outbox", func() (bool, string) {
		files, _ = filepath.Glob(filepath.Join(outbox, "*-ticket[0-9]*.json"))
		return len(files) > 0, "the daemon's log:\n" + logs.String()
	})
	return files
}
