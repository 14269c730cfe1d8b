package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/enneo/mailbridge/internal/testapi"
	"github.com/enneo/mailbridge/internal/testenv"
)

// No secret reaches a log line or a command's output, at debug level and
// on the paths where secrets are most at risk: a refused API token, an
// IMAP login that fails, SMTP AUTH with a wrong and then the right
// password.
func TestNoSecretInLogs(t *testing.T) {
	const (
		apiToken  = "api-tok-S3CR3T"
		imapPass  = "imap-pw-S3CR3T"
		smtpPass  = "smtp-pw-S3CR3T"
		wrongPass = "wrong-pw-S3CR3T"
	)
	srv := testapi.New(t, testapi.Options{Token: apiToken})
	t.Cleanup(func() { srv.AssertValid(t) })
	srv.Inject(testapi.Fault{Method: "POST", Status: 403, Times: 2})
	imapHost, imapPort, _ := net.SplitHostPort(memIMAP(t)) // user bob, password pw: imapPass is wrong
	smtpAddr := testenv.FreeAddr(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	yaml := fmt.Sprintf(`log: {level: debug}
admin: {listen: off}
store: {path: %s/queue.db}
api: {baseURL: %s, token: %s, timeout: 5s}
subchannels: [{id: 4}]
delivery: {authRetry: 200ms, backoff: {initial: 100ms, max: 1s}}
smtp:
  listeners: [{name: mta, address: "%s", allowInsecureAuth: true}]
  allowedNetworks: []
  users: [{username: agent, password: %s}]
  routes: [{address: support@example.com, subchannelId: 4}]
mailboxes:
  - {name: inbox, subchannelId: 4, host: %s, port: %s, security: none, allowInsecure: true,
     username: bob, password: %s, idle: false, pollInterval: 200ms}
`, dir, srv.URL(), apiToken, smtpAddr, smtpPass, imapHost, imapPort, imapPass)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logs := &testenv.Buffer{}
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, []string{"-c", cfg, "--start-without-api"}, logs, logs) }()

	c := dialSMTP(t, smtpAddr, done, logs)
	defer c.Close()
	if err := c.Hello("client.example.org"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "agent", wrongPass)); err == nil {
		t.Fatal("AUTH with the wrong password succeeded")
	}
	if err := c.Auth(sasl.NewPlainClient("", "agent", smtpPass)); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	msg := "From: a@example.org\r\nTo: support@example.com\r\nSubject: secrets\r\nMessage-ID: <secrets@example.org>\r\n\r\nHello\r\n"
	if err := c.SendMail("a@example.org", []string{"support@example.com"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("send: %v", err)
	}
	srv.WaitConversations(t, 1, 20*time.Second)
	testenv.WaitUntil(t, 10*time.Second, "an IMAP line in the log", func() (bool, string) {
		return strings.Contains(logs.String(), "mailbox=inbox"), "the log:\n" + logs.String()
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("daemon: %v", err)
	}
	_, checkOut, checkErr := run(t, "check", "-c", cfg)

	all := logs.String() + checkOut + checkErr
	for _, secret := range []string{apiToken, imapPass, smtpPass, wrongPass,
		base64.StdEncoding.EncodeToString([]byte("\x00agent\x00" + smtpPass)),
		base64.StdEncoding.EncodeToString([]byte("\x00agent\x00" + wrongPass)),
	} {
		if strings.Contains(all, secret) {
			t.Errorf("secret %q in the output", secret)
		}
	}
	// The paths above were taken, so the absence means something.
	for _, want := range []string{"authentication failures", "delivered", "403"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in the log:\n%s", want, all)
		}
	}
}
