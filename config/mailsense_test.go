package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMailSenseRules(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"every policy", "mailSense: {policies: {autoReply: skip, bounce: deadletter, list: store}}", nil},
		{"post", "mailSense: {policies: {autoReply: post, bounce: post, list: post}}", nil},
		{"unknown policies", "mailSense: {policies: {autoReply: ignore, bounce: drop, list: Store}}",
			[]string{
				`mailSense.policies.autoReply: must be one of store, skip, deadletter, post (got "ignore")`,
				`mailSense.policies.bounce: must be one of store, skip, deadletter, post (got "drop")`,
				`mailSense.policies.list: must be one of store, skip, deadletter, post (got "Store")`,
			}},
		{"policy typo key", "mailSense: {policies: {autoreply: skip}}",
			[]string{`mailSense.policies.autoreply: unknown key (did you mean "autoReply"?)`}},
		{"unknown key", "mailSense: {loopbreaker: {max: 3}}",
			[]string{`mailSense.loopbreaker: unknown key (did you mean "loopBreaker"?)`}},
		{"loop breaker off", "mailSense: {loopBreaker: {max: 0}}", nil},
		{"loop breaker negative", "mailSense: {loopBreaker: {max: -1}}",
			[]string{`mailSense.loopBreaker.max: must be 0-10000 (0 turns the loop breaker off)`}},
		{"loop breaker huge", "mailSense: {loopBreaker: {max: 10001}}",
			[]string{`mailSense.loopBreaker.max: must be 0-10000 (0 turns the loop breaker off)`}},
		{"loop breaker window", "mailSense: {loopBreaker: {window: -1m}}",
			[]string{`mailSense.loopBreaker.window: must be positive (got -1m0s)`}},
		{"loop breaker window unit", "mailSense: {loopBreaker: {window: 600}}",
			[]string{`mailSense.loopBreaker.window: invalid duration "600" (missing unit, e.g. "600s")`}},
		{"urgent", "mailSense: {urgentPriority: urgent}", nil},
		{"urgent medium", "mailSense: {urgentPriority: medium}",
			[]string{`mailSense.urgentPriority: must be one of high, urgent (got "medium")`}},
		{"domains", "mailSense: {internalDomains: [example.com, Corp.Example.NET, xn--bcher-kva.example]}", nil},
		{"bad domains", "mailSense: {internalDomains: ['@example.com', '*.example.com', .example.com, 'a b', example., '', EXAMPLE.com, example.com]}",
			[]string{
				`mailSense.internalDomains[0]: must be a domain such as example.com, without @ (got "@example.com")`,
				`mailSense.internalDomains[1]: must be a domain such as example.com; its subdomains are included anyway (got "*.example.com")`,
				`mailSense.internalDomains[2]: must be a domain such as example.com; its subdomains are included anyway (got ".example.com")`,
				`mailSense.internalDomains[3]: must be a domain such as example.com, without @ (got "a b")`,
				`mailSense.internalDomains[4]: must be a domain such as example.com, without @ (got "example.")`,
				`mailSense.internalDomains[5]: must be a domain such as example.com, without @ (got "")`,
				`mailSense.internalDomains[7]: duplicate domain "example.com" (also mailSense.internalDomains[6])`,
			}},
		{"own addresses", "mailSense: {ownAddresses: [support@example.com, Sales@Example.com]}", nil},
		{"bad own addresses", "mailSense: {ownAddresses: ['*@example.com', 'Support <support@example.com>', example.com, SUPPORT@example.com, support@example.com]}",
			[]string{
				`mailSense.ownAddresses[0]: must be an exact address; wildcards are not allowed (got "*@example.com")`,
				`mailSense.ownAddresses[1]: must be an address such as support@example.com (got "Support <support@example.com>")`,
				`mailSense.ownAddresses[2]: must be an address such as support@example.com (got "example.com")`,
				`mailSense.ownAddresses[4]: duplicate address "support@example.com" (also mailSense.ownAddresses[3])`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectProblems(t, valid+tt.doc, tt.want)
		})
	}
}

func TestMailSenseValues(t *testing.T) {
	c := mustParse(t, valid+`
mailSense:
  policies: {bounce: skip}
  loopBreaker: {max: 0, window: 1h}
  urgentPriority: urgent
  internalDomains: [example.com]
`)
	want := MailSense{
		Policies:        SensePolicies{AutoReply: "store", Bounce: "skip", List: "post"},
		LoopBreaker:     LoopBreaker{Max: new(int), Window: Duration(time.Hour)},
		UrgentPriority:  "urgent",
		InternalDomains: []string{"example.com"},
	}
	if !reflect.DeepEqual(c.MailSense, want) {
		t.Errorf("got %+v, want %+v", c.MailSense, want)
	}
}

func TestOwnAddresses(t *testing.T) {
	c := mustParse(t, valid+`
mailSense:
  ownAddresses: [Noreply@example.com]
smtp:
  routes:
    - {address: Support@Example.com, subchannelId: 1}
    - {address: "*@help.example.com", subchannelId: 1}
    - {address: noreply@example.com, subchannelId: 4}
mailboxes:`+mailbox+strings.NewReplacer("support", "b", "bob", "sales@example.com").Replace(mailbox)+
		strings.NewReplacer("support", "c", `bob`, `'DOMAIN\agent'`).Replace(mailbox))
	want := []string{"noreply@example.com", "support@example.com", "sales@example.com"}
	if got := c.OwnAddresses(); !slices.Equal(got, want) {
		t.Errorf("OwnAddresses = %q, want %q", got, want)
	}
}
