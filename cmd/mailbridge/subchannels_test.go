package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/internal/testenv"
)

// enneoSubchannels is the API side of the tests below: two usable
// mailboxes, a disabled one and a chat.
var enneoSubchannels = []testapi.Subchannel{
	{ID: 4, Name: "Billing", Enabled: true},
	{ID: 2, Name: "Support", Enabled: true, IsDefault: true},
	{ID: 5, Name: "Old"},
	{ID: 6, Name: "Chat", Channel: "chat", Enabled: true},
}

// subchannelConfig writes a config.yaml for the API at baseURL with the
// given subchannel ids.
func subchannelConfig(t *testing.T, baseURL string, ids ...int) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "admin: {listen: off}\nstore:\n  path: %s/queue.db\napi:\n  baseURL: %s\n  token: cli-token\n  timeout: 5s\nsubchannels:\n", dir, baseURL)
	for _, id := range ids {
		fmt.Fprintf(&b, "  - id: %d\n", id)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// downURL is the base URL of an API that refuses connections.
func downURL(t *testing.T) string {
	return "http://" + testenv.FreeAddr(t) + "/api/mind"
}

func TestCheckSubchannelMismatches(t *testing.T) {
	srv := testapi.New(t, testapi.Options{Token: "cli-token", Subchannels: enneoSubchannels})

	code, stdout, stderr := run(t, "check", "-c", subchannelConfig(t, srv.URL(), 2, 4))
	if code != exitOK || !strings.Contains(stdout, "subchannels: ok") {
		t.Fatalf("matching subchannels: exit %d\n%s\n%s", code, stdout, stderr)
	}

	code, stdout, stderr = run(t, "check", "-c", subchannelConfig(t, srv.URL(), 2, 7, 6, 5))
	if code != exitUsage {
		t.Errorf("exit %d, want %d\n%s", code, exitUsage, stderr)
	}
	for _, want := range []string{
		`subchannels[1].id 7: no such subchannel; known email subchannels: 2 Support, 4 Billing`,
		`subchannels[2].id 6: subchannel "Chat" is channel chat, not email`,
		`subchannels[3].id 5: subchannel "Old" is disabled`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "subchannels[0]") || !strings.Contains(stdout, "subchannels: FAILED") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "cli-token") {
		t.Error("token in the output")
	}

	// An API that cannot be asked is a failure, not a configuration error.
	code, _, stderr = run(t, "check", "-c", subchannelConfig(t, downURL(t), 2))
	if code != exitFailure || !strings.Contains(stderr, "cannot verify subchannels") {
		t.Errorf("API down: exit %d, want %d\n%s", code, exitFailure, stderr)
	}
}

func TestRunRefusesSubchannelMismatch(t *testing.T) {
	srv := testapi.New(t, testapi.Options{Token: "cli-token", Subchannels: enneoSubchannels})
	code, _, stderr := run(t, "run", "-c", subchannelConfig(t, srv.URL(), 5), "--start-without-api")
	if code != exitUsage || !strings.Contains(stderr, `subchannels[0].id 5: subchannel "Old" is disabled`) {
		t.Errorf("exit %d, want %d\n%s", code, exitUsage, stderr)
	}
	if n := srv.CountRequests("GET", "/settings/subchannel"); n != 1 {
		t.Errorf("%d subchannel requests, want 1", n)
	}
}

func TestRunWithoutAPI(t *testing.T) {
	cfg := subchannelConfig(t, downURL(t), 2)
	code, _, stderr := run(t, "run", "-c", cfg)
	if code != exitFailure || !strings.Contains(stderr, "--start-without-api") {
		t.Fatalf("API down, no flag: exit %d, want %d\n%s", code, exitFailure, stderr)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logs := &testenv.Buffer{}
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, []string{"-c", cfg, "--start-without-api"}, logs, logs) }()
	testenv.WaitUntil(t, 15*time.Second, "the daemon to start", func() (bool, string) {
		select {
		case err := <-done:
			t.Fatalf("daemon returned %v:\n%s", err, logs.String())
		default:
		}
		return strings.Contains(logs.String(), "mailbridge started"), "the log:\n" + logs.String()
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("daemon: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "API unreachable") {
		t.Errorf("no warning about the skipped check:\n%s", logs.String())
	}
}

func TestSubchannelsTable(t *testing.T) {
	srv := testapi.New(t, testapi.Options{Token: "cli-token", Subchannels: enneoSubchannels})
	code, stdout, stderr := run(t, "subchannels", "-c", subchannelConfig(t, srv.URL(), 2))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := "" +
		"ID  NAME     CHANNEL  ENABLED\n" +
		"4   Billing  email    true\n" +
		"2   Support  email    true\n" +
		"5   Old      email    false\n" +
		"6   Chat     chat     true\n"
	if stdout != want {
		t.Errorf("table:\n%s\nwant:\n%s", stdout, want)
	}
	if code, _, _ := run(t, "subchannels", "-c", writeConfig(t, "")); code != exitUsage {
		t.Errorf("dry run: exit %d, want %d", code, exitUsage)
	}
}

// check says whether the API lists a ticket's conversations, which the
// check after a 5xx or a timeout on a store needs; a missing listing is a
// warning, not a failure.
func TestCheckConversationListing(t *testing.T) {
	with := testapi.New(t, testapi.Options{Token: "cli-token", Subchannels: enneoSubchannels})
	code, stdout, stderr := run(t, "check", "-c", subchannelConfig(t, with.URL(), 2))
	if code != exitOK || !strings.Contains(stdout, "conversation listing: ok") {
		t.Errorf("with the listing: exit %d\n%s\n%s", code, stdout, stderr)
	}
	without := testapi.New(t, testapi.Options{Token: "cli-token", Subchannels: enneoSubchannels, NoConversationList: true})
	code, stdout, stderr = run(t, "check", "-c", subchannelConfig(t, without.URL(), 2))
	if code != exitOK || !strings.Contains(stdout, "warning: the API does not list a ticket's conversations") {
		t.Errorf("without the listing: exit %d\n%s\n%s", code, stdout, stderr)
	}
}
