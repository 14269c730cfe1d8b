package main

import (
	"slices"
	"testing"

	"github.com/enneo/mailbridge/config"
	"github.com/enneo/mailbridge/mailbox"
)

// With Postfix and OpenDMARC on the mailbridge host, OpenDMARC's
// authserv-id is the hostname, which is also mailbridge's default one.
// While mailbridge does not verify, its own id is not read at all, so it
// does not shadow the trusted header of that id.
func TestOwnIDDoesNotShadowTrusted(t *testing.T) {
	cfg := &config.Config{}
	cfg.Auth.AuthservID = "mx.example.com"
	cfg.Auth.TrustedAuthservIDs = []string{"mx.example.com"}
	a := pipelineAuth(cfg).For(mailbox.Origin{Source: "smtp", SMTP: &mailbox.SMTPOrigin{Listener: "lmtp"}})
	if a.OwnID != "" || !slices.Contains(a.Trusted, "mx.example.com") {
		t.Errorf("SMTP mail reads own id %q, trusts %v; want no own id, mx.example.com trusted", a.OwnID, a.Trusted)
	}
	cfg.Auth.Verify = true
	if a := pipelineAuth(cfg).For(mailbox.Origin{Source: "smtp"}); a.OwnID != "mx.example.com" {
		t.Errorf("verifying: own id %q", a.OwnID)
	}
}
