package pipeline

import (
	"strings"
	"testing"

	"github.com/enneo/mailbridge/mailauth"
)

// parsedAddress is bareAddress by the address parser alone.
func parsedAddress(a string) string {
	if list, err := mailauth.ParseAddressList(a); err == nil && len(list) == 1 {
		return strings.ToLower(list[0].Address)
	}
	return strings.ToLower(strings.TrimSpace(a))
}

// An address taken as it is reads as the parser reads it.
func TestBareAddressAsParsed(t *testing.T) {
	for _, a := range []string{
		"carl@example.org", "Carl@Example.ORG", "a.b+tag@sub.example.co.uk", "x!#$%&'*+-/=?^_`{|}~@y",
		"Carl <carl@example.org>", "\"a b\"@example.org", "a..b@example.org", ".a@example.org", "a.@example.org",
		"a@.example.org", "a@example.org.", "a@b@c", "@example.org", "a@", "a", "", " a@b ", "a@[127.0.0.1]",
		"a(comment)@b", "ü@example.org", "a@exämple.org", "a,b@c", "a@b,c@d", "a@b\t", "a@b;",
	} {
		if got, want := bareAddress(a), parsedAddress(a); got != want {
			t.Errorf("bareAddress(%q) = %q, the parser reads %q", a, got, want)
		}
	}
}

func FuzzBareAddress(f *testing.F) {
	f.Add("carl@example.org")
	f.Add("a.b+c@d.e")
	f.Fuzz(func(t *testing.T, a string) {
		if got, want := bareAddress(a), parsedAddress(a); got != want {
			t.Errorf("bareAddress(%q) = %q, the parser reads %q", a, got, want)
		}
	})
}
