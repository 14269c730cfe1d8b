package pipeline

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/enneo/mailbridge/config"
)

func TestRequiredBytes(t *testing.T) {
	for _, c := range []struct{ pattern, want string }{
		{config.DefaultSubjectPattern(""), "#"},
		{config.DefaultSubjectPattern("ACME-"), "#-"},
		{`\[#(\d+)\]`, "#[]"},
		{`(?i)ticket:(\d+)`, ":"},
		{`Ticket:(\d+)`, ":Tceikt"},
		{`(?:#|No\.)(\d+)`, ""},
		{`[#](\d+)`, "#"},
		{`#?(\d+)`, ""},
		{`(?:#){2,}(\d+)`, "#"},
		{`(\d+)`, ""},
	} {
		if got := requiredBytes(regexp.MustCompile(c.pattern)); got != c.want {
			t.Errorf("requiredBytes(%q) = %q, want %q", c.pattern, got, c.want)
		}
	}
}

// TestRequiredBytesInEveryMatch checks on generated subjects that whatever
// a pattern matches holds the bytes requiredBytes says it needs.
func TestRequiredBytesInEveryMatch(t *testing.T) {
	patterns := []string{
		config.DefaultSubjectPattern(""), config.DefaultSubjectPattern("ACME-"),
		`(?i)(?:re|fw):\s*\[(\d+)\]`, `(?:#|No\.)(\d+)`, `T(?i:icket)#(\d+)`, `(?:ab|cd)+x(\d)`,
	}
	pieces := []string{"#", "[", "]", "ticket", "TICKET", "Ticket ", "#12", "[#7]", "ACME-", "acme-", "No.", "re:",
		"Fw: ", "ab", "cd", "x", "5", "42 ", " ", "Invoice", "\u212a", "é"}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, p := range patterns {
		re := regexp.MustCompile(p)
		need := requiredBytes(re)
		matched := 0
		for range 20000 {
			var b strings.Builder
			for range 1 + rng.IntN(6) {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
			s := b.String()
			if re.MatchString(s) {
				matched++
				if !mayMatch(need, s) {
					t.Fatalf("%q matches %q, which lacks one of %q", p, s, need)
				}
			}
		}
		if matched == 0 {
			t.Errorf("%q matched none of the subjects built", p)
		}
	}
}
