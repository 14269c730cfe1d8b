package idn

import "testing"

func TestDomain(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"bücher.example", "xn--bcher-kva.example"},
		{"BÜCHER.Example", "xn--bcher-kva.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"XN--BCHER-KVA.EXAMPLE.", "xn--bcher-kva.example"},
		{"straße.de", "xn--strae-oqa.de"}, // non-transitional: ß stays ß
		{"Help.Example.com", "help.example.com"},
		{"mail_gw.corp.example", "mail_gw.corp.example"},
		{"[192.0.2.1]", "[192.0.2.1]"},
		{"[IPv6:2001:DB8::1]", "[ipv6:2001:db8::1]"},
	} {
		if got, err := Domain(tt.in); err != nil || got != tt.want {
			t.Errorf("Domain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{
		"", ".", "xn--zzzzz-999.example", "xn--.example", "a..example", "-a.example",
		"ex ample.com", "a\u202eb.example", "a@b.example", "a*.example",
	} {
		if got, err := Domain(bad); err == nil {
			t.Errorf("Domain(%q) = %q, want an error", bad, got)
		}
	}
}
