package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/enneo/mailbridge/config"
	"github.com/enneo/mailbridge/internal/testenv"
	mbimap "github.com/enneo/mailbridge/mailbox/imap"
)

// `mailbridge check` against Dovecot says per folder what a first start
// imports, then, once the folder has a checkpoint, what is pending; and a
// move target the server refuses is a configuration error (exit 2).
func TestCheckMailboxDovecot(t *testing.T) {
	dc := testenv.StartDovecotWith(t, `
namespace inbox {
  inbox = yes
  prefix = INBOX.
  separator = .
}
`)
	c := loginDovecot(t, dc)
	for i := range 1010 {
		var flags []imap.Flag
		if i%100 != 0 {
			flags = []imap.Flag{imap.FlagSeen}
		}
		appendIMAP(t, c, "INBOX", archiveMessage(fmt.Sprintf("check-%d@example.org", i), "a@example.org"), flags, time.Time{})
	}
	st, err := openStore(t.Context(), config.Store{Driver: "sqlite", Path: filepath.Join(t.TempDir(), "queue.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	host, port, _ := strings.Cut(dc.Addr, ":")
	portN, _ := strconv.Atoi(port)
	m := config.Mailbox{
		Name: "support", SubchannelID: 4, Host: host, Port: portN, Security: "none", AllowInsecure: true,
		Username: dc.User, Password: config.Secret(dc.Password), Folders: []string{"INBOX"},
		Timeout: config.Duration(5 * time.Second), AfterProcess: "seen", StartAt: "unseen",
	}
	check := func(m config.Mailbox) (string, error) {
		var out bytes.Buffer
		err := checkMailboxes(context.Background(), &app{cfg: &config.Config{Mailboxes: []config.Mailbox{m}}, store: st}, &out)
		return out.String(), err
	}
	out, err := check(m)
	if want := "  watching INBOX: 1,010 messages, 11 unseen; first start imports 11 (startAt: unseen)\n"; err != nil || !strings.Contains(out, want) {
		t.Errorf("first start: %v\n%s\nwant %q", err, out, want)
	}
	m.StartAt = "all"
	if out, _ := check(m); !strings.Contains(out, "first start imports 1,010 (startAt: all)") {
		t.Errorf("startAt all:\n%s", out)
	}

	// A folder being read: what is above its checkpoint.
	d, err := c.Status("INBOX", &imap.StatusOptions{UIDValidity: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetCheckpoint(t.Context(), "support", "INBOX", d.UIDValidity, 1000); err != nil {
		t.Fatal(err)
	}
	if out, _ := check(m); !strings.Contains(out, "  watching INBOX: 1,010 messages, 11 unseen; 10 pending above the checkpoint (UID 1000)\n") {
		t.Errorf("with a checkpoint:\n%s", out)
	}

	m.AfterProcess = "move:Done"
	out, err = check(m)
	var ue usageError
	if !errors.Is(err, mbimap.ErrTarget) || !errors.As(err, &ue) ||
		!strings.Contains(out, `mailbox support: FAILED: folder cannot be created: afterProcess "Done"`) ||
		!strings.Contains(out, `try "INBOX.Done"`) {
		t.Errorf("refused move target: %v\n%s", err, out)
	}
	t.Logf("check:\n%s", out)
}
