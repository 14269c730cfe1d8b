package config

import (
	"fmt"
	"regexp"
	"slices"
)

// Rule is one entry of rules: the conditions of Match, all of which must
// hold, and what Then does to a mail they hold for. Rules run in order;
// every rule that matches applies, a later one's settings over an
// earlier one's, until one drops or holds the mail.
type Rule struct {
	Name  string     `yaml:"name"` // for logs and parse --explain (default rules[i])
	Match RuleMatch  `yaml:"match"`
	Then  RuleAction `yaml:"then"`
}

// RuleMatch are a rule's conditions; regexps are Go syntax, unanchored
// unless they say ^...$. At least one must be set.
type RuleMatch struct {
	// Header maps a header field name to a regexp one of its values
	// must match (unfolded, RFC 2047 words as written).
	Header  map[string]string `yaml:"header"`
	From    string            `yaml:"from"`    // regexp on the From address
	To      string            `yaml:"to"`      // regexp one To or Cc address must match
	Subject string            `yaml:"subject"` // regexp on the decoded subject
	// SizeAbove matches mail larger than this many bytes.
	SizeAbove int64 `yaml:"sizeAbove"`
	// Auth matches the sender authentication verdict (see auth):
	// authenticated, unauthenticated (a verdict that is not a pass),
	// unknown (no verdict), or a DMARC result: pass, fail, none,
	// temperror, permerror.
	Auth string `yaml:"auth"`
	// SpamFlag matches X-Spam-Flag: YES (true) or its absence (false).
	SpamFlag *bool `yaml:"spamFlag"`
	// SpamScoreAbove matches X-Spam-Score (SpamAssassin, rspamd) above it.
	SpamScoreAbove *float64 `yaml:"spamScoreAbove"`
	// SCLAbove matches Microsoft's X-MS-Exchange-Organization-SCL above
	// it (-1 to 9).
	SCLAbove *int `yaml:"sclAbove"`
}

// RuleAction is what a matching rule does.
type RuleAction struct {
	// Subchannel queues the mail for this subchannel instead (decided
	// when the mail is queued).
	Subchannel int      `yaml:"subchannel"`
	Priority   string   `yaml:"priority"`  // low | medium | high | urgent
	Direction  string   `yaml:"direction"` // in | out | internal
	Process    string   `yaml:"process"`   // realtime | batch | false
	Tags       []string `yaml:"tags"`      // added to rawData.tags
	// Drop keeps the mail in the queue as dropped, not posted.
	Drop bool `yaml:"drop"`
	// Hold keeps it in the queue as held until queue release.
	Hold bool `yaml:"hold"`
}

// RuleAuthValues are the values of rules[].match.auth.
var RuleAuthValues = []string{"authenticated", "unauthenticated", "unknown", "pass", "fail", "none", "temperror", "permerror"}

func validateRules(p *problems, rules []Rule, subchannels map[int]int) {
	for i, r := range rules {
		path := index("rules", i)
		m, a := r.Match, r.Then
		re := func(key, v string) {
			if v == "" {
				return
			}
			if _, err := regexp.Compile(v); err != nil {
				p.add(path+".match."+key, "invalid regexp: %v", err)
			}
		}
		re("from", m.From)
		re("to", m.To)
		re("subject", m.Subject)
		for name, v := range m.Header {
			if name == "" {
				p.add(path+".match.header", "a header field name is empty")
			}
			re("header."+name, v)
		}
		if m.SizeAbove < 0 {
			p.add(path+".match.sizeAbove", "must not be negative (got %d)", m.SizeAbove)
		}
		if m.Auth != "" {
			p.oneOf(path+".match.auth", m.Auth, RuleAuthValues...)
		}
		if len(m.Header) == 0 && m.From == "" && m.To == "" && m.Subject == "" && m.SizeAbove == 0 && m.Auth == "" &&
			m.SpamFlag == nil && m.SpamScoreAbove == nil && m.SCLAbove == nil {
			p.add(path+".match", "needs at least one condition")
		}
		if a.Subchannel != 0 {
			p.subchannelRef(path+".then.subchannel", a.Subchannel, subchannels)
		}
		if a.Priority != "" {
			p.oneOf(path+".then.priority", a.Priority, "low", "medium", "high", "urgent")
		}
		if a.Direction != "" {
			p.oneOf(path+".then.direction", a.Direction, "in", "out", "internal")
		}
		if a.Process != "" {
			p.oneOf(path+".then.process", a.Process, "realtime", "batch", "false")
		}
		if slices.Contains(a.Tags, "") {
			p.add(path+".then.tags", "a tag is empty")
		}
		if a.Drop && a.Hold {
			p.add(path+".then", "drop and hold exclude each other")
		}
		if a.Subchannel == 0 && a.Priority == "" && a.Direction == "" && a.Process == "" && len(a.Tags) == 0 && !a.Drop && !a.Hold {
			p.add(path+".then", "needs at least one action")
		}
	}
}

// RuleName is rule i's name for logs: its name, else rules[i].
func RuleName(rules []Rule, i int) string {
	if rules[i].Name != "" {
		return rules[i].Name
	}
	return fmt.Sprintf("rules[%d]", i)
}
