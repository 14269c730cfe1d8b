package smtp

import (
	"fmt"
	"strings"
	"testing"
)

// An RSET during BDAT ends the transaction while go-smtp's goroutine for
// its Data still runs; a new transaction pipelined behind it must be
// queued whole, under its own sender, whatever that goroutine does when
// its reader fails. Every 250 is a message queued.
func TestResetDuringBDATKeepsTheNextTransaction(t *testing.T) {
	ts := startServer(t, Options{})
	const rounds = 100
	accepted := 0
	// A connection a round: go-smtp itself reuses a field of the
	// connection for the next BDAT without waiting for the last one's
	// goroutine, a race of its own this test is not about.
	for i := range rounds {
		c := rawFrom(t, "127.0.0.1", ts.addr)
		if r := c.reply(t); !strings.HasPrefix(r, "220") {
			t.Fatalf("greeting %q", r)
		}
		if r := c.cmd(t, "EHLO client.test"); !strings.HasPrefix(r, "250") {
			t.Fatalf("EHLO %q", r)
		}
		c.write(t, "MAIL FROM:<first@example.org>\r\nRCPT TO:<support@example.com>\r\nBDAT 5\r\nhello")
		for range 3 {
			c.reply(t)
		}
		from := fmt.Sprintf("second%d@example.org", i)
		c.write(t, "RSET\r\nMAIL FROM:<"+from+">\r\nRCPT TO:<support@example.com>\r\nDATA\r\n")
		for range 4 {
			c.reply(t)
		}
		c.write(t, fmt.Sprintf("From: %s\r\nSubject: round %d\r\n\r\nbody\r\n.\r\n", from, i))
		if r := c.reply(t); strings.HasPrefix(r, "250") {
			accepted++
			if strings.HasSuffix(strings.TrimSpace(r), "queued as") {
				t.Fatalf("round %d: 250 without a transaction id: %q", i, r)
			}
		}
		c.write(t, "QUIT\r\n")
		c.Close()
	}
	msgs := ts.ing.messages()
	if len(msgs) != accepted {
		t.Fatalf("%d messages answered 250, %d queued", accepted, len(msgs))
	}
	for _, m := range msgs {
		if !strings.HasPrefix(m.Origin.SMTP.MailFrom, "second") {
			t.Fatalf("a message queued under sender %q, want its own second…", m.Origin.SMTP.MailFrom)
		}
	}
	if accepted != rounds {
		t.Errorf("%d of %d transactions accepted", accepted, rounds)
	}
}
