package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/enneo/mailbridge/internal/testenv"
)

// SIGHUP applies new SMTP routes, a new mailbox and a subchannel's new
// process to the running daemon, keeps an SMTP session opened before it,
// and refuses a broken configuration without disturbing anything.
func TestSIGHUPReload(t *testing.T) {
	bin := testenv.MailbridgeBinary(t)
	imapHost, imapPort, _ := net.SplitHostPort(memIMAP(t))
	smtpAddr := testenv.FreeAddr(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	// Only the route, the process, the mailboxes and the API timeout
	// differ between the two versions.
	config := func(route, process, timeout string, folders ...string) string {
		var mb strings.Builder
		for _, f := range folders {
			fmt.Fprintf(&mb, "  - {name: %s, subchannelId: 4, host: %s, port: %s, security: none, allowInsecure: true,\n"+
				"     username: bob, password: pw, folders: [%s], idle: false, pollInterval: 100ms}\n",
				strings.ToLower(f), imapHost, imapPort, f)
		}
		return fmt.Sprintf(`admin: {listen: off}
store: {path: %[1]s/queue.db}
api: {dryRunDir: %[1]s/outbox, timeout: %[2]s}
subchannels: [{id: 4, process: %[3]s}]
smtp:
  listeners: [{name: mta, address: "%[4]s"}]
  routes: [{address: %[5]s, subchannelId: 4}]
mailboxes:
%[6]s`, dir, timeout, process, smtpAddr, route, mb.String())
	}
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(config("old@example.com", "batch", "60s", "INBOX"))

	daemon, logs := startProcess(t, bin, cfgPath)
	// A session opened before the reload, idle across it.
	c := dialSMTP(t, smtpAddr, nil, logs)
	defer c.Close()
	if err := c.Hello("mta.example.org"); err != nil {
		t.Fatal(err)
	}

	hangup := func(want string) {
		t.Helper()
		before := strings.Count(logs.String(), want)
		if err := daemon.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		testenv.WaitUntil(t, 10*time.Second, fmt.Sprintf("%q after SIGHUP", want), func() (bool, string) {
			return strings.Count(logs.String(), want) > before, "the daemon's log:\n" + logs.String()
		})
	}
	write(config("new@example.com", "realtime", "30s", "INBOX", "Archive"))
	hangup("configuration reloaded")
	if !strings.Contains(logs.String(), `reload: these settings take effect only at the next start" keys=[api]`) {
		t.Errorf("no warning that api changes only at the next start:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), `msg="mailbox stopped" mailbox=inbox`) {
		t.Errorf("the unchanged mailbox was restarted:\n%s", logs.String())
	}

	// The old session, new routes.
	if err := c.Mail("a@example.org", nil); err != nil {
		t.Fatalf("MAIL on the session opened before the reload: %v", err)
	}
	if err := c.Rcpt("old@example.com", nil); err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("RCPT to the removed route: %v, want 550", err)
	}
	if err := c.Rcpt("new@example.com", nil); err != nil {
		t.Fatalf("RCPT to the new route: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, "From: a@example.org\r\nTo: new@example.com\r\nSubject: after reload\r\nMessage-ID: <smtp-reload@example.org>\r\n\r\nHi\r\n")
	if err := w.Close(); err != nil {
		t.Fatalf("DATA: %v", err)
	}

	// The new mailbox is polled.
	ic, err := imapclient.DialInsecure(net.JoinHostPort(imapHost, imapPort), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login("bob", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	raw := "From: b@example.org\r\nTo: archive@example.com\r\nSubject: archived\r\nMessage-ID: <imap-reload@example.org>\r\n\r\nHi\r\n"
	cmd := ic.Append("Archive", int64(len(raw)), nil)
	if _, err := cmd.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"smtp-reload@example.org", "imap-reload@example.org"} {
		body := waitOutbox(t, filepath.Join(dir, "outbox"), id, logs)
		if !strings.Contains(body, `"process": "realtime"`) && !strings.Contains(body, `"process":"realtime"`) {
			t.Errorf("%s: not stored with the reloaded process:\n%s", id, body)
		}
	}

	// A broken file is refused; the daemon goes on as it was.
	write(config("new@example.com", "realtime", "30s", "INBOX", "Archive") + "bogus: 1\n")
	hangup("reload refused")
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("new@example.com", nil); err != nil {
		t.Errorf("RCPT after a refused reload: %v", err)
	}
	c.Quit()

	if err := daemon.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := daemon.Wait(); err != nil {
		t.Errorf("daemon exit: %v\n%s", err, logs.String())
	}
}

// waitOutbox returns the dry-run payload of the conversation with
// externalConversationId id, waiting up to 15 s for it.
func waitOutbox(t *testing.T, outbox, id string, logs *testenv.Buffer) string {
	t.Helper()
	var payload string
	testenv.WaitUntil(t, 15*time.Second, id+" in the outbox", func() (bool, string) {
		files, _ := filepath.Glob(filepath.Join(outbox, "*-ticket[0-9]*.json"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if strings.Contains(string(b), id) {
				payload = string(b)
				return true, ""
			}
		}
		return false, "the daemon's log:\n" + logs.String()
	})
	return payload
}
