package imap

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"
)

// cyrusNamespace makes Dovecot's personal folders live under "INBOX.",
// as on Cyrus and Courier: a folder named "Errors" cannot be created.
const cyrusNamespace = `
namespace inbox {
  inbox = yes
  prefix = INBOX.
  separator = .
}
`

// An error folder or move target the server refuses to create is a
// configuration error, in Probe (check) and at connect, naming the folder
// and the INBOX. name the server's NAMESPACE suggests; the poller fetches
// nothing meanwhile rather than fetching the folder again and again.
func TestDovecotTargetRefused(t *testing.T) {
	dc := testenv.StartDovecotWith(t, cyrusNamespace)
	c := dialClient(t, dc.Addr, dc.User, dc.Password)
	for i := range 3 {
		c.append("INBOX", testMessage("target-"+string(rune('a'+i))+"@example.org", "target"))
	}
	account := Account{Name: "support", Addr: dc.Addr, Security: Insecure,
		Username: dc.User, Password: dc.Password, Timeout: 5 * time.Second}

	_, err := Probe(context.Background(), account, []string{"INBOX"}, ProbeOptions{ErrorFolder: "Errors"})
	if !errors.Is(err, ErrTarget) || !strings.Contains(err.Error(), `errorFolder "Errors"`) ||
		!strings.Contains(err.Error(), `try "INBOX.Errors"`) {
		t.Errorf("Probe: %v; want ErrTarget naming errorFolder \"Errors\" and suggesting INBOX.Errors", err)
	}
	t.Logf("Probe: %v", err)
	_, err = Probe(context.Background(), account, []string{"INBOX"}, ProbeOptions{After: Action{Kind: ActionMove, Arg: "Done"}})
	if !errors.Is(err, ErrTarget) || !strings.Contains(err.Error(), `afterProcess "Done"`) || !strings.Contains(err.Error(), `try "INBOX.Done"`) {
		t.Errorf("Probe: %v; want ErrTarget naming afterProcess \"Done\"", err)
	}

	q, cp, log := newFakeQueue(), newMemCheckpoints(), &logBuffer{}
	cfg := Config{
		Account: account, Folder: "INBOX", SubchannelID: 4, IDLE: true, IdleRestart: time.Minute,
		PollInterval: time.Minute, BatchSize: 100, ErrorFolder: "Errors",
		Ingester: q, Checkpoints: cp, MinBackoff: 20 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		Log: log.logger(),
	}
	p, stop := startPollerP(t, cfg)
	testenv.WaitFor(t, 10*time.Second, "several failed sessions", func() bool { return p.Status().Errors >= 5 })
	stop()
	if n := q.callCount(); n != 0 {
		t.Errorf("%d messages fetched and queued with an error folder that cannot exist", n)
	}
	if st := p.Status(); !strings.Contains(st.LastError, `try "INBOX.Errors"`) {
		t.Errorf("status last error %q, want the suggestion", st.LastError)
	}
	if n := strings.Count(log.String(), "level=ERROR msg=\"imap configuration error"); n != 1 {
		t.Errorf("the configuration error is logged %d times at error level, want once:\n%s", n, log)
	}

	// With the name the server suggests, the folder is created and read.
	cfg.ErrorFolder = "INBOX.Errors"
	if _, err := Probe(context.Background(), account, []string{"INBOX"}, ProbeOptions{ErrorFolder: cfg.ErrorFolder}); err != nil {
		t.Fatalf("Probe with INBOX.Errors: %v", err)
	}
	startPoller(t, cfg)
	q.waitUnique(t, 3, 20*time.Second)
}
