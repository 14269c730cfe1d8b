package mailauth

import (
	"reflect"
	"strings"
	"testing"
)

// headerFields reads each message alike whatever message its pooled
// reader read before.
func TestHeaderFieldsPooled(t *testing.T) {
	long := "Authentication-Results: mx.example.com; dkim=pass\r\n" +
		"X-Filler: " + strings.Repeat("y", 6000) + "\r\n" +
		"Received: from a\r\n" +
		"authentication-results : mx.example.net;\r\n\tspf=fail\r\n" +
		"\r\nAuthentication-Results: in the body\r\n"
	short := "Subject: s\r\nAuthentication-Results: x; dmarc=none\r\n\r\n"
	cases := []struct {
		raw  string
		want []field
	}{
		{long, []field{{0, " mx.example.com; dkim=pass"}, {3, " mx.example.net; spf=fail"}}},
		{short, []field{{1, " x; dmarc=none"}}},
		{"", nil},
		{"Authentication-Results: unterminated", []field{{0, " unterminated"}}},
	}
	for round := range 3 {
		for i := range cases {
			c := cases[(i+round)%len(cases)]
			if got := headerFields([]byte(c.raw), "Authentication-Results", 64); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("headerFields(%.40q) = %+v, want %+v", c.raw, got, c.want)
			}
		}
	}
}
