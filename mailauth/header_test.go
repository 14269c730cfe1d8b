package mailauth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/enneo/mailbridge/mailauth"
)

const gmailStyle = "Delivered-To: support@example.com\r\n" +
	"Received: by 2002:a05:1234 with SMTP id x; Wed, 25 Nov 2026 03:00:01 -0800\r\n" +
	"ARC-Authentication-Results: i=1; mx.google.com; dkim=pass header.i=@example.org\r\n" +
	"Authentication-Results: mx.google.com;\r\n" +
	"       dkim=pass header.i=@example.org header.s=rsa header.b=abc;\r\n" +
	"       spf=pass (google.com: domain of alice@example.org designates 127.0.0.2 as permitted sender; ok) smtp.mailfrom=alice@example.org;\r\n" +
	"       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.org\r\n" +
	"Received: from mx.example.org ([127.0.0.2]) by mx.google.com\r\n"

func TestFromHeadersTrusted(t *testing.T) {
	raw := []byte(gmailStyle + string(message("alice@example.org")))
	r := mailauth.FromHeaders(raw, []string{"mx.google.com"}, "mailbridge.example.com")
	if r == nil {
		t.Fatal("no result from a trusted header")
	}
	if r.DMARC != mailauth.Pass || r.SPF != mailauth.Pass || r.DKIM != mailauth.Pass ||
		r.Policy != "reject" || r.FromDomain != "example.org" || r.Source != mailauth.SourceTrustedHeader {
		t.Fatalf("got %+v", r)
	}
}

func TestFromHeadersUntrustedIgnored(t *testing.T) {
	// The sender writes a header claiming success, under an id nobody
	// trusts, and one under the trusted id below the trusted server's.
	forged := "Authentication-Results: evil.example; dkim=pass header.d=example.org; dmarc=pass header.from=example.org\r\n"
	raw := []byte(forged + string(message("ceo@example.org")))
	if r := mailauth.FromHeaders(raw, []string{"mx.example.com"}, "mailbridge.example.com"); r != nil {
		t.Fatalf("an untrusted authserv-id was read: %+v", r)
	}
	// The trusted server's verdict is on top; the sender's copy of the
	// same id further down does not count.
	top := "Authentication-Results: mx.example.com; dkim=none; spf=fail smtp.mailfrom=example.org; dmarc=fail (p=reject) header.from=example.org\r\n"
	fake := "Authentication-Results: mx.example.com; dkim=pass header.d=example.org; dmarc=pass header.from=example.org\r\n"
	raw = []byte(top + "Received: from x\r\n" + fake + string(message("ceo@example.org")))
	r := mailauth.FromHeaders(raw, []string{"mx.example.com"}, "")
	if r == nil || r.DMARC != mailauth.Fail || !r.Rejecting() {
		t.Fatalf("got %+v, want the topmost trusted header's fail", r)
	}
	// mailbridge's own id counts only as the very first field.
	own := "Authentication-Results: mailbridge.example.com; dkim=pass header.d=example.org; spf=pass smtp.mailfrom=example.org; dmarc=pass header.from=example.org\r\n"
	raw = []byte("Received: from x\r\n" + own + string(message("ceo@example.org")))
	if r := mailauth.FromHeaders(raw, nil, "mailbridge.example.com"); r != nil {
		t.Fatalf("a header with mailbridge's id below the top was read: %+v", r)
	}
	// A header without an authserv-id (nothing to trust) is skipped.
	raw = []byte("Authentication-Results: spf=pass (sender IP is 127.0.0.2) smtp.mailfrom=example.org; dmarc=pass action=none header.from=example.org\r\n" + string(message("a@example.org")))
	if r := mailauth.FromHeaders(raw, []string{"spf=pass"}, ""); r != nil {
		t.Fatalf("a header without authserv-id was read: %+v", r)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	w := newWorld(t)
	raw := sign(t, message("ceo@example.org"), "example.org", "ed", w.ed)
	raw = append([]byte("X-Extra: 1\r\n"), raw...) // unsigned field: the signature still holds
	r := w.v.Verify(context.Background(), env("127.0.0.9", "x@forger.test"), raw)
	h := mailauth.Header("mailbridge.example.com", r)
	if !strings.HasPrefix(string(h), "Authentication-Results: mailbridge.example.com;\r\n\tdkim=pass header.d=example.org;") {
		t.Fatalf("header:\n%s", h)
	}
	back := mailauth.FromHeaders(append(h, raw...), nil, "mailbridge.example.com")
	if back == nil || back.Source != mailauth.SourceVerified || back.DKIM != r.DKIM || back.SPF != r.SPF ||
		back.DMARC != r.DMARC || back.AlignedDomain != r.AlignedDomain || back.Policy != r.Policy {
		t.Fatalf("read back %+v from\n%s\nwant %+v", back, h, r)
	}
}
