package smtp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/enneo/mailbridge/internal/testenv"
)

func TestDeliverPerSubchannel(t *testing.T) {
	ts := startServer(t, Options{})
	c := dial(t, ts.addr)
	if err := c.Mail("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"support@example.com", "Support+x@Example.COM", "billing@example.com"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatalf("RCPT %s: %v", r, err)
		}
	}
	if err := c.Rcpt("nobody@example.com", nil); code(err) != "550 5.1.1" {
		t.Fatalf("unrouted RCPT: %v, want 550 5.1.1", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, message("two", 10))
	if err := w.Close(); err != nil {
		t.Fatalf("end of DATA: %v", err)
	}

	msgs := ts.ing.messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages ingested, want one per subchannel (2)", len(msgs))
	}
	one, two := msgs[0], msgs[1]
	if one.SubchannelID != 1 || two.SubchannelID != 2 {
		t.Errorf("subchannels %d, %d; want 1, 2", one.SubchannelID, two.SubchannelID)
	}
	o := one.Origin
	if o.Source != "smtp" || o.SMTP == nil || o.SMTP.MailFrom != "a@example.org" || o.SMTP.ClientIP != "127.0.0.1" ||
		o.SMTP.Helo != "localhost" || o.SMTP.Listener != "test" || o.SMTP.TLS ||
		strings.Join(o.SMTP.RcptTo, ",") != "support@example.com,Support+x@Example.COM" {
		t.Errorf("origin = %+v %+v", o, o.SMTP)
	}
	raw := string(one.Raw)
	if !strings.HasPrefix(raw, "Received: from localhost ([127.0.0.1])\r\n\tby mx.test (mailbridge) with ESMTP id ") ||
		strings.Contains(raw[:200], "for <") || !strings.HasSuffix(raw, message("two", 10)+"\r\n") {
		t.Errorf("subchannel 1 raw:\n%s", raw)
	}
	// A single recipient is named in "for", as MTAs do.
	if !strings.Contains(string(two.Raw), "\r\n\tfor <billing@example.com>; ") {
		t.Errorf("subchannel 2 raw:\n%s", two.Raw)
	}
}

func TestRelayRefused(t *testing.T) {
	nobody := []netip.Prefix{}
	t.Run("no users", func(t *testing.T) {
		ts := startServer(t, Options{AllowedNetworks: nobody})
		c := dial(t, ts.addr)
		if err := c.Mail("a@example.org", nil); code(err) != "554 5.7.1" {
			t.Errorf("MAIL from a network not allowed: %v, want 554 5.7.1", err)
		}
	})
	t.Run("with users", func(t *testing.T) {
		ts := startServer(t, Options{AllowedNetworks: nobody, Users: []User{{Username: "u", Password: "p"}}})
		c := dial(t, ts.addr)
		if err := c.Mail("a@example.org", nil); code(err) != "530 5.7.0" {
			t.Errorf("MAIL without AUTH: %v, want 530 5.7.0", err)
		}
		if len(ts.ing.messages()) != 0 {
			t.Error("refused client got a message queued")
		}
	})
}

func TestAuth(t *testing.T) {
	srvTLS, cliTLS := selfSigned(t)
	users := []User{{Username: "plain", Password: "s3cret"}, {Username: "hashed",
		PasswordHash: "$2a$04$Zq8RM8AFTTEgN7G14ch6l.TEkpopQSpRzeaEsaNjQs7cJAKV8LYzW"}} // bcrypt("s3cret")
	ts := startServer(t, Options{AllowedNetworks: []netip.Prefix{}, Users: users, TLS: srvTLS})

	t.Run("refused without TLS", func(t *testing.T) {
		c := dialRaw(t, ts.addr)
		c.reply(t)
		c.write(t, "EHLO client\r\n")
		c.reply(t)
		c.write(t, "AUTH PLAIN AHBsYWluAHMzY3JldA==\r\n") // \0plain\0s3cret
		if got := c.reply(t); !strings.HasPrefix(got, "523 5.7.10") {
			t.Errorf("AUTH over plaintext: %q, want 523 5.7.10", got)
		}
	})
	for _, tt := range []struct {
		name string
		sasl sasl.Client
		want string
	}{
		{"plain", sasl.NewPlainClient("", "plain", "s3cret"), "250"},
		{"bcrypt", sasl.NewPlainClient("", "hashed", "s3cret"), "250"},
		{"login", sasl.NewLoginClient("plain", "s3cret"), "250"},
		{"wrong password", sasl.NewPlainClient("", "plain", "nope"), "535 5.7.8"},
		{"unknown user", sasl.NewPlainClient("", "who", "s3cret"), "535 5.7.8"},
		{"other identity", sasl.NewPlainClient("plain", "hashed", "s3cret"), "535 5.7.8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := gosmtp.DialStartTLS(ts.addr, cliTLS)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Auth(tt.sasl); code(err) != tt.want {
				t.Fatalf("AUTH: %v, want %s", err, tt.want)
			}
			if tt.want != "250" {
				return
			}
			if err := c.SendMail("a@example.org", []string{"support@example.com"}, strings.NewReader(message(tt.name, 1))); err != nil {
				t.Fatalf("after AUTH: %v", err)
			}
		})
	}
	msgs := ts.ing.messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3", len(msgs))
	}
	o := msgs[0].Origin.SMTP
	if !o.TLS || o.AuthUser != "plain" || !bytes.Contains(msgs[0].Raw, []byte("(using TLS 1.3)\r\n\tby mx.test (mailbridge) with ESMTPSA id")) {
		t.Errorf("origin %+v, raw:\n%s", o, msgs[0].Raw)
	}
}

func TestImplicitTLS(t *testing.T) {
	srvTLS, cliTLS := selfSigned(t)
	ts := startServer(t, Options{TLS: srvTLS, ImplicitTLS: true})
	c, err := gosmtp.DialTLS(ts.addr, cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("a@example.org", []string{"support@example.com"}, strings.NewReader(message("tls", 1))); err != nil {
		t.Fatal(err)
	}
	if m := ts.ing.messages(); len(m) != 1 || !m[0].Origin.SMTP.TLS {
		t.Fatalf("messages %+v", m)
	}
}

func TestSizeLimit(t *testing.T) {
	const limit = 2000
	ts := startServer(t, Options{MaxMessageBytes: limit})
	c := dial(t, ts.addr)
	// SIZE without a number: the client declares, Mail judges (so that
	// every size refusal is the session's, logged and counted).
	if ok, param := c.Extension("SIZE"); !ok || param != "" {
		t.Errorf("EHLO SIZE %q, %v; want SIZE without a number", param, ok)
	}
	// The client's dot writer ends the data with CRLF, which counts.
	exact := message("exact", 0)
	exact += strings.Repeat("x", limit-len(exact)-2) + "\r\n"
	if err := c.SendMail("a@example.org", []string{"support@example.com"}, strings.NewReader(exact)); err != nil {
		t.Fatalf("message of exactly the limit: %v", err)
	}
	over := message("over", 0)
	over += strings.Repeat("x", limit+1-len(over)-2) + "\r\n"
	if err := c.SendMail("a@example.org", []string{"support@example.com"}, strings.NewReader(over)); code(err) != "552 5.3.4" {
		t.Fatalf("one byte over: %v, want 552 5.3.4", err)
	}
	if err := c.Mail("a@example.org", &gosmtp.MailOptions{Size: limit + 1}); code(err) != "552 5.3.4" {
		t.Fatalf("MAIL SIZE=limit+1: %v, want 552 5.3.4", err)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	// The connection is still usable after the refusals.
	if err := c.SendMail("a@example.org", []string{"support@example.com"}, strings.NewReader(message("after", 1))); err != nil {
		t.Fatal(err)
	}
	msgs := ts.ing.messages()
	if len(msgs) != 2 || !bytes.HasSuffix(msgs[0].Raw, []byte(exact)) {
		t.Fatalf("%d messages queued, want 2 (exact, after)", len(msgs))
	}
}

func TestRecipientLimit(t *testing.T) {
	ts := startServer(t, Options{MaxRecipients: 2})
	c := dial(t, ts.addr)
	c.Mail("a@example.org", nil)
	c.Rcpt("support@example.com", nil)
	c.Rcpt("billing@example.com", nil)
	if err := c.Rcpt("x@help.example.com", nil); code(err) != "452 4.5.3" {
		t.Fatalf("third RCPT: %v, want 452 4.5.3", err)
	}
}

func TestStoreFailureIs451(t *testing.T) {
	ing := &fakeIngester{fail: map[int]bool{2: true}}
	ts := startServerWith(t, Options{}, ing)
	c := dial(t, ts.addr)
	err := c.SendMail("a@example.org", []string{"billing@example.com"}, strings.NewReader(message("fail", 1)))
	if code(err) != "451 4.3.0" {
		t.Fatalf("store failing: %v, want 451 4.3.0", err)
	}
	// Partly committed is not committed: the sender retries the whole
	// message and the dedup record absorbs the part already queued.
	err = c.SendMail("a@example.org", []string{"support@example.com", "billing@example.com"}, strings.NewReader(message("half", 1)))
	if code(err) != "451 4.3.0" {
		t.Fatalf("one of two subchannels failing: %v, want 451 4.3.0", err)
	}
}

func TestDuplicateIsAccepted(t *testing.T) {
	ts := startServerWith(t, Options{}, &fakeIngester{dup: true})
	c := dial(t, ts.addr)
	if err := c.SendMail("a@example.org", []string{"support@example.com"}, strings.NewReader(message("dup", 1))); err != nil {
		t.Fatalf("duplicate: %v, want 250", err)
	}
}

func TestLMTPPerRecipient(t *testing.T) {
	ts := startServerWith(t, Options{LMTP: true}, &fakeIngester{fail: map[int]bool{2: true}})
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := gosmtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("mta"); err != nil {
		t.Fatal(err)
	}
	c.Mail("a@example.org", nil)
	for _, r := range []string{"support@example.com", "billing@example.com", "x@help.example.com"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, message("lmtp", 1))
	ok, err := w.CloseWithLMTPResponse()
	lerr, isLMTP := err.(gosmtp.LMTPDataError)
	if !isLMTP || len(lerr) != 1 || code(lerr["billing@example.com"]) != "451 4.3.0" {
		t.Fatalf("LMTP errors = %v, want 451 4.3.0 for billing only", err)
	}
	if ok["support@example.com"] == nil || ok["x@help.example.com"] == nil {
		t.Errorf("LMTP successes = %v", ok)
	}
	msgs := ts.ing.messages()
	if len(msgs) != 2 || !bytes.Contains(msgs[0].Raw, []byte(" with LMTP id ")) {
		t.Fatalf("%d messages", len(msgs))
	}
}

func TestPipelining(t *testing.T) {
	ts := startServer(t, Options{})
	c := dialRaw(t, ts.addr)
	c.reply(t)
	c.write(t, "EHLO client\r\n")
	c.reply(t)
	// RFC 2920: the whole envelope in one write; DATA ends the group.
	c.write(t, "MAIL FROM:<a@example.org>\r\nRCPT TO:<nobody@example.com>\r\n"+
		"RCPT TO:<support@example.com>\r\nDATA\r\n")
	for _, want := range []string{"250 2.0.0", "550 5.1.1", "250 2.0.0", "354"} {
		if got := c.reply(t); !strings.HasPrefix(got, want) {
			t.Fatalf("got %q, want %s", got, want)
		}
	}
	c.write(t, message("pipe", 3)+"\r\n.\r\nMAIL FROM:<b@example.org>\r\nRCPT TO:<billing@example.com>\r\nDATA\r\n")
	for _, want := range []string{"250 2.0.0", "250 2.0.0", "250 2.0.0", "354"} {
		if got := c.reply(t); !strings.HasPrefix(got, want) {
			t.Fatalf("got %q, want %s", got, want)
		}
	}
	c.write(t, message("pipe2", 3)+"\r\n.\r\nQUIT\r\n")
	if got := c.reply(t); !strings.HasPrefix(got, "250 2.0.0 OK: queued as ") {
		t.Fatalf("got %q", got)
	}
	if n := len(ts.ing.messages()); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
}

func TestSMTPUTF8And8BitMIME(t *testing.T) {
	ts := startServer(t, Options{})
	c := dial(t, ts.addr)
	if ok, _ := c.Extension("SMTPUTF8"); !ok {
		t.Fatal("SMTPUTF8 not announced")
	}
	if ok, _ := c.Extension("8BITMIME"); !ok {
		t.Fatal("8BITMIME not announced")
	}
	if err := c.Mail("jörg@bücher.example", &gosmtp.MailOptions{UTF8: true, Body: gosmtp.Body8BitMIME}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("Jürgen@help.example.com", nil); err != nil {
		t.Fatal(err)
	}
	w, _ := c.Data()
	msg := "From: jörg@bücher.example\r\nSubject: Grüße\r\n\r\nÄpfel\r\n"
	io.WriteString(w, msg)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	m := ts.ing.messages()
	if len(m) != 1 || m[0].SubchannelID != 3 || m[0].Origin.SMTP.MailFrom != "jörg@bücher.example" ||
		!bytes.HasSuffix(m[0].Raw, []byte(msg)) || !bytes.Contains(m[0].Raw, []byte("for <Jürgen@help.example.com>")) {
		t.Fatalf("got %+v", m)
	}
}

func TestConnectionLimits(t *testing.T) {
	ts := startServer(t, Options{MaxConnections: 3, MaxConnectionsPerIP: 1})
	first := dialRaw(t, ts.addr)
	if got := first.reply(t); !strings.HasPrefix(got, "220 ") {
		t.Fatalf("greeting %q", got)
	}
	second := dialRaw(t, ts.addr)
	if got := second.reply(t); !strings.HasPrefix(got, "421 4.7.0") {
		t.Fatalf("second connection from one IP: %q, want 421 4.7.0", got)
	}
	// Closing the first frees its slot.
	first.write(t, "QUIT\r\n")
	first.reply(t)
	testenv.WaitUntil(t, 5*time.Second, "the slot to be freed", func() (bool, string) {
		got := dialRaw(t, ts.addr).reply(t)
		return strings.HasPrefix(got, "220 "), fmt.Sprintf("%q", got)
	})
}

func TestLineLimit(t *testing.T) {
	ts := startServer(t, Options{MaxLineLength: 1000})
	c := dialRaw(t, ts.addr)
	c.reply(t)
	c.write(t, "EHLO "+strings.Repeat("a", 1200)+"\r\n")
	if got := c.reply(t); !strings.HasPrefix(got, "500 5.4.0") {
		t.Fatalf("over-long line: %q, want 500 5.4.0", got)
	}
}

// TestGracefulShutdown: a transaction in DATA finishes and is
// acknowledged; an idle client is told 421; Serve returns.
func TestGracefulShutdown(t *testing.T) {
	ts := startServer(t, Options{ShutdownTimeout: 5 * time.Second})
	idle := dialRaw(t, ts.addr)
	idle.reply(t)
	busy := dialRaw(t, ts.addr)
	busy.reply(t)
	busy.write(t, "EHLO client\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<support@example.com>\r\nDATA\r\n")
	for range 4 {
		busy.reply(t)
	}
	msg := message("shutdown", 100)
	busy.write(t, msg[:50])

	ts.cancel()
	if got := idle.reply(t); !strings.HasPrefix(got, "421 ") {
		t.Errorf("idle client: %q, want 421", got)
	}
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Error("still accepting after shutdown began")
	}
	select {
	case <-ts.done:
		t.Fatal("Serve returned with a transaction in DATA")
	case <-time.After(100 * time.Millisecond):
	}
	busy.write(t, msg[50:]+"\r\n.\r\n")
	if got := busy.reply(t); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("DATA during shutdown: %q, want 250", got)
	}
	if got := busy.reply(t); !strings.HasPrefix(got, "421 ") {
		t.Errorf("after DATA during shutdown: %q, want 421", got)
	}
	ts.stop(t)
	if n := len(ts.ing.messages()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

func TestShutdownTimeout(t *testing.T) {
	ts := startServer(t, Options{ShutdownTimeout: 200 * time.Millisecond})
	c := dialRaw(t, ts.addr)
	c.reply(t)
	c.write(t, "EHLO client\r\nMAIL FROM:<a@example.org>\r\n")
	c.reply(t)
	c.reply(t)
	start := time.Now()
	ts.stop(t) // a stalled transaction must not hold shutdown for ever
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %s", d)
	}
	if n := len(ts.ing.messages()); n != 0 {
		t.Fatal("stalled transaction queued")
	}
}

func TestNewRejects(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := New(Options{}, &fakeIngester{}, log); err == nil {
		t.Error("New without a router")
	}
	r, _ := NewRouter(nil, false)
	if _, err := New(Options{Router: r, ImplicitTLS: true}, &fakeIngester{}, log); err == nil {
		t.Error("New with implicit TLS and no certificate")
	}
	srv, _ := New(Options{Router: r, Address: "127.0.0.1:bad"}, &fakeIngester{}, log)
	if err := srv.Run(context.Background()); err == nil {
		t.Error("Run on a bad address")
	}
}

// TestReconfigure: a reload changes routes, allowed networks and users for
// the next command, on a connection opened before it.
func TestReconfigure(t *testing.T) {
	ts := startServer(t, Options{})
	c := dialRaw(t, ts.addr)
	c.reply(t)
	c.cmd(t, "EHLO client")
	c.cmd(t, "MAIL FROM:<a@example.org>")
	if got := c.cmd(t, "RCPT TO:<new@example.net>"); !strings.HasPrefix(got, "550 5.1.1") {
		t.Fatalf("before the reload: %q, want 550 5.1.1", got)
	}

	r, err := NewRouter([]Route{{Address: "new@example.net", SubchannelID: 9}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.Reconfigure(r, nil, []User{{Username: "agent", Password: "pw"}}); err != nil {
		t.Fatal(err)
	}
	if got := c.cmd(t, "RCPT TO:<new@example.net>"); !strings.HasPrefix(got, "250") {
		t.Fatalf("after the reload: %q, want 250", got)
	}
	if got := c.cmd(t, "RCPT TO:<support@example.com>"); !strings.HasPrefix(got, "550 5.1.1") {
		t.Errorf("old route after the reload: %q, want 550 5.1.1", got)
	}
	// No network is allowed without AUTH any more, and there is a user.
	c.cmd(t, "RSET")
	if got := c.cmd(t, "MAIL FROM:<a@example.org>"); !strings.HasPrefix(got, "530") {
		t.Errorf("MAIL without AUTH after the reload: %q, want 530", got)
	}
	if err := ts.srv.Reconfigure(nil, nil, nil); err == nil {
		t.Error("Reconfigure without a router")
	}
}

// A reload that removes an account ends what sessions logged in with it
// may do: their next transaction needs AUTH again.
func TestReconfigureRemovesUser(t *testing.T) {
	ts := startServer(t, Options{AllowedNetworks: []netip.Prefix{}, Users: []User{{Username: "agent", Password: "pw"}},
		AllowInsecureAuth: true})
	c := dialRaw(t, ts.addr)
	c.reply(t)
	c.cmd(t, "EHLO client")
	if got := c.cmd(t, "AUTH PLAIN AGFnZW50AHB3"); !strings.HasPrefix(got, "235") { // \0agent\0pw
		t.Fatalf("AUTH: %q", got)
	}
	if got := c.cmd(t, "MAIL FROM:<a@example.org>"); !strings.HasPrefix(got, "250") {
		t.Fatalf("MAIL after AUTH: %q", got)
	}
	c.cmd(t, "RSET")
	r, _ := NewRouter(testRoutes, false)
	if err := ts.srv.Reconfigure(r, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := c.cmd(t, "MAIL FROM:<a@example.org>"); !strings.HasPrefix(got, "5") {
		t.Errorf("MAIL after the account was removed: %q, want a refusal", got)
	}
}
