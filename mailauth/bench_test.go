package mailauth_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// BenchmarkVerify is one message's check on a warm cache: a 20 KB mail
// with one RSA-2048 signature, SPF and DMARC passing.
//
//	go test -run '^$' -bench Verify -benchmem ./mailauth
func BenchmarkVerify(b *testing.B) {
	w := newWorld(b)
	body := strings.Repeat(strings.Repeat("y", 76)+"\r\n", (20<<10)/78)
	var raw bytes.Buffer
	if err := dkim.Sign(&raw, strings.NewReader("From: a@example.org\r\nTo: support@example.com\r\nSubject: x\r\n\r\n"+body),
		&dkim.SignOptions{Domain: "example.org", Selector: "rsa", Signer: w.rsa.Signer}); err != nil {
		b.Fatal(err)
	}
	e := env("127.0.0.2", "a@example.org")
	if r := w.v.Verify(context.Background(), e, raw.Bytes()); r.DMARC != "pass" {
		b.Fatalf("%+v", r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w.v.Verify(context.Background(), e, raw.Bytes())
	}
}
