package main

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"
)

// A port in use stops `mailbridge run` before it starts anything: no
// listener serves, no admin listener, no workers, and the error names the
// listener and its address. Each case occupies one port first.
func TestRunBindsEveryListenerFirst(t *testing.T) {
	bin := testenv.MailbridgeBinary(t)
	for _, tt := range []struct {
		name string
		busy func(smtpB, admin string) string // the address to occupy
		want func(busy string) string
	}{
		{"second smtp listener",
			func(smtpB, _ string) string { return smtpB },
			func(busy string) string {
				return `smtp listener "b" (smtp.listeners[1]) cannot listen on ` + busy + ": bind: address already in use"
			}},
		{"admin listener",
			func(_, admin string) string { return admin },
			func(busy string) string {
				return "admin listener (admin.listen) cannot listen on " + busy + ": bind: address already in use"
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			smtpA, smtpB, admin := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
			busy := tt.busy(smtpB, admin)
			occupied, err := net.Listen("tcp", busy)
			if err != nil {
				t.Fatal(err)
			}
			defer occupied.Close()
			cfg := writeConfig(t, "smtp:\n  listeners:\n"+
				"    - {name: a, address: \""+smtpA+"\"}\n"+
				"    - {name: b, address: \""+smtpB+"\"}\n"+
				"  routes: [{address: support@example.com, subchannelId: 4}]\n")
			b, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), "listen: 127.0.0.1:0", "listen: "+admin, 1)), 0o600); err != nil {
				t.Fatal(err)
			}

			daemon, logs := startProcess(t, bin, cfg)
			done := make(chan error, 1)
			go func() { done <- daemon.Wait() }()
			select {
			case err = <-done:
			case <-time.After(15 * time.Second):
				t.Fatalf("the daemon is still running with %s in use:\n%s", busy, logs.String())
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != exitFailure {
				t.Errorf("exit: %v, want code %d", err, exitFailure)
			}
			log := logs.String()
			if !strings.Contains(log, tt.want(busy)) {
				t.Errorf("the error does not name the listener and address (%q):\n%s", tt.want(busy), log)
			}
			for _, started := range []string{"listening", "admin listener:", "mailbridge started", "listener stopped"} {
				if strings.Contains(log, started) {
					t.Errorf("%q in the log: something started before every listener was bound:\n%s", started, log)
				}
			}
			// The sockets bound before the failure were let go.
			for _, addr := range []string{smtpA, smtpB, admin} {
				if addr == busy {
					continue
				}
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Errorf("%s still bound after the daemon exited: %v", addr, err)
					continue
				}
				ln.Close()
			}
		})
	}
}
