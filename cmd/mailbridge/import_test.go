package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/internal/testenv"
)

// archiveMessage is an old mail of the archive.
func archiveMessage(id, from string) []byte {
	return []byte("From: " + from + "\r\nTo: support@example.com\r\nSubject: archive " + id +
		"\r\nDate: Sun, 01 Jun 2025 12:00:00 +0000\r\nMessage-ID: <" + id + ">\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nAn old question, " + id + ".\r\n")
}

// loginDovecot is the test's own connection to dc, logged in.
func loginDovecot(t *testing.T, dc *testenv.Dovecot) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(dc.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(dc.User, dc.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

func appendIMAP(t *testing.T, c *imapclient.Client, folder string, raw []byte, flags []imap.Flag, date time.Time) {
	t.Helper()
	cmd := c.Append(folder, int64(len(raw)), &imap.AppendOptions{Flags: flags, Time: date})
	if _, err := cmd.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("APPEND %s: %v", folder, err)
	}
}

// folderFlags returns the flags of every message of folder by Message-ID.
func folderFlags(t *testing.T, c *imapclient.Client, folder string) map[string][]imap.Flag {
	t.Helper()
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true, Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]imap.Flag{}
	for _, m := range msgs {
		out[m.Envelope.MessageID] = m.Flags
	}
	return out
}

// `mailbridge import --since` of 500 old mails (480 seen, 20 unseen, in a
// folder the daemon reads with startAt: unseen) posts each seen one once
// with process "false", leaves the unseen ones to the daemon, never
// changes a flag, and a run
// killed halfway (SIGKILL) and started again posts nothing twice. A Sent
// folder's mail goes out.
func TestImportArchiveKilledAndResumed(t *testing.T) {
	bin := testenv.MailbridgeBinary(t)
	dc := testenv.StartDovecot(t)
	api := testapi.New(t, testapi.Options{Token: "import-token"})
	t.Cleanup(func() { api.AssertValid(t) })
	c := loginDovecot(t, dc)
	var want, unseen []string
	inRange := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := range 500 {
		id := fmt.Sprintf("archive-%d@example.org", i)
		flags := []imap.Flag{imap.FlagSeen}
		if i%25 == 0 {
			flags = nil
			unseen = append(unseen, id)
		} else {
			want = append(want, id)
		}
		appendIMAP(t, c, "INBOX", archiveMessage(id, fmt.Sprintf("customer%d@example.org", i%40)), flags, inRange)
	}
	for i := range 20 { // before --since
		appendIMAP(t, c, "INBOX", archiveMessage(fmt.Sprintf("older-%d@example.org", i), "old@example.org"),
			[]imap.Flag{imap.FlagSeen}, time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC))
	}
	before := folderFlags(t, c, "INBOX")

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	host, port, _ := strings.Cut(dc.Addr, ":")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
admin: {listen: ""}
store: {path: %s/queue.db}
api: {baseURL: %s, token: import-token, timeout: 2s}
delivery: {lease: 3s, backoff: {initial: 100ms, max: 1s}}
subchannels: [{id: 4, name: Support}]
mailboxes:
  - name: support
    subchannelId: 4
    host: %s
    port: %s
    security: none
    allowInsecure: true
    username: %s
    password: %s
    folders: [INBOX]
`, dir, api.URL(), host, port, dc.User, dc.Password)), 0o600); err != nil {
		t.Fatal(err)
	}
	importCmd := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"import", "-c", cfg, "--batch", "10"}, args...)...)
		cmd.Stdout, cmd.Stderr = &testenv.Buffer{}, &testenv.Buffer{}
		return cmd
	}

	first := importCmd("--since", "2025-01-01", "support")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Process.Kill() })
	api.WaitConversations(t, 200, 2*time.Minute)
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	killedAt := len(api.Conversations())
	t.Logf("killed with %d of %d posted", killedAt, len(want))
	if killedAt >= len(want) {
		t.Fatal("the import finished before it was killed")
	}

	second := importCmd("support", "--since", "2025-01-01")
	done := make(chan error, 1)
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- second.Wait() }()
	// Live mail queued in the middle of the import is delivered before
	// the rest of the archive.
	live := filepath.Join(dir, "live.eml")
	if err := os.WriteFile(live, []byte("From: Live <live@example.org>\r\nTo: support@example.com\r\n"+
		"Subject: urgent\r\nMessage-ID: <live-1@example.org>\r\n\r\nHelp now.\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	api.WaitConversations(t, killedAt+30, time.Minute)
	if out, err := exec.Command(bin, "deliver", "-c", cfg, "--enqueue-only", live).CombinedOutput(); err != nil {
		t.Fatalf("deliver --enqueue-only: %v\n%s", err, out)
	}
	// Posted by the time the live mail was queued. Queued by another
	// process, it is claimed at a worker's next poll of the queue (within
	// delivery.poll), while the import's own mail goes on: it is posted
	// well before the rest of the archive, however fast that goes.
	postedAtEnqueue := len(api.Conversations())
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("second run: %v\n%s\n%s", err, second.Stdout, second.Stderr)
		}
	case <-time.After(3 * time.Minute):
		second.Process.Kill()
		t.Fatalf("second run did not finish\n%s", second.Stdout)
	}
	out := second.Stdout.(*testenv.Buffer).String()
	t.Logf("second run:\n%s", out)
	if !strings.Contains(out, "resuming an earlier run") || !strings.Contains(out, "everything queued is delivered") {
		t.Errorf("second run's report lacks the resumption or the end")
	}
	if !strings.Contains(out, "import support/INBOX: ") || !strings.Contains(out, "msgs/s, ETA") {
		t.Errorf("no plain progress line with rate and ETA (stdout is not a terminal)")
	}

	st := api.State()
	if len(st.Conversations) != len(want)+1 {
		t.Errorf("%d conversations posted, want %d and the live one", len(st.Conversations), len(want))
	}
	liveAt := slices.IndexFunc(st.Conversations, func(c testapi.StoredConversation) bool {
		return c.Payload.ExternalConversationID == "live-1@example.org"
	})
	switch {
	case liveAt < 0:
		t.Fatal("the live mail was not posted")
	case st.Conversations[liveAt].Payload.Process != "batch":
		t.Errorf("the live mail posted with process %q, want the subchannel's batch", st.Conversations[liveAt].Payload.Process)
	case len(st.Conversations)-1-liveAt < (len(st.Conversations)-postedAtEnqueue)/4:
		t.Errorf("the live mail was posted %dth of %d, %d after its enqueue: behind nearly all of the archive",
			liveAt+1, len(st.Conversations), liveAt-postedAtEnqueue)
	}
	t.Logf("the live mail was posted %dth of %d, %d after its enqueue", liveAt+1, len(st.Conversations), liveAt-postedAtEnqueue)
	for _, id := range want {
		if n := st.CountByExternalID(id); n != 1 {
			t.Errorf("%s posted %d times, want once", id, n)
		}
	}
	for _, id := range unseen {
		if n := st.CountByExternalID(id); n != 0 {
			t.Errorf("%s is unseen, left to the daemon's first start, and was imported %d times", id, n)
		}
	}
	for _, conv := range st.Conversations {
		if conv.Payload.ExternalConversationID == "live-1@example.org" {
			continue
		}
		if conv.Payload.Process != "false" || conv.Payload.Direction != "in" {
			t.Errorf("%s posted with process %q direction %q, want false, in",
				conv.Payload.ExternalConversationID, conv.Payload.Process, conv.Payload.Direction)
			break
		}
		if strings.HasPrefix(conv.Payload.ExternalConversationID, "older-") {
			t.Errorf("%s is from before --since", conv.Payload.ExternalConversationID)
		}
	}
	after := folderFlags(t, c, "INBOX")
	for id, f := range before {
		if !slices.Equal(f, after[id]) {
			t.Errorf("%s: flags %v before the import, %v after", id, f, after[id])
		}
	}
	for _, id := range unseen {
		if slices.Contains(after[id], imap.FlagSeen) {
			t.Errorf("%s was unseen and is \\Seen after the import", id)
		}
	}

	// A Sent folder's mail goes out, threaded onto the tickets of the
	// mail it answers.
	if err := c.Create("Sent", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	reply := []byte("From: support@example.com\r\nTo: customer1@example.org\r\nSubject: Re: archive archive-1@example.org\r\n" +
		"Date: Mon, 02 Jun 2025 09:00:00 +0000\r\nMessage-ID: <reply-1@example.com>\r\nIn-Reply-To: <archive-1@example.org>\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nThe answer.\r\n")
	appendIMAP(t, c, "Sent", reply, []imap.Flag{imap.FlagSeen}, inRange)
	sent := importCmd("support", "--folder", "Sent")
	var stdout bytes.Buffer
	sent.Stdout = &stdout
	if err := sent.Run(); err != nil {
		t.Fatalf("import --folder Sent: %v\n%s", err, sent.Stderr)
	}
	if !strings.Contains(stdout.String(), "direction out") {
		t.Errorf("Sent import report: %s", stdout.String())
	}
	st = api.State()
	var replyConv, question *testapi.StoredConversation
	for i := range st.Conversations {
		switch st.Conversations[i].Payload.ExternalConversationID {
		case "reply-1@example.com":
			replyConv = &st.Conversations[i]
		case "archive-1@example.org":
			question = &st.Conversations[i]
		}
	}
	switch {
	case replyConv == nil || question == nil:
		t.Fatalf("the reply or its question was not posted")
	case replyConv.Payload.Direction != "out" || replyConv.Payload.Process != "false":
		t.Errorf("reply posted with direction %q process %q, want out, false", replyConv.Payload.Direction, replyConv.Payload.Process)
	case replyConv.TicketID != question.TicketID:
		t.Errorf("reply on ticket %d, its question on %d: not threaded", replyConv.TicketID, question.TicketID)
	}
}

// Off a terminal, progress is a plain line with count, share, rate and
// ETA, at most every few seconds and at the end.
func TestImportProgressLines(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, "support/INBOX")
	if p.bar != nil {
		t.Fatal("a progress bar on a buffer")
	}
	p.start = time.Now().Add(-10 * time.Second)
	p.update(0, 1000)
	p.update(100, 1000) // within plainEvery of the line before: not written
	p.last = time.Time{}
	p.update(400, 1000)
	p.update(1000, 1000)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || lines[0] != "import support/INBOX: 0/1,000 (0%)" ||
		!strings.HasPrefix(lines[1], "import support/INBOX: 400/1,000 (40%), 40 msgs/s, ETA 15s") ||
		!strings.HasPrefix(lines[2], "import support/INBOX: 1,000/1,000 (100%), ") {
		t.Errorf("progress lines:\n%s", out.String())
	}
}

func TestImportFlags(t *testing.T) {
	for _, tt := range []struct {
		since, until, direction string
		ok                      bool
	}{
		{"2025-01-01", "2026-01-01", "", true},
		{"", "", "out", true},
		{"2025-13-01", "", "", false},
		{"2026-01-01", "2025-01-01", "", false},
		{"", "", "sideways", false},
	} {
		_, err := importOptions(tt.since, tt.until, tt.direction)
		if (err == nil) != tt.ok {
			t.Errorf("importOptions(%q, %q, %q) = %v, want ok %v", tt.since, tt.until, tt.direction, err, tt.ok)
		}
	}
	code, _, stderr := run(t, "import", "-c", "/nonexistent.yaml")
	if code != exitUsage || !strings.Contains(stderr, "one MAILBOX expected") {
		t.Errorf("import without a mailbox: exit %d, %s", code, stderr)
	}
}
