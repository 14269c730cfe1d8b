package smtp_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/enneo/mailbridge/internal/testenv"
	"github.com/enneo/mailbridge/mailauth"
	"github.com/enneo/mailbridge/mailbox/smtp"
)

// BenchmarkSenderVerification measures the CPU the SMTP path spends per
// message, through to the SQLite commit, without sender verification and
// with it (DKIM RSA-2048 over a 20 KB message, SPF, DMARC) on a warm DNS
// cache. One client sends one message at a time; "cpu-us/msg" is the
// process's user+system CPU (client included, the same in both) per
// message. docs/benchmarks.md reports the ratio of the two.
//
//	go test -run '^$' -bench SenderVerification -benchtime 2000x ./mailbox/smtp
func BenchmarkSenderVerification(b *testing.B) {
	for _, verify := range []bool{false, true} {
		b.Run(fmt.Sprintf("verify=%v", verify), func(b *testing.B) { benchVerify(b, verify) })
	}
}

func benchVerify(b *testing.B, verify bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, quiet := ingestOnly(b, ctx)

	d := testenv.StartDNS(b)
	key := testenv.NewDKIMKey(b, "rsa")
	d.TXT("sel._domainkey.example.org", key.Record)
	d.TXT("example.org", "v=spf1 ip4:127.0.0.1 -all")
	d.TXT("_dmarc.example.org", "v=DMARC1; p=reject")
	var v smtp.Verifier
	if verify {
		v = &mailauth.Stamper{AuthservID: "bench", Verifier: &mailauth.Verifier{
			Resolver: mailauth.NewCache(mailauth.NewNetResolver(d.Addr), 2*time.Second, time.Hour, 0)}}
	}
	addr, stop := serveBenchVerifying(b, ctx, p, 1, quiet, v)
	defer func() { cancel(); stop() }()

	// Signed once, without Message-ID among the signed fields, so that
	// each message gets an id of its own and keeps a valid signature.
	body := strings.Repeat(strings.Repeat("y", 76)+"\r\n", (20<<10)/78)
	head := "From: a@example.org\r\nTo: support@example.com\r\nSubject: bench\r\nDate: Wed, 25 Nov 2026 03:00:00 +0000\r\n"
	var signed bytes.Buffer
	if err := dkim.Sign(&signed, strings.NewReader(head+"\r\n"+body), &dkim.SignOptions{Domain: "example.org", Selector: "sel",
		Signer: key.Signer, HeaderKeys: []string{"From", "To", "Subject", "Date"}}); err != nil {
		b.Fatal(err)
	}
	msg := signed.String()
	c, err := gosmtp.Dial(addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	start := time.Now().UnixNano()
	sendOne := func(n int) {
		m := fmt.Sprintf("Message-ID: <v-%d-%d@example.org>\r\n%s", n, start, msg)
		if err := c.SendMail("a@example.org", []string{"support@example.com"}, strings.NewReader(m)); err != nil {
			b.Fatal(err)
		}
	}
	sendOne(-1) // warms the DNS cache
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	cpu0 := testenv.ProcessCPU()
	for i := range b.N {
		sendOne(i)
	}
	cpu := testenv.ProcessCPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/msg")
}
