package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/enneo/mailbridge/config"
	"github.com/enneo/mailbridge/internal/oauth"
)

// The status page's notices ask the token source whether the grant is
// revoked while Token may be in a token request (HTTP timeout 30 s) or
// waiting for another instance's refresh lock (up to 2 minutes): the
// answer must not wait for either.
func TestStatusNoticesDoNotWaitForTokenRequest(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	m := config.Mailbox{Name: "support", Auth: "xoauth2"}
	src := oauth.New(oauth.Config{Mailbox: "support", Flow: oauth.Application, TokenURL: slow.URL, ClientID: "c", ClientSecret: "s"})
	w := &credentialWatch{m: m, tokens: src, log: slog.New(slog.DiscardHandler)}
	go src.Token(context.Background()) // a poller logging in
	select {                           // the request is under way
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("no token request")
	}
	done := make(chan struct{})
	start := time.Now()
	go func() { w.notices(time.Now()); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Errorf("the status page's notices still waiting after %s for a token request to a slow endpoint", time.Since(start).Round(time.Millisecond))
	}
}
