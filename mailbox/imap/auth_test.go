package imap

import (
	"testing"
	"time"

	"github.com/enneo/mailbridge/pipeline"
)

// Mail fetched from Dovecot carries the verdict of the server that
// received it, read from the Authentication-Results header of an
// authserv-id the mailbox trusts; a header of an authserv-id nobody
// trusts is ignored, and so is one trusted only for other sources.
func TestDovecotTrustedAuthenticationResults(t *testing.T) {
	e := newE2EWith(t, func(c *pipeline.Config) {
		c.Auth = pipeline.Auth{
			Trusted:   []string{"mx.evil.example"},
			Mailboxes: map[string][]string{"support": {"mx.example.com"}},
		}
	})
	mail := func(id, from, ar string) []byte {
		return []byte(ar + "\r\nFrom: <" + from + ">\r\nTo: support@example.com\r\nSubject: " + id +
			"\r\nMessage-ID: <" + id + ">\r\nDate: Wed, 25 Nov 2026 03:00:00 +0000\r\n\r\nHello.\r\n")
	}
	c := e.client()
	c.append("INBOX", mail("trusted@example.org", "alice@example.org",
		"Authentication-Results: mx.example.com; dkim=pass header.d=example.org; spf=pass smtp.mailfrom=example.org;\r\n"+
			"\tdmarc=pass (p=reject) header.from=example.org"))
	c.append("INBOX", mail("forged@example.org", "ceo@example.org",
		"Authentication-Results: mx.evil.example; dkim=pass header.d=example.org; dmarc=pass header.from=example.org"))
	stop := startPoller(t, e.config("INBOX"))
	defer stop()
	convs := e.api.WaitConversations(t, 2, 20*time.Second)
	for _, cv := range convs {
		a, ok := cv.Payload.RawData["auth"].(map[string]any)
		switch cv.Payload.Subject {
		case "trusted@example.org":
			if !ok || a["authenticated"] != true || a["source"] != "trusted-header" || a["authservId"] != "mx.example.com" {
				t.Errorf("trusted: rawData.auth = %v", cv.Payload.RawData["auth"])
			}
		default:
			if ok {
				t.Errorf("untrusted header read: rawData.auth = %v", a)
			}
		}
	}
}
