package oauth

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"testing"

	"github.com/enneo/mailbridge/internal/oauth/oauthtest"
	"github.com/enneo/mailbridge/internal/testenv"
)

// After oauth2.encryptionKey changes (or is lost), the stored grant
// cannot be read and the mailbox cannot log in until `mailbridge mailbox
// authorize`: the failure has its own reason, "unreadable", and counts as
// a grant to renew (reauthorization gauge, status page).
func TestWrongKeyIsReportedAsReauthorization(t *testing.T) {
	p := oauthtest.New(t, "seed-1")
	st, _ := stores(t)["sqlite"](t)
	c, log := newClock(), &testenv.Buffer{}
	logger := slog.New(slog.NewTextHandler(log, nil))
	cfg := testConfig(p, "support", st, testKey(t), "a", c, logger, nil)
	if _, err := New(cfg).Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Restart with another key; the grant came from `mailbox authorize`,
	// so no refreshToken is configured.
	k2, err := ParseKey(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	o := &observed{}
	cfg = testConfig(p, "support", st, k2, "a", c, logger, o)
	cfg.RefreshToken = ""
	s := New(cfg)
	_, err = s.Token(t.Context())
	t.Logf("err: %v", err)
	if err == nil {
		t.Fatal("a token without a readable grant")
	}
	if !o.revoked || !s.Revoked() || o.failed["unreachable"] > 0 || o.failed["unreadable"] != 1 {
		t.Errorf("reported as failed %v, revoked %v: the operator is not told to re-authorize by metric or status page\n%s",
			o.failed, o.revoked, log)
	}
}
