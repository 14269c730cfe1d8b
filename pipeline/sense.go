package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/mapper"
	"github.com/enneo/mailbridge/mapper/autoreply"
	"github.com/enneo/mailbridge/store"
)

// Policy is what delivery does with a message of one autoreply class.
type Policy string

// The policies; docs/config.md (mailSense) describes them for operators.
const (
	// PolicyPost posts the message as a person's mail.
	PolicyPost Policy = "post"
	// PolicyStore posts it with process "false": agents see it on the
	// ticket, the AI does not run on it.
	PolicyStore Policy = "store"
	// PolicySkip does not post it and records it as delivered without a
	// ticket or conversation.
	PolicySkip Policy = "skip"
	// PolicyDeadletter moves it to the dead letters, from where an
	// operator can still post it (queue retry).
	PolicyDeadletter Policy = "deadletter"
)

// defaultPolicies are used for classes Sense.Policies leaves out. Machine
// mail is kept but does not feed the AI; list mail is posted because a
// support address that is itself a list sees List-Id on every mail.
var defaultPolicies = map[autoreply.Class]Policy{
	autoreply.AutoReply: PolicyStore,
	autoreply.Bounce:    PolicyStore,
	autoreply.List:      PolicyPost,
}

// Sense configures what delivery makes of a message beyond its mapping:
// the policy for machine mail, the loop breaker, priority and direction.
type Sense struct {
	// Policies per class; a class missing here takes its default (store
	// for auto-replies and bounces, post for lists). Human mail is always
	// posted.
	Policies map[autoreply.Class]Policy
	// LoopMax is how many messages from one sender to one subchannel pass
	// within LoopWindow; later ones are dead-lettered. 0 disables.
	LoopMax    int
	LoopWindow time.Duration
	// UrgentPriority is the priority sent for "Priority: urgent": "high"
	// (the default when empty) or "urgent".
	UrgentPriority string
	// InternalDomains make mail from them, or from their subdomains,
	// direction internal.
	InternalDomains []string
	// OwnAddresses make mail from them direction out.
	OwnAddresses []string
}

// senseRules is Sense prepared for lookups.
type senseRules struct {
	policies map[autoreply.Class]Policy
	urgent   string
	domains  []string        // lower case
	own      map[string]bool // lower case
}

func newSenseRules(s Sense) senseRules {
	r := senseRules{policies: map[autoreply.Class]Policy{}, urgent: s.UrgentPriority, own: map[string]bool{}}
	for c, p := range defaultPolicies {
		r.policies[c] = p
	}
	for c, p := range s.Policies {
		if p != "" {
			r.policies[c] = p
		}
	}
	if r.urgent == "" {
		r.urgent = mapper.PriorityHigh
	}
	for _, d := range s.InternalDomains {
		r.domains = append(r.domains, strings.ToLower(strings.TrimSpace(d)))
	}
	for _, a := range s.OwnAddresses {
		r.own[strings.ToLower(strings.TrimSpace(a))] = true
	}
	return r
}

// sensed is what delivery decided about one message.
type sensed struct {
	verdict       autoreply.Verdict
	policy        Policy
	directionRule string
}

// apply classifies the mapped message res and writes the outcome into its
// payload: process "false" for stored machine mail, priority, direction,
// and the reasons in rawData so that agents can see why.
//
// requeued says an operator brought the message back from the dead
// letters; deadletter then becomes store, or the retry would only bury it
// again.
func (r senseRules) apply(raw []byte, origin mailbox.Origin, res *mapper.Result, requeued bool) sensed {
	sig := mapper.ReadSignals(raw, res, envelope(origin))
	s := sensed{verdict: sig.Verdict, policy: PolicyPost}
	if sig.Verdict.Class != autoreply.Human {
		s.policy = r.policies[sig.Verdict.Class]
		if s.policy == "" {
			s.policy = PolicyPost
		}
		if s.policy == PolicyDeadletter && requeued {
			s.policy = PolicyStore
		}
	}
	c := res.Conversation
	if c.RawData == nil {
		c.RawData = map[string]any{}
	}
	ar := map[string]any{"class": string(s.verdict.Class), "policy": string(s.policy)}
	if s.verdict.Reason != "" {
		ar["reason"] = s.verdict.Reason
	}
	c.RawData["autoReply"] = ar
	if s.policy == PolicyStore {
		c.Process = "false"
	}

	// A machine's copy of the original's urgency must not escalate the
	// ticket, so priority is taken from mail that is posted as a person's.
	if sig.Priority != "" && s.policy == PolicyPost {
		c.Priority = sig.Priority
		if c.Priority == mapper.PriorityUrgent {
			c.Priority = r.urgent
		}
		c.RawData["priority"] = map[string]any{"value": c.Priority, "header": sig.PriorityHeader}
	}

	dir, rule := r.direction(c.From, c.Direction)
	c.Direction, s.directionRule = dir, rule
	c.RawData["direction"] = map[string]any{"value": dir, "rule": rule}
	return s
}

// direction decides the conversation's direction from the sender: out for
// mailbridge's own addresses, internal for the organisation's domains,
// else the subchannel's setting. Own addresses come first because they
// usually lie in an internal domain too.
func (r senseRules) direction(from, subchannelDefault string) (dir, rule string) {
	addr := strings.ToLower(strings.TrimSpace(from))
	local, domain, ok := strings.Cut(addr, "@")
	if ok {
		if r.own[addr] {
			return "out", "ownAddresses: " + addr
		}
		// support+tag@ is support@, as in SMTP routing.
		if base, _, tagged := strings.Cut(local, "+"); tagged && r.own[base+"@"+domain] {
			return "out", "ownAddresses: " + base + "@" + domain
		}
		for _, d := range r.domains {
			if domain == d || strings.HasSuffix(domain, "."+d) {
				return "internal", "internalDomains: " + d
			}
		}
	}
	return subchannelDefault, "subchannel"
}

// envelope recovers the SMTP envelope sender from the origin recorded at
// ingest. Only SMTP has one; for IMAP and files the classifier reads the
// Return-Path header instead.
func envelope(origin mailbox.Origin) mapper.Envelope {
	from, ok := smtpMailFrom(origin)
	if !ok {
		return mapper.Envelope{}
	}
	return mapper.Envelope{ReturnPath: strings.Trim(from, "<>"), HasReturnPath: true}
}

// screen applies the mailSense rules to the mapped message of claim c. It
// returns false when it settled the message without posting it: skipped,
// dead-lettered by policy, or held by the loop breaker.
func (p *Pipeline) screen(ctx context.Context, log *slog.Logger, c *store.Claim, origin mailbox.Origin, res *mapper.Result) bool {
	// An operator released it from held or requeued it from the dead
	// letters or dropped: the policies that put it there yield.
	requeued := !c.ReleasedAt.IsZero()
	s := p.sense.apply(c.Raw, origin, res, requeued)
	if c.Attempt == 1 {
		p.obs.Classified(s.verdict.Class, s.policy)
	}
	conv := res.Conversation
	log.Debug("mail sense", "class", s.verdict.Class, "policy", s.policy, "direction", conv.Direction,
		"direction_rule", s.directionRule, "priority", conv.Priority)
	attrs := []any{"class", s.verdict.Class, "reason", s.verdict.Reason, "policy", s.policy}
	switch s.policy {
	case PolicySkip:
		// The store has no state for "acknowledged, not posted". Delivered
		// is the closest: the message is settled, stays the dedup record
		// and is never attempted again; ticket and conversation id 0 tell
		// it apart from a posted one.
		if err := p.store.Complete(ctx, c.ID, c.Attempt, store.Outcome{}); err != nil {
			p.reportFailed(log, "record skip", err)
			return false
		}
		log.Info("skipped by mailSense policy: recorded as delivered with conversation 0, not posted", attrs...)
		return false
	case PolicyDeadletter:
		reason := fmt.Sprintf("mailSense policy deadletter: %s (%s)", s.verdict.Class, s.verdict.Reason)
		log.Warn("moved to dead letters by mailSense policy", attrs...)
		p.buryQuietly(ctx, log, c, DeadPolicy, reason)
		return false
	}
	if s.verdict.Class != autoreply.Human {
		log.Info("machine-written mail", append(attrs, "process", conv.Process)...)
	}
	if !p.checkSender(ctx, log, c, origin, res, requeued) || !p.applyRules(ctx, log, c, origin, res, requeued) {
		return false
	}
	return !p.heldAsLoop(ctx, log, c, res)
}

// heldAsLoop runs the loop breaker on a message about to be posted and
// dead-letters it if the breaker holds it. Only a message's first claim
// counts: a retry was counted when it was first seen, and a message that
// comes back after a dead letter was requeued by an operator, whose
// decision the breaker must not overrule. A ticket pinned from the command
// line is an operator's decision too.
func (p *Pipeline) heldAsLoop(ctx context.Context, log *slog.Logger, c *store.Claim, res *mapper.Result) bool {
	if p.loops == nil || c.Attempt != 1 || c.TicketID != 0 {
		return false
	}
	sender := loopSender(res)
	hold, first := p.loops.check(c.SubchannelID, sender, p.loopTime(c, res))
	if !hold {
		return false
	}
	attrs := []any{"sender", sender, "limit", p.loops.limit, "window", p.loops.window}
	if first {
		log.Warn("LOOP BREAKER: holding further mail from this sender to this subchannel in dead letters; "+
			"`mailbridge queue retry` posts one", attrs...)
	} else {
		log.Debug("held by the loop breaker", attrs...)
	}
	reason := fmt.Sprintf("loop breaker: more than %d mails from %s to subchannel %d within %s",
		p.loops.limit, sender, c.SubchannelID, p.loops.window)
	p.buryQuietly(ctx, log, c, DeadLoop, reason)
	return true
}

// loopSender is who a message counts against in the loop breaker: its From
// address, and its Reply-To where it has one. A loop runs between the
// addresses replies go to, so a contact form or shop that sends every
// customer's mail from one address, with the customer in Reply-To, is
// many senders rather than one.
func loopSender(res *mapper.Result) string {
	from := strings.ToLower(res.Conversation.From)
	if from == "" {
		return ""
	}
	if rt, ok := res.Conversation.RawData["replyTo"].([]string); ok && len(rt) > 0 {
		return from + " (reply-to " + strings.ToLower(strings.Join(rt, ", ")) + ")"
	}
	return from
}

// loopTime is when a message counts for the loop breaker: its Date, but
// never later than its receipt. A loop's mail is written and received
// within seconds; old mail fetched at once from an IMAP folder on the
// first poll is received in a burst but was written over days.
func (p *Pipeline) loopTime(c *store.Claim, res *mapper.Result) time.Time {
	t, err := time.ParseInLocation(mapper.TimeLayout, res.Conversation.CreatedAt, p.cfg.Location)
	if err != nil || t.After(c.ReceivedAt) {
		return c.ReceivedAt
	}
	return t
}
