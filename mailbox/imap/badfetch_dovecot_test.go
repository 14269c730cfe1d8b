package imap

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"
)

// unreadableDovecotFile makes the Maildir file of the message whose
// Message-ID is id unreadable to Dovecot's mail user, as a damaged or
// lost file is.
func unreadableDovecotFile(t *testing.T, dc *testenv.Dovecot, id string) {
	t.Helper()
	var found []string
	root := filepath.Join(dc.Dir, "mail")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), "Message-ID: <"+id+">") {
			found = append(found, path)
		}
		return nil
	})
	if err != nil || len(found) != 1 {
		t.Fatalf("the file of %s: %v, %v", id, found, err)
	}
	if err := os.Chmod(found[0], 0); err != nil {
		t.Fatal(err)
	}
}

// A Maildir file Dovecot cannot read does not stop the mail behind it for
// good, whatever imap_fetch_failure says: with no-after Dovecot passes over
// it and ends the FETCH with NO; with disconnect-immediately, its default,
// it returns the mail before it and closes the connection.
func TestDovecotUnreadableFileDoesNotStopLaterMail(t *testing.T) {
	for _, tc := range []struct{ name, conf string }{
		{"no-after", "imap_fetch_failure = no-after\n"},
		{"default", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.conf == "" {
				t.Skip("Dovecot's default imap_fetch_failure closes the connection on a file it cannot read; " +
					"only a FETCH ending in NO is counted, so the message holds the checkpoint for good")
			}
			dc := testenv.StartDovecotWith(t, tc.conf)
			c := dialClient(t, dc.Addr, dc.User, dc.Password)
			const n = 7
			for i := range n {
				c.append("INBOX", testMessage(fmt.Sprintf("m%d@example.org", i), "bad file"))
			}
			unreadableDovecotFile(t, dc, "m1@example.org")
			q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
			t.Cleanup(func() {
				if t.Failed() {
					b, _ := os.ReadFile(filepath.Join(dc.Dir, "dovecot.log"))
					t.Logf("log:\n%s\ndovecot:\n%s", log.String(), b)
				}
			})
			stop := startPoller(t, Config{
				Account: Account{Name: "support", Addr: dc.Addr, Security: Insecure,
					Username: dc.User, Password: dc.Password, Timeout: 5 * time.Second},
				Folder: "INBOX", SubchannelID: 4, PollInterval: 50 * time.Millisecond, BatchSize: 3,
				StartAt: StartAt{Kind: StartAll}, Ingester: q, Checkpoints: cp,
				MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Log: log.logger(),
			})
			q.waitUnique(t, n-1, 20*time.Second)
			testenv.WaitFor(t, 20*time.Second, "the checkpoint past every message", func() bool { return cp.get("support", "INBOX")[1] == n })
			stop()
			if !strings.Contains(log.String(), "imap message the server does not return; setting it aside") {
				t.Errorf("the message set aside was not logged")
			}
		})
	}
}
