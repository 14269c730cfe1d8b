package smtp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
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

// DataTimeout bounds a message sent in BDAT chunks as it bounds DATA:
// go-smtp sets a command's deadline before each chunk, and a client that
// trickles chunks must not hold its data budget past it.
func TestBDATTrickleEndsAtDataTimeout(t *testing.T) {
	ts := startServer(t, Options{DataTimeout: 1500 * time.Millisecond, ReadTimeout: 10 * time.Second})
	c := rawFrom(t, "127.0.0.1", ts.addr)
	if r := c.reply(t); !strings.HasPrefix(r, "220") {
		t.Fatalf("greeting %q", r)
	}
	if r := c.cmd(t, "EHLO client.test"); !strings.HasPrefix(r, "250") {
		t.Fatalf("EHLO %q", r)
	}
	c.write(t, "MAIL FROM:<a@example.org> SIZE=1000000\r\nRCPT TO:<support@example.com>\r\n")
	c.reply(t)
	c.reply(t)
	start := time.Now()
	for time.Since(start) < 6*time.Second {
		if _, err := c.Write([]byte("BDAT 1\r\nx")); err != nil {
			break
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if r, err := c.r.ReadString('\n'); err != nil || !strings.HasPrefix(r, "250") {
			break
		}
		time.Sleep(400 * time.Millisecond)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("a BDAT trickle went on for %v, past DataTimeout of 1.5s", d.Round(time.Millisecond))
	}
	if n := len(ts.ing.messages()); n != 0 {
		t.Errorf("%d messages queued from an unfinished BDAT", n)
	}
}

// A client that authenticates and starts a transaction leaves the outside
// pool, but still counts against its address's outsideConnectionsPerIP:
// knowing a password must not let one address take the MTA's reserve.
func TestAuthenticatedClientsKeepTheirPerIPLimit(t *testing.T) {
	ts := startServer(t, Options{AllowInsecureAuth: true, AllowedNetworks: mtaOnly,
		MaxConnections: 20, ReservedConnections: 10, OutsideConnectionsPerIP: 3,
		Users: []User{{Username: "relay", PasswordHash: hashed(t, "s3cret", bcrypt.MinCost)}}})
	for i := range 3 {
		c := ehloFrom(t, ts.addr, "127.0.0.7")
		if r := c.cmd(t, authPlain("relay", "s3cret")); !strings.HasPrefix(r, "235") {
			t.Fatalf("AUTH %d: %q", i, r)
		}
		if r := c.cmd(t, "MAIL FROM:<a@example.org>"); !strings.HasPrefix(r, "250") {
			t.Fatalf("MAIL %d: %q", i, r)
		}
	}
	c := rawFrom(t, "127.0.0.7", ts.addr)
	if r := c.reply(t); !strings.HasPrefix(r, "421") {
		t.Fatalf("a fourth connection from the address: %q, want 421", r)
	}
	mta := ehloFrom(t, ts.addr, "127.0.0.1")
	if r := mta.cmd(t, "MAIL FROM:<mta@example.org>"); !strings.HasPrefix(r, "250") {
		t.Fatalf("the MTA: %q", r)
	}
}

// A transfer broken off again and again (BDAT, then RSET) is charged to
// the client's error budget like any other refusal.
func TestBrokenOffTransfersSpendTheErrorBudget(t *testing.T) {
	if raceEnabled {
		t.Skip("BDAT after BDAT on one connection races inside go-smtp (race_on_test.go)")
	}
	ts := startServer(t, Options{MaxErrors: 10, MaxRecipients: 10})
	c := rawFrom(t, "127.0.0.1", ts.addr)
	c.reply(t)
	c.cmd(t, "EHLO client.test")
	for i := range 60 {
		if _, err := c.Write([]byte("MAIL FROM:<a@example.org>\r\nRCPT TO:<support@example.com>\r\nBDAT 5\r\nhelloRSET\r\n")); err != nil {
			return // disconnected
		}
		for range 4 {
			r, err := c.r.ReadString('\n')
			if err != nil || strings.HasPrefix(r, "421") {
				if i < 5 {
					t.Fatalf("disconnected after %d rounds, before the budget of 10", i)
				}
				return
			}
		}
	}
	t.Fatal("60 broken-off transfers and still connected")
}
