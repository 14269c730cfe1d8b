package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/config"
	"github.com/enneo/mailbridge/internal/oauth"
	"github.com/enneo/mailbridge/internal/testenv"
)

// A client secret that has already expired when the daemon starts is
// logged by the credential watch, at error level.
func TestCredentialWatchLogsExpiredSecretAtStart(t *testing.T) {
	m := config.Mailbox{Name: "support", Auth: "xoauth2"}
	m.OAuth2.SecretExpires.Time = time.Now().Add(-2 * 24 * time.Hour)
	log := &testenv.Buffer{}
	src := oauth.New(oauth.Config{Mailbox: "support", Flow: oauth.Application, TokenURL: "http://127.0.0.1:1/token"})
	w := &credentialWatch{m: m, tokens: src, log: slog.New(slog.NewTextHandler(log, nil))}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	testenv.WaitFor(t, 3*time.Second, "the ERROR about the expired secret", func() bool {
		return strings.Contains(log.String(), "level=ERROR") && strings.Contains(log.String(), "expired on")
	})
	cancel()
	<-done
}
