package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/enneo/mailbridge/internal/testenv"
)

func TestHealthCommand(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		fmt.Fprintln(w, "ok")
	}))
	defer srv.Close()
	if code, stdout, stderr := run(t, "health", "-url", srv.URL+"/healthz"); code != exitOK || stdout != "ok\n" {
		t.Errorf("healthy: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	status = http.StatusServiceUnavailable
	if code, _, stderr := run(t, "health", "-url", srv.URL+"/readyz"); code != exitFailure || !strings.Contains(stderr, "503") {
		t.Errorf("503: exit %d, stderr %q; want %d naming the status", code, stderr, exitFailure)
	}
	srv.Close()
	if code, _, _ := run(t, "health", "-url", srv.URL+"/healthz", "-timeout", "2s"); code != exitFailure {
		t.Errorf("nobody listening: exit %d, want %d", code, exitFailure)
	}
	if code, _, _ := run(t, "health", "extra"); code != exitUsage {
		t.Errorf("stray argument: exit %d, want %d", code, exitUsage)
	}
}

// startDaemon runs the daemon in this process on cfg until the test ends.
func startDaemon(t *testing.T, cfg string) (logs *testenv.Buffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	logs = &testenv.Buffer{}
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, []string{"-c", cfg}, logs, logs) }()
	var stopped bool
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return logs, stop
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDaemonAdmin: `mailbridge run` serves the admin endpoints over its
// real sources, queue and workers, and `mailbridge health` reads them.
func TestDaemonAdmin(t *testing.T) {
	smtpAddr, adminAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	cfg := writeConfig(t, "smtp:\n  listeners: [{name: mta, address: \""+smtpAddr+"\"}]\n"+
		"  routes: [{address: support@example.com, subchannelId: 4}]\n")
	setAdmin(t, cfg, adminAddr)
	logs, stop := startDaemon(t, cfg)
	base := "http://" + adminAddr
	testenv.WaitUntil(t, 15*time.Second, "/readyz to answer 200", func() (bool, string) {
		code, _ := get(t, base+"/readyz")
		return code == http.StatusOK, "the daemon's log:\n" + logs.String()
	})
	if code, stdout, stderr := run(t, "health", "-url", base+"/healthz"); code != exitOK {
		t.Errorf("mailbridge health: exit %d %q %q", code, stdout, stderr)
	}

	eml, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	c, err := gosmtp.Dial(smtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@example.org", []string{"support@example.com"}, strings.NewReader(string(eml))); err != nil {
		t.Fatal(err)
	}
	c.Close()
	const delivered = `mailbridge_messages_delivered_total{subchannel="4"} 1`
	var metrics string
	testenv.WaitUntil(t, 15*time.Second, "/metrics to show "+delivered, func() (bool, string) {
		_, metrics = get(t, base+"/metrics")
		return strings.Contains(metrics, delivered), metrics + "\n" + logs.String()
	})
	for _, want := range []string{
		`mailbridge_messages_received_total{source="smtp",subchannel="4"} 1`,
		`mailbridge_smtp_listening{listener="mta"} 1`,
		`mailbridge_build_info{version="dev"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, page := get(t, base+"/"); code != http.StatusOK || !strings.Contains(page, smtpAddr) || !strings.Contains(page, "dry run") {
		t.Errorf("status page: %d, want the listener and the dry run named", code)
	}

	if err := stop(); err != nil {
		t.Fatalf("daemon: %v\n%s", err, logs.String())
	}
	if code, _ := get(t, base+"/healthz"); code != 0 {
		t.Errorf("admin listener still answers after the daemon stopped")
	}
}

func TestDaemonAdminAddressTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := writeConfig(t, "")
	setAdmin(t, cfg, ln.Addr().String())
	code, _, stderr := run(t, "run", "-c", cfg)
	if code != exitFailure || !strings.Contains(stderr, "admin.listen") {
		t.Errorf("admin address in use: exit %d, want %d naming admin.listen:\n%s", code, exitFailure, stderr)
	}
}

// setAdmin points the admin listener of writeConfig's file at addr.
func setAdmin(t *testing.T, cfg, addr string) {
	t.Helper()
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "listen: 127.0.0.1:0", "listen: "+addr, 1)
	if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
