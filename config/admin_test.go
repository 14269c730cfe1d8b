package config

import "testing"

func TestAdminListen(t *testing.T) {
	for _, tc := range []struct {
		doc, want string
	}{
		{"", DefaultAdminListen},
		{"admin: {}\n", DefaultAdminListen},
		{"admin: {listen: \":9100\"}\n", ":9100"},
		{"admin: {listen: \"127.0.0.1:0\"}\n", "127.0.0.1:0"},
		{"admin: {listen: \"off\"}\n", ""},
		{"admin: {listen: \"\"}\n", ""},
	} {
		if got := mustParse(t, tc.doc+valid).AdminAddress(); got != tc.want {
			t.Errorf("%q: AdminAddress() = %q, want %q", tc.doc, got, tc.want)
		}
	}
	expectProblems(t, "admin: {listen: \"localhost\"}\n"+valid,
		[]string{`admin.listen: must be host:port or "off" (got "localhost")`})
	expectProblems(t, "admin: {listen: \"127.0.0.1:99999\"}\n"+valid,
		[]string{`admin.listen: port must be 0-65535 (got "99999")`})
	expectProblems(t, "admin: {listen: off, pprof: true}\n"+valid,
		[]string{"admin.pprof: needs the admin listener, and admin.listen is off"})
	if c := mustParse(t, "admin: {pprof: true}\n"+valid); !c.Admin.Pprof {
		t.Error("admin.pprof: true not read")
	}
}
