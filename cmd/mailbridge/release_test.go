package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enneo/mailbridge/internal/testapi"
)

// A mail whose trusted verdict fails is held under the hold policy, listed
// as held, and posted once released.
func TestQueueRelease(t *testing.T) {
	srv := testapi.New(t, testapi.Options{Token: "cli-token"})
	t.Cleanup(func() { srv.AssertValid(t) })
	cfg := writeConfig(t, "  baseURL: "+srv.URL()+"\n  token: cli-token\nauth:\n  trustedAuthservIds: [mx.example.net]")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(b, "    unauthenticated: hold\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	mail := filepath.Join(t.TempDir(), "forged.eml")
	if err := os.WriteFile(mail, []byte("Authentication-Results: mx.example.net; spf=fail smtp.mailfrom=example.org;"+
		" dmarc=fail (p=reject) header.from=example.org\r\nFrom: ceo@example.org\r\nTo: support@example.com\r\n"+
		"Subject: wire the money\r\nMessage-ID: <forged@example.org>\r\n\r\nToday, please.\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := run(t, "deliver", "-c", cfg, mail)
	if code != exitFailure || !strings.Contains(out, "queue id 1: held") {
		t.Fatalf("deliver: exit %d\n%s", code, out)
	}
	if _, list, _ := run(t, "queue", "-c", cfg, "list", "--state", "held"); !strings.Contains(list, "wire the money") {
		t.Errorf("queue list --state held:\n%s", list)
	}
	if code, _, _ := run(t, "queue", "-c", cfg, "retry", "1"); code != exitFailure {
		t.Errorf("queue retry of a held message: exit %d, want refusal", code)
	}
	if code, out, _ := run(t, "queue", "-c", cfg, "release", "1"); code != exitOK || !strings.Contains(out, "released") {
		t.Fatalf("queue release: exit %d\n%s", code, out)
	}
	// The next delivery pass (another mail's deliver runs every due
	// message) posts it.
	if code, out, _ := run(t, "deliver", "-c", cfg, sample); code != exitOK {
		t.Fatalf("deliver: exit %d\n%s", code, out)
	}
	if _, out, _ := run(t, "queue", "-c", cfg, "show", "1"); !strings.Contains(out, "state:              delivered") {
		t.Errorf("after release:\n%s", out)
	}
	for _, c := range srv.Conversations() {
		if c.Payload.Subject == "wire the money" && c.Payload.Process != "false" {
			t.Errorf("released mail of a p=reject domain: process %q, want false", c.Payload.Process)
		}
	}
	if n := srv.CountByExternalID("forged@example.org"); n != 1 {
		t.Errorf("released mail stored %d times, want 1", n)
	}
}
