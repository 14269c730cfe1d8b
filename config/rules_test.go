package config

import "testing"

func TestRulesValidation(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"full", `rules:
  - name: spam
    match: {header: {X-Spam-Flag: '(?i)^yes$'}, spamScoreAbove: 5, sclAbove: 4, sizeAbove: 100, auth: unauthenticated}
    then: {tags: [spam], process: "false", priority: low, direction: internal, drop: true}
  - match: {from: '@supplier\.example$', to: 'orders@', subject: '(?i)invoice'}
    then: {subchannel: 4, hold: true}`, nil},
		{"bad", `rules:
  - match: {}
    then: {}
  - match: {from: '(', auth: maybe, sizeAbove: -1}
    then: {subchannel: 9, priority: top, drop: true, hold: true, tags: ['']}`,
			[]string{
				`rules[0].match: needs at least one condition`,
				`rules[0].then: needs at least one action`,
				`rules[1].match.auth: must be one of authenticated, unauthenticated, unknown, pass, fail, none, temperror, permerror (got "maybe")`,
				"rules[1].match.from: invalid regexp: error parsing regexp: missing closing ): `(`",
				`rules[1].match.sizeAbove: must not be negative (got -1)`,
				`rules[1].then: drop and hold exclude each other`,
				`rules[1].then.priority: must be one of low, medium, high, urgent (got "top")`,
				`rules[1].then.subchannel: unknown subchannel 9 (configured: 1, 4)`,
				`rules[1].then.tags: a tag is empty`,
			}},
		{"typo", "rules: [{match: {subjct: x}, then: {drop: true}}]", []string{`rules[0].match: needs at least one condition`, `rules[0].match.subjct: unknown key (did you mean "subject"?)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectProblems(t, valid+tt.doc, tt.want)
		})
	}
}
