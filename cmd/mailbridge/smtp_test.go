package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/enneo/mailbridge/config"
	"github.com/enneo/mailbridge/internal/testenv"
)

// TestDaemonSMTP: `mailbridge run` with an SMTP listener takes a message,
// delivers it (dry run), and stops in order on SIGTERM.
func TestDaemonSMTP(t *testing.T) {
	bin := testenv.MailbridgeBinary(t)
	addr := testenv.FreeAddr(t)
	cfg := writeConfig(t, "smtp:\n  listeners: [{name: mta, address: \""+addr+"\"}]\n"+
		"  routes: [{address: support@example.com, subchannelId: 4}]\n")
	daemon, logs := startProcess(t, bin, cfg)

	c := dialSMTP(t, addr, nil, logs)
	defer c.Close()
	eml, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@example.org", []string{"Support+x@example.com"}, strings.NewReader(string(eml))); err != nil {
		t.Fatalf("SendMail: %v\n%s", err, logs.String())
	}
	c.Quit()

	outbox := filepath.Join(filepath.Dir(cfg), "outbox")
	files := waitPayloads(t, outbox, logs)
	if len(files) != 1 {
		t.Fatalf("outbox holds %v; daemon log:\n%s", files, logs.String())
	}
	body, _ := os.ReadFile(files[0])
	if !strings.Contains(string(body), `"smtp"`) || !strings.Contains(string(body), "Support+x@example.com") {
		t.Errorf("payload lacks the SMTP origin:\n%s", body)
	}
	if err := daemon.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := daemon.Wait(); err != nil {
		t.Errorf("daemon exit after SIGTERM: %v\n%s", err, logs.String())
	}
	for _, want := range []string{"client_ip=127.0.0.1", "message accepted", "listener stopped", "mailbridge stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no %q in the log:\n%s", want, logs.String())
		}
	}
}

// dialSMTP connects to the daemon's listener at addr once it is up, for
// 15 s at most; done, if not nil, reports an in-process daemon that
// returned instead.
func dialSMTP(t *testing.T, addr string, done <-chan error, logs *testenv.Buffer) *gosmtp.Client {
	t.Helper()
	var c *gosmtp.Client
	testenv.WaitUntil(t, 15*time.Second, "the SMTP listener", func() (bool, string) {
		var err error
		if c, err = gosmtp.Dial(addr); err == nil {
			return true, ""
		}
		select {
		case err := <-done:
			t.Fatalf("daemon returned %v:\n%s", err, logs.String())
		default:
		}
		return false, fmt.Sprintf("%v\n%s", err, logs.String())
	})
	return c
}

func TestSMTPSourcesRefuseBadSecrets(t *testing.T) {
	base := func() *config.Config {
		return &config.Config{SMTP: config.SMTP{
			Listeners: []config.Listener{{Name: "x", Address: "127.0.0.1:0", Mode: "smtp", TLS: config.ListenerTLS{Mode: "none"}}},
		}}
	}
	a := &app{log: slog.New(slog.NewTextHandler(io.Discard, nil))}

	a.cfg = base()
	a.cfg.SMTP.Listeners[0].TLS = config.ListenerTLS{Mode: "starttls", CertFile: "/nonexistent.pem", KeyFile: "/nonexistent.key"}
	if _, err := smtpListeners(a); err == nil || !strings.Contains(err.Error(), "smtp.listeners[0].tls") {
		t.Errorf("missing certificate: %v", err)
	}

	a.cfg = base()
	if s, err := smtpListeners(a); err != nil || len(s) != 1 || s[0].Name() != "smtp x" {
		t.Errorf("smtpListeners = %v, %v", s, err)
	}
}
