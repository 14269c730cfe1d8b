package config

import (
	"testing"
)

func TestThreadingRules(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"all on", "threading: {messageIds: true, subject: {enabled: true, minimum: 1000}, plusAddress: {enabled: true}}", nil},
		{"all off", "threading: {messageIds: false, subject: {enabled: false}, plusAddress: {enabled: false}}", nil},
		{"custom pattern", `threading: {subject: {pattern: '(?i)\[ACME-(\d+)\]'}}`, nil},
		{"prefix", "threading: {subject: {prefix: ACME-}}", nil},
		{"bad regexp", `threading: {subject: {pattern: '[#(\d+)'}}`,
			[]string{"threading.subject.pattern: invalid regexp: error parsing regexp: missing closing ]: `[#(\\d+)`"}},
		{"no group", `threading: {subject: {pattern: '#\d+'}}`,
			[]string{"threading.subject.pattern: must have exactly one capture group, the ticket number (has 0; use (?:...) for the others)"}},
		{"two groups", `threading: {subject: {pattern: '(\[)#(\d+)'}}`,
			[]string{"threading.subject.pattern: must have exactly one capture group, the ticket number (has 2; use (?:...) for the others)"}},
		{"prefix with pattern", `threading: {subject: {pattern: '#(\d+)', prefix: X}}`,
			[]string{"threading.subject.prefix: applies to the default pattern only; write it into threading.subject.pattern"}},
		{"negative minimum", "threading: {subject: {minimum: -1}}",
			[]string{"threading.subject.minimum: must not be negative (got -1)"}},
		{"search", "threading: {search: {enabled: true, key: ticketExternalId, comparator: eq}}", nil},
		{"search blank key", "threading: {search: {key: ' '}}",
			[]string{"threading.search.key: must not be empty"}},
		{"typo", "threading: {plusaddress: {enabled: true}}",
			[]string{`threading.plusaddress: unknown key (did you mean "plusAddress"?)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectProblems(t, valid+tt.doc, tt.want)
		})
	}
}

func TestThreadingSearchOn(t *testing.T) {
	for doc, want := range map[string]bool{
		"":                                       true,
		"threading: {search: {enabled: false}}":  false,
		"threading: {messageIds: false}":         false,
		"threading: {subject: {enabled: false}}": true,
	} {
		c := mustParse(t, valid+doc)
		if got := c.Threading.SearchOn(); got != want {
			t.Errorf("%q: SearchOn %v, want %v", doc, got, want)
		}
		if s := c.Threading.Search; s.Key != "externalTicketId" || s.Comparator != "in" {
			t.Errorf("%q: search %+v", doc, s)
		}
	}
}

func TestThreadingDefaults(t *testing.T) {
	c := mustParse(t, valid)
	th := c.Threading
	if th.MessageIDs == nil || !*th.MessageIDs || th.Subject.Enabled == nil || !*th.Subject.Enabled ||
		th.Subject.Minimum != 1 || th.PlusAddress.Enabled {
		t.Errorf("defaults = %+v", th)
	}
	re := th.SubjectRegexp()
	for subject, want := range map[string]string{
		"Re: [#123] help":          "123",
		"AW: [Ticket#77] Rechnung": "77",
		"Re: ticket #9 still open": "9",
		"Order #55":                "",
		"[#12a]":                   "",
	} {
		got := ""
		if m := re.FindStringSubmatch(subject); m != nil {
			got = m[1]
		}
		if got != want {
			t.Errorf("%q: number %q, want %q", subject, got, want)
		}
	}
	c = mustParse(t, valid+"threading: {subject: {prefix: ACME-}}")
	re = c.Threading.SubjectRegexp()
	if m := re.FindStringSubmatch("Re: [#ACME-5] x"); m == nil || m[1] != "5" || re.MatchString("Re: [#5] x") {
		t.Errorf("prefix pattern %s", re)
	}
	c = mustParse(t, valid+"threading: {subject: {enabled: false}}")
	if c.Threading.SubjectRegexp() != nil {
		t.Error("subject rule off yet a pattern")
	}
}
