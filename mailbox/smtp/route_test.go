package smtp

import "testing"

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
