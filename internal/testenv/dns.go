package testenv

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// DNS is an authoritative DNS server on a loopback UDP port that answers
// from records the test sets: DKIM keys, SPF and DMARC policies.
type DNS struct {
	Addr string // host:port

	mu   sync.Mutex
	txt  map[string][]string
	a    map[string][]net.IP
	down atomic.Bool
	// Queries counts the questions answered.
	Queries atomic.Int64
}

// StartDNS starts the server and stops it in t.Cleanup.
func StartDNS(t testing.TB) *DNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &DNS{Addr: pc.LocalAddr().String(), txt: map[string][]string{}, a: map[string][]net.IP{}}
	srv := &dns.Server{PacketConn: pc, Handler: d}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return d
}

// TXT adds a TXT record (one string; split into 255-byte pieces as a zone
// file would).
func (d *DNS) TXT(name, value string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := dns.Fqdn(strings.ToLower(name))
	d.txt[k] = append(d.txt[k], value)
}

// A adds an address record.
func (d *DNS) A(name string, ip net.IP) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := dns.Fqdn(strings.ToLower(name))
	d.a[k] = append(d.a[k], ip)
}

// Down makes every answer SERVFAIL (down true) or normal again.
func (d *DNS) Down(down bool) { d.down.Store(down) }

func (d *DNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	d.Queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if d.down.Load() {
		m.Rcode = dns.RcodeServerFailure
		_ = w.WriteMsg(m)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	known := false
	for _, q := range req.Question {
		name := strings.ToLower(q.Name)
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 60}
		_, hasTXT := d.txt[name]
		_, hasA := d.a[name]
		known = known || hasTXT || hasA
		switch q.Qtype {
		case dns.TypeTXT:
			for _, v := range d.txt[name] {
				hdr.Rrtype = dns.TypeTXT
				m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: split255(v)})
			}
		case dns.TypeA:
			for _, ip := range d.a[name] {
				if ip4 := ip.To4(); ip4 != nil {
					hdr.Rrtype = dns.TypeA
					m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: ip4})
				}
			}
		}
	}
	if !known {
		m.Rcode = dns.RcodeNameError
	}
	_ = w.WriteMsg(m)
}

func split255(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}

// DKIMKey is a signing key and the TXT record that publishes it.
type DKIMKey struct {
	Signer crypto.Signer
	Record string // v=DKIM1; k=...; p=...
}

// NewDKIMKey makes a key: "rsa" (2048 bits) or "ed25519".
func NewDKIMKey(t testing.TB, kind string) DKIMKey {
	t.Helper()
	switch kind {
	case "ed25519":
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return DKIMKey{Signer: priv, Record: "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}
	default:
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return DKIMKey{Signer: priv, Record: "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)}
	}
}
