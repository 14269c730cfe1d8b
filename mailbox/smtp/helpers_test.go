package smtp

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/enneo/mailbridge/mailbox"
)

// fakeIngester records what it is given; fail makes Ingest fail for
// the subchannels it names.
type fakeIngester struct {
	mu   sync.Mutex
	msgs []mailbox.Message
	fail map[int]bool
	dup  bool
}

func (f *fakeIngester) Ingest(_ context.Context, m mailbox.Message) (mailbox.Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[m.SubchannelID] {
		return mailbox.Receipt{}, errors.New("disk full")
	}
	f.msgs = append(f.msgs, m)
	return mailbox.Receipt{QueueID: int64(len(f.msgs)), ExternalID: "id@test", Duplicate: f.dup}, nil
}

func (f *fakeIngester) messages() []mailbox.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]mailbox.Message(nil), f.msgs...)
}

var testRoutes = []Route{
	{Address: "support@example.com", SubchannelID: 1},
	{Address: "billing@example.com", SubchannelID: 2},
	{Address: "*@help.example.com", SubchannelID: 3},
}

// testServer serves opts on a loopback port until the test ends and
// returns its address.
type testServer struct {
	srv    *Server
	addr   string
	ing    *fakeIngester
	cancel context.CancelFunc
	done   chan error
}

func startServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	return startServerWith(t, opts, &fakeIngester{})
}

func startServerWith(t testing.TB, opts Options, ing *fakeIngester) *testServer {
	t.Helper()
	return startServerLogged(t, opts, ing, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func startServerLogged(t testing.TB, opts Options, ing *fakeIngester, log *slog.Logger) *testServer {
	t.Helper()
	if opts.Router == nil {
		r, err := NewRouter(testRoutes, false)
		if err != nil {
			t.Fatal(err)
		}
		opts.Router = r
	}
	if opts.AllowedNetworks == nil {
		opts.AllowedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	opts.Hostname = "mx.test"
	opts.Name = "test"
	srv, err := New(opts, ing, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{srv: srv, addr: ln.Addr().String(), ing: ing, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

// stop cancels the server and waits for Serve to return, bounded.
func (ts *testServer) stop(t testing.TB) {
	t.Helper()
	ts.cancel()
	select {
	case err, ok := <-ts.done:
		if ok && err != nil {
			t.Errorf("Serve: %v", err)
		}
		if ok {
			close(ts.done)
		}
	case <-time.After(10 * time.Second):
		t.Error("Serve did not return within 10s of cancel")
	}
}

func dial(t *testing.T, addr string) *gosmtp.Client {
	t.Helper()
	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// code returns the SMTP code and enhanced code of err as "550 5.1.1", or
// "250" for nil.
func code(err error) string {
	var e *gosmtp.SMTPError
	switch {
	case err == nil:
		return "250"
	case errors.As(err, &e):
		return fmt.Sprintf("%d %d.%d.%d", e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2])
	}
	return err.Error()
}

func message(subject string, bodyBytes int) string {
	h := "From: a@example.org\r\nTo: support@example.com\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject + "@example.org>\r\n\r\n"
	return h + strings.Repeat("x", bodyBytes)
}

// rawConn speaks SMTP by hand, for what go-smtp's client will not do
// (pipelining, commands out of order).
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

// reply reads one (possibly multi-line) reply and returns its last line.
func (c *rawConn) reply(t *testing.T) string {
	t.Helper()
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading reply: %v (got %q)", err, line)
		}
		if len(line) < 4 || line[3] != '-' {
			return strings.TrimRight(line, "\r\n")
		}
	}
}

func (c *rawConn) write(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// cmd sends one command line and returns the last line of its reply.
func (c *rawConn) cmd(t *testing.T, line string) string {
	t.Helper()
	c.write(t, line+"\r\n")
	return c.reply(t)
}

// selfSigned makes a certificate for 127.0.0.1 and a client config that
// trusts it.
func selfSigned(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mx.test"},
		DNSNames:     []string{"mx.test", "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool, ServerName: "mx.test"}
}
