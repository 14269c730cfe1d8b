package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"

	"github.com/enneo/mailbridge/mailauth"
	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/mapper"
	"github.com/enneo/mailbridge/store"
)

// Rule is one compiled entry of the rules list (config.Rule): all its
// conditions must hold for its actions to apply.
type Rule struct {
	Name string
	// Conditions; nil or zero ones are not checked.
	Header         map[string]*regexp.Regexp // canonical field name → regexp
	From, To       *regexp.Regexp
	Subject        *regexp.Regexp
	SizeAbove      int64
	Auth           string
	SpamFlag       *bool
	SpamScoreAbove *float64
	SCLAbove       *int
	Then           RuleAction
}

// RuleAction is what a matching rule does.
type RuleAction struct {
	Subchannel int
	Priority   string
	Direction  string
	Process    string
	Tags       []string
	Drop, Hold bool
}

// Rules is the ordered rules list.
type Rules []Rule

// Fired is a rule that matched a mail, and why.
type Fired struct {
	Rule *Rule
	Why  []string // one line per condition
}

// ruleInput is what rules look at, read from the raw mail alone so that
// the rules decide the same when the mail is queued and at delivery.
type ruleInput struct {
	header  textproto.MIMEHeader
	from    string
	rcpts   []string
	subject string
	size    int
	auth    *mailauth.Result
}

func newRuleInput(raw []byte, auth Auth) ruleInput {
	in := ruleInput{size: len(raw), auth: mailauth.FromHeaders(raw, auth.Trusted, auth.OwnID)}
	// The whole header, as DKIM reads it: a malformed line does not hide
	// the fields below it (a spam filter's verdict appended at the end).
	fields, _ := mailauth.Fields(raw)
	h := make(textproto.MIMEHeader, len(fields))
	for _, f := range fields {
		h.Add(f.Name, f.Value)
	}
	in.header = h
	if list, err := mailauth.ParseAddressList(h.Get("From")); err == nil && len(list) == 1 {
		in.from = strings.ToLower(list[0].Address)
	}
	for _, k := range []string{"To", "Cc"} {
		for _, v := range h.Values(k) {
			list, _ := mailauth.ParseAddressList(v)
			for _, a := range list {
				in.rcpts = append(in.rcpts, strings.ToLower(a.Address))
			}
		}
	}
	in.subject = mapper.ParseHeader(raw).Subject
	return in
}

// Match runs the rules on raw, in order, and returns those that fire:
// every matching rule up to and including the first that drops or holds.
func (rs Rules) Match(raw []byte, auth Auth) []Fired {
	if len(rs) == 0 {
		return nil
	}
	in := newRuleInput(raw, auth)
	var fired []Fired
	for i := range rs {
		why, ok := rs[i].match(in)
		if !ok {
			continue
		}
		fired = append(fired, Fired{Rule: &rs[i], Why: why})
		if rs[i].Then.Drop || rs[i].Then.Hold {
			break
		}
	}
	return fired
}

func (r *Rule) match(in ruleInput) ([]string, bool) {
	var why []string
	re := func(what string, re *regexp.Regexp, values ...string) bool {
		if re == nil {
			return true
		}
		for _, v := range values {
			if re.MatchString(v) {
				why = append(why, fmt.Sprintf("%s %q matches %s", what, v, re))
				return true
			}
		}
		return false
	}
	for name, x := range r.Header {
		if !re(name, x, in.header.Values(name)...) {
			return nil, false
		}
	}
	if !re("from", r.From, in.from) || !re("to/cc", r.To, in.rcpts...) || !re("subject", r.Subject, in.subject) {
		return nil, false
	}
	if r.SizeAbove > 0 {
		if int64(in.size) <= r.SizeAbove {
			return nil, false
		}
		why = append(why, fmt.Sprintf("size %d above %d", in.size, r.SizeAbove))
	}
	if r.Auth != "" {
		v := authVerdict(in.auth, r.Auth)
		if !v {
			return nil, false
		}
		why = append(why, "auth "+r.Auth)
	}
	if r.SpamFlag != nil {
		flagged := strings.EqualFold(strings.TrimSpace(in.header.Get("X-Spam-Flag")), "yes")
		if flagged != *r.SpamFlag {
			return nil, false
		}
		why = append(why, fmt.Sprintf("X-Spam-Flag yes: %v", flagged))
	}
	if r.SpamScoreAbove != nil {
		s, err := strconv.ParseFloat(strings.Fields(in.header.Get("X-Spam-Score") + " x")[0], 64)
		if err != nil || s <= *r.SpamScoreAbove {
			return nil, false
		}
		why = append(why, fmt.Sprintf("X-Spam-Score %g above %g", s, *r.SpamScoreAbove))
	}
	if r.SCLAbove != nil {
		s, err := strconv.Atoi(strings.TrimSpace(in.header.Get("X-MS-Exchange-Organization-SCL")))
		if err != nil || s <= *r.SCLAbove {
			return nil, false
		}
		why = append(why, fmt.Sprintf("SCL %d above %d", s, *r.SCLAbove))
	}
	return why, true
}

// authVerdict says whether the verdict a (nil: none) is want.
func authVerdict(a *mailauth.Result, want string) bool {
	switch want {
	case "unknown":
		return a == nil
	case "authenticated":
		return a.Authenticated()
	case "unauthenticated":
		return a != nil && !a.Authenticated()
	}
	return a != nil && a.DMARC == want
}

// Subchannel is the subchannel the fired rules queue the mail for, 0 to
// keep the source's.
func subchannelOf(fired []Fired) int {
	sub := 0
	for _, f := range fired {
		if f.Rule.Then.Subchannel != 0 {
			sub = f.Rule.Then.Subchannel
		}
	}
	return sub
}

// route queues m for the subchannel the rules name, if any.
func (p *Pipeline) route(m *mailbox.Message) {
	rs := *p.rules.Load()
	if len(rs) == 0 || m.TicketID != 0 {
		return
	}
	fired := rs.Match(m.Raw, p.mapping.Load().Auth.For(m.Origin))
	if sub := subchannelOf(fired); sub != 0 && sub != m.SubchannelID {
		p.log.Info("rule routes the message to another subchannel", "subchannel", m.SubchannelID, "to_subchannel", sub,
			"rules", firedNames(fired), "source", m.Origin.Source)
		m.SubchannelID = sub
	}
}

func firedNames(fired []Fired) []string {
	names := make([]string, len(fired))
	for i, f := range fired {
		names[i] = f.Rule.Name
	}
	return names
}

// applyRules applies the rules' actions to the mapped message of claim
// c and reports them in rawData.rules. It returns false when a rule
// dropped or held the message; released says an operator brought it back
// (queue release, queue retry), which a hold or drop rule must not
// overrule.
func (p *Pipeline) applyRules(ctx context.Context, log *slog.Logger, c *store.Claim, origin mailbox.Origin, res *mapper.Result, released bool) bool {
	fired := p.rules.Load().Match(c.Raw, p.mapping.Load().Auth.For(origin))
	if len(fired) == 0 {
		return true
	}
	conv := res.Conversation
	if conv.RawData == nil {
		conv.RawData = map[string]any{}
	}
	conv.RawData["rules"] = firedNames(fired)
	// The sender check's process false (a forged p=reject sender, the
	// process-false policy) stands whatever a rule says.
	authFalse := authProcessFalse(conv.RawData)
	var last RuleAction
	for _, f := range fired {
		a := f.Rule.Then
		conv.Priority = cmp.Or(a.Priority, conv.Priority)
		conv.Direction = cmp.Or(a.Direction, conv.Direction)
		if !authFalse {
			conv.Process = cmp.Or(a.Process, conv.Process)
		}
		for _, t := range a.Tags {
			addTag(conv.RawData, t)
		}
		last = a
	}
	name := fired[len(fired)-1].Rule.Name
	log = log.With("rules", firedNames(fired))
	switch {
	case last.Drop && !released:
		if err := p.store.Discard(ctx, c.ID, c.Attempt, "dropped by rule "+name); err != nil {
			p.reportFailed(log, "record drop", err)
			return false
		}
		log.Info("dropped by rule: kept in the queue as dropped, not posted")
		return false
	case last.Hold && !released:
		reason := fmt.Sprintf("held by rule %s; `mailbridge queue release %d` posts it", name, c.ID)
		if err := p.store.Hold(ctx, c.ID, c.Attempt, reason); err != nil {
			p.reportFailed(log, "record hold", err)
			return false
		}
		log.Warn("held by rule; `mailbridge queue release` posts it")
		return false
	}
	log.Debug("rules applied", "priority", conv.Priority, "direction", conv.Direction, "process", conv.Process)
	return true
}

// String names the actions, for parse --explain.
func (a RuleAction) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+" "+v)
		}
	}
	if a.Subchannel != 0 {
		add("subchannel", strconv.Itoa(a.Subchannel))
	}
	add("priority", a.Priority)
	add("direction", a.Direction)
	add("process", a.Process)
	if len(a.Tags) > 0 {
		add("tags", strings.Join(a.Tags, ","))
	}
	if a.Drop {
		parts = append(parts, "drop")
	}
	if a.Hold {
		parts = append(parts, "hold")
	}
	return strings.Join(parts, ", ")
}
