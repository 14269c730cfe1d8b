package smtp

import (
	"io"
	"testing"
)

func TestRouter(t *testing.T) {
	r, err := NewRouter(append(testRoutes, Route{Address: "support+vip@example.com", SubchannelID: 9}), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		rcpt string
		want int // 0: no route
	}{
		{"support@example.com", 1},
		{"Support@EXAMPLE.com", 1},          // case-insensitive by default
		{"support+anything@example.com", 1}, // plus-addressing
		{"SUPPORT+x+y@example.com", 1},
		{"support+vip@example.com", 9}, // its own route wins
		{"billing@example.com", 2},
		{"anyone@help.example.com", 3}, // domain wildcard
		{"anyone@HELP.example.com.", 3},
		{"jürgen@help.example.com", 3}, // SMTPUTF8 local part
		{"nobody@example.com", 0},
		{"+x@example.com", 0},
		{"support@sub.example.com", 0},
		{"support", 0},
		{"", 0},
	} {
		got, ok := r.Lookup(tt.rcpt)
		if ok != (tt.want != 0) || got != tt.want {
			t.Errorf("Lookup(%q) = %d, %v; want %d", tt.rcpt, got, ok, tt.want)
		}
	}

	cs, err := NewRouter(testRoutes, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cs.Lookup("Support@example.com"); ok {
		t.Error("case-sensitive router matched Support@ to support@")
	}
	if id, ok := cs.Lookup("support@EXAMPLE.COM"); !ok || id != 1 {
		t.Error("case-sensitive router must still ignore the domain's case")
	}
	if _, err := NewRouter([]Route{{Address: "nodomain"}}, false); err == nil {
		t.Error("NewRouter accepted an address without @")
	}
}

// An internationalised domain is routed whichever form, Unicode or ASCII
// (punycode), the route and the recipient use.
func TestRouterIDNA(t *testing.T) {
	r, err := NewRouter([]Route{
		{Address: "*@bücher.example", SubchannelID: 1},
		{Address: "kasse@xn--mller-kva.example", SubchannelID: 2}, // müller.example
		{Address: "info@Straße.example", SubchannelID: 3},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		rcpt string
		want int // 0: no route
	}{
		{"kundin@bücher.example", 1},
		{"kundin@xn--bcher-kva.example", 1},
		{"kundin@XN--BCHER-KVA.example.", 1},
		{"kundin@BÜCHER.example", 1},
		{"kasse@müller.example", 2},
		{"kasse@xn--mller-kva.example", 2},
		{"Kasse+2024@MÜLLER.example", 2}, // plus-addressing, case
		{"info@xn--strae-oqa.example", 3},
		{"info@strasse.example", 0}, // non-transitional: ß is not ss
		{"jemand@müller.example", 0},
		{"kundin@xn--zzzzz-999.example", 0}, // not valid punycode
		{"kundin@bü\u202echer.example", 0},  // not valid IDNA
		{"kundin@xn--.example", 0},
	} {
		got, ok := r.Lookup(tt.rcpt)
		if ok != (tt.want != 0) || got != tt.want {
			t.Errorf("Lookup(%q) = %d, %v; want %d", tt.rcpt, got, ok, tt.want)
		}
	}
	for _, bad := range []string{"*@xn--zzzzz-999.example", "a@-bad.example", "a@b..example"} {
		if _, err := NewRouter([]Route{{Address: bad, SubchannelID: 1}}, false); err == nil {
			t.Errorf("NewRouter accepted %q", bad)
		}
	}
}

// Over SMTP: a client that sends the recipient's domain in punycode, as
// one without SMTPUTF8 must, reaches the route written in Unicode, and the
// recipient is recorded as sent.
func TestIDNARecipientOverSMTP(t *testing.T) {
	r, err := NewRouter([]Route{{Address: "*@bücher.example", SubchannelID: 7}}, false)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Options{Router: r})
	c := dial(t, ts.addr)
	if err := c.Mail("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("kundin@xn--bcher-kva.example", nil); err != nil {
		t.Fatalf("RCPT in punycode: %v, want 250", err)
	}
	if err := c.Rcpt("kundin@xn--zzzzz-999.example", nil); code(err) != "550 5.1.1" {
		t.Fatalf("RCPT with invalid punycode: %v, want 550 5.1.1", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, message("idna", 1))
	if err := w.Close(); err != nil {
		t.Fatalf("end of DATA: %v", err)
	}
	m := ts.ing.messages()
	if len(m) != 1 || m[0].SubchannelID != 7 || len(m[0].Origin.SMTP.RcptTo) != 1 ||
		m[0].Origin.SMTP.RcptTo[0] != "kundin@xn--bcher-kva.example" {
		t.Fatalf("ingested %+v", m)
	}
}
