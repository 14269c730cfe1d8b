// Package idn puts mail domains into one form, so that an internationalised
// domain written in Unicode (bücher.example) and in its ASCII form
// (xn--bcher-kva.example) compare equal.
package idn

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

// profile is UTS #46 lookup processing (mapping, case folding, bidi and
// hyphen rules), except that it allows the underscore: some internal mail
// domains carry one, and they were routed before domains were normalised.
var profile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false),
	idna.StrictDomainName(false))

// Domain returns the lower-case ASCII form of a mail domain, without a
// trailing dot. An address literal ([192.0.2.1]) is only lower-cased. A
// domain that is not a valid IDNA name is an error.
func Domain(d string) (string, error) {
	d = strings.TrimSuffix(d, ".")
	if strings.HasPrefix(d, "[") {
		return strings.ToLower(d), nil
	}
	a, err := profile.ToASCII(d)
	if err != nil {
		return "", fmt.Errorf("domain %q: %w", d, err)
	}
	if a == "" {
		return "", errors.New("empty domain")
	}
	for label := range strings.SplitSeq(a, ".") {
		if label == "" {
			return "", fmt.Errorf("domain %q: empty label", d)
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("domain %q: %q is not allowed in a domain", d, c)
			}
		}
	}
	return a, nil
}
