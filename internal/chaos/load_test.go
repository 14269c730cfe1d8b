package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// message is test mail n of a stream ("smtp", "inbox", ...): its
// Message-ID is the stream and number, so the API's records say which
// mails arrived and how often. Every tenth SMTP mail is large, about
// 300 KB, which the SQLite store keeps in a spool file.
func message(stream string, n int) (id string, raw []byte) {
	id = fmt.Sprintf("%s-%d@chaos.test", stream, n)
	body := strings.Repeat("Lorem ipsum dolor sit amet. ", 40)
	if stream == "smtp" && n%10 == 0 {
		body = strings.Repeat("Lorem ipsum dolor sit amet.\r\n", 300<<10/29)
	}
	raw = fmt.Appendf(nil, "From: Customer %[2]d <customer%[2]d@example.org>\r\nTo: support@example.com\r\n"+
		"Subject: %[1]s question %[2]d\r\nDate: %[3]s\r\nMessage-ID: <%[4]s>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"Hello, this is %[1]s mail %[2]d. %[5]s\r\n",
		stream, n, time.Now().Format(time.RFC1123Z), id, body)
	return id, raw
}

// smtpStats counts what the senders saw.
type smtpStats struct {
	accepted  atomic.Int64 // 250 after DATA
	retries   atomic.Int64 // transactions tried again
	unanswerd atomic.Int64 // DATA sent, no reply: the mail may be queued
}

// sendSMTP sends mails 0..n-1 of stream "smtp" (see sendStream).
func sendSMTP(ctx context.Context, addrs []string, n, conns int, span time.Duration, st *smtpStats) error {
	return sendStream(ctx, addrs, "smtp", n, conns, span, st)
}

// sendStream sends mails 0..n-1 of stream over conns connections
// spread over addrs, as an MTA would: a mail that gets no 250 (a 4xx, a
// connection cut by a killed instance) is sent again, to the next
// address, until it is accepted or ctx ends. The mails are spread evenly
// over the span, so that the kills meet sessions in progress.
func sendStream(ctx context.Context, addrs []string, stream string, n, conns int, span time.Duration, st *smtpStats) error {
	gap := span * time.Duration(conns) / time.Duration(n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for w := range conns {
		wg.Go(func() {
			var c *gosmtp.Client
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			target := w
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					if c != nil {
						_ = c.Quit()
					}
					return
				}
				time.Sleep(gap)
				_, raw := message(stream, i)
				for attempt := 0; ; attempt++ {
					if ctx.Err() != nil {
						errs <- fmt.Errorf("smtp mail %d not accepted: %w", i, ctx.Err())
						return
					}
					if attempt > 0 {
						st.retries.Add(1)
						time.Sleep(50 * time.Millisecond)
					}
					if c == nil {
						var err error
						c, err = dial(addrs[target%len(addrs)])
						target++
						if err != nil {
							c = nil
							continue
						}
					}
					err := sendOne(c, raw, st)
					if err == nil {
						st.accepted.Add(1)
						break
					}
					// Whatever went wrong, start the next try on a fresh
					// connection, likely to another instance.
					c.Close()
					c = nil
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func dial(addr string) (*gosmtp.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	c := gosmtp.NewClient(conn)
	c.CommandTimeout = 10 * time.Second
	c.SubmissionTimeout = 20 * time.Second
	if err := c.Hello("chaos.example.org"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// sendOne runs one transaction; nil means the mail got its 250.
func sendOne(c *gosmtp.Client, raw []byte, st *smtpStats) error {
	if err := c.Mail("customer@example.org", nil); err != nil {
		return err
	}
	if err := c.Rcpt("support@example.com", nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		var se *gosmtp.SMTPError
		if !errors.As(err, &se) {
			st.unanswerd.Add(1)
		}
		return err
	}
	return nil
}
