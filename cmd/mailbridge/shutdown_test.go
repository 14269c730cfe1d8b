package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/sqlite"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBuilds()
	os.Exit(code)
}

// startProcess runs `mailbridge run -c cfg` from bin, its log in the
// returned buffer; it is killed when the test ends, if still running.
func startProcess(t *testing.T, bin, cfg string) (*exec.Cmd, *testenv.Buffer) {
	t.Helper()
	logs := &testenv.Buffer{}
	daemon := exec.Command(bin, "run", "-c", cfg)
	daemon.Stderr = logs
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { daemon.Process.Kill() })
	return daemon, logs
}

// SIGTERM while 100 SMTP sessions are in the middle of DATA: the daemon
// stops accepting, lets every one of them finish, answers each with 250
// or a 4xx, and everything it answered 250 is in the queue after it
// exits.
func TestSIGTERMWithSessionsInDATA(t *testing.T) {
	const sessions = 100
	bin := testenv.MailbridgeBinary(t)
	addr := testenv.FreeAddr(t)
	cfg := writeConfig(t, "smtp:\n  listeners: [{name: mta, address: \""+addr+"\"}]\n"+
		"  routes: [{address: support@example.com, subchannelId: 4}]\n"+
		"  limits: {maxConnections: 300, maxConnectionsPerIP: 300, shutdownTimeout: 20s}\n")
	daemon, logs := startProcess(t, bin, cfg)

	// Every session says DATA and sends half its message.
	type session struct {
		id string
		c  *gosmtp.Client
		w  interface {
			Write([]byte) (int, error)
			Close() error
		}
		rest string
	}
	var all []*session
	for i := range sessions {
		s := &session{id: fmt.Sprintf("term-%d@example.org", i)}
		s.c = dialSMTP(t, addr, nil, logs)
		defer s.c.Close()
		if err := s.c.Mail("a@example.org", nil); err != nil {
			t.Fatal(err)
		}
		if err := s.c.Rcpt("support@example.com", nil); err != nil {
			t.Fatal(err)
		}
		w, err := s.c.Data()
		if err != nil {
			t.Fatal(err)
		}
		s.w = w
		msg := fmt.Sprintf("From: a@example.org\r\nTo: support@example.com\r\nSubject: term %d\r\n"+
			"Message-ID: <%s>\r\n\r\n%s\r\n", i, s.id, strings.Repeat("Please help with the order.\r\n", 200))
		if _, err := s.w.Write([]byte(msg[:len(msg)/2])); err != nil {
			t.Fatal(err)
		}
		s.rest = msg[len(msg)/2:]
		all = append(all, s)
	}

	if err := daemon.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The daemon is shutting down; the sessions now finish their DATA.
	replies := make([]error, sessions)
	var wg sync.WaitGroup
	for i, s := range all {
		wg.Go(func() {
			if _, err := s.w.Write([]byte(s.rest)); err != nil {
				replies[i] = err
				return
			}
			replies[i] = s.w.Close()
		})
	}
	wg.Wait()
	if err := daemon.Wait(); err != nil {
		t.Errorf("daemon exit after SIGTERM: %v\n%s", err, logs.String())
	}

	accepted := map[string]bool{}
	var deferred int
	for i, err := range replies {
		var se *gosmtp.SMTPError
		switch {
		case err == nil:
			accepted[all[i].id] = true
		case errors.As(err, &se) && se.Code >= 400 && se.Code < 500:
			deferred++
		default:
			t.Errorf("session %d: %v, want 250 or a 4xx", i, err)
		}
	}
	t.Logf("%d sessions in DATA at SIGTERM: %d answered 250, %d a 4xx", sessions, len(accepted), deferred)
	if len(accepted) != sessions {
		t.Errorf("%d of %d sessions in DATA got 250; every one should have finished", len(accepted), sessions)
	}

	st, err := sqlite.Open(context.Background(), filepath.Join(filepath.Dir(cfg), "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	queued, err := st.List(context.Background(), store.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	inQueue := map[string]bool{}
	for _, m := range queued {
		inQueue[m.ExternalID] = true
	}
	for id := range accepted {
		if !inQueue[id] {
			t.Errorf("%s was answered 250 but is not in the queue", id)
		}
	}
	if len(queued) != len(accepted) {
		t.Errorf("queue holds %d messages, %d were accepted", len(queued), len(accepted))
	}
}
