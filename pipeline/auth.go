package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/enneo/mailbridge/mailauth"
	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/mapper"
	"github.com/enneo/mailbridge/store"
)

// Auth is how delivery reads and applies a message's sender
// authentication (see mailauth and docs/security.md).
type Auth struct {
	// OwnID is the authserv-id mailbridge's SMTP listeners write when
	// they verify (empty: they do not); their header is read as the first
	// field of a message only.
	OwnID string
	// Trusted are the authserv-ids of other servers whose topmost
	// Authentication-Results header is believed in mail from the command
	// line, and from SMTP listeners that neither verify nor have a list
	// of their own.
	Trusted []string
	// Listeners are the trusted authserv-ids of SMTP listeners, by name,
	// that have a list of their own; Mailboxes those of IMAP mailboxes,
	// by name. A mailbox without an entry trusts no header: its server
	// may let any sender's header through.
	Listeners, Mailboxes map[string][]string
	// ProcessRejected lets the AI run on mail failing DMARC for a
	// p=reject domain.
	ProcessRejected bool
}

// For is a as it reads a message that came from o: only the SMTP
// listener writes mailbridge's own header, so in mail from anywhere else
// a header with OwnID is anyone's and is not read; and each source
// believes the servers trusted for it, no others.
func (a Auth) For(o mailbox.Origin) Auth {
	trusted := a.Trusted
	switch {
	case o.Source == "imap":
		trusted = nil
		if o.IMAP != nil {
			trusted = a.Mailboxes[o.IMAP.Mailbox]
		}
	case o.Source == "smtp" && o.SMTP != nil && a.Listeners[o.SMTP.Listener] != nil:
		trusted = a.Listeners[o.SMTP.Listener]
	case o.Source == "smtp" && a.OwnID != "":
		// The listener verified the mail itself: a header of another id
		// is the sender's.
		trusted = nil
	}
	if o.Source != "smtp" {
		a.OwnID = ""
	}
	return Auth{OwnID: a.OwnID, Trusted: trusted, ProcessRejected: a.ProcessRejected}
}

// decodeOrigin reads a queued message's origin; an unreadable one is
// the zero Origin, which trusts what mail from the command line does.
func decodeOrigin(b []byte) mailbox.Origin {
	var o mailbox.Origin
	_ = json.Unmarshal(b, &o)
	return o
}

// Unauthenticated is what delivery does with mail whose sender is not
// authenticated, per subchannel.
type Unauthenticated string

// The policies; docs/security.md describes them for operators.
const (
	// UnauthStore posts the mail as any other; rawData.auth has the verdict.
	UnauthStore Unauthenticated = "store"
	// UnauthTag also adds TagUnauthenticated to rawData.tags.
	UnauthTag Unauthenticated = "tag"
	// UnauthProcessFalse tags it and posts it with process "false".
	UnauthProcessFalse Unauthenticated = "process-false"
	// UnauthHold keeps it in the queue, held, until an operator releases
	// it; it is then posted as under tag.
	UnauthHold Unauthenticated = "hold"
)

// TagUnauthenticated marks mail whose sender is not authenticated in
// rawData.tags.
const TagUnauthenticated = "unauthenticated-sender"

// senderAuth is what delivery made of a message's authentication.
type senderAuth struct {
	result        *mailauth.Result
	authenticated bool
	policy        Unauthenticated
	hold          bool
}

// authenticate reads the verdict on raw (the header of mailbridge's SMTP
// listener, or of a trusted server), writes it into rawData.auth and
// applies the subchannel's policy to the payload; hold says the policy
// holds the message. released says an operator brought it back, which
// the policy must not overrule. A message without a verdict (nobody
// checked it) is left as it is.
func (a Auth) authenticate(raw []byte, policy Unauthenticated, res *mapper.Result, released bool) senderAuth {
	r := mailauth.FromHeaders(raw, a.Trusted, a.OwnID)
	if r == nil {
		return senderAuth{}
	}
	if policy == "" {
		policy = UnauthTag
	}
	c := res.Conversation
	// The verdict is on the From domain; a payload whose sender the
	// mapper took from elsewhere (Sender, the envelope) is not vouched for.
	_, domain, _ := strings.Cut(strings.ToLower(c.From), "@")
	s := senderAuth{result: r, policy: policy, authenticated: r.Authenticated() && domain == r.FromDomain}
	dup := duplicateField(raw)
	if dup != "" {
		// Which of the fields a verifier, the mapper and the agent read
		// differs from one reader to the next: no verdict covers them all.
		s.authenticated = false
	}
	rd := map[string]any{
		"dkim": r.DKIM, "spf": r.SPF, "dmarc": r.DMARC, "source": r.Source,
		"authenticated": s.authenticated,
	}
	if r.AlignedDomain != "" {
		rd["alignedDomain"] = r.AlignedDomain
	}
	if r.FromDomain != "" {
		rd["fromDomain"] = r.FromDomain
	}
	if r.Policy != "" {
		rd["dmarcPolicy"] = r.Policy
	}
	if r.AuthservID != "" {
		rd["authservId"] = r.AuthservID
	}
	if c.RawData == nil {
		c.RawData = map[string]any{}
	}
	c.RawData["auth"] = rd
	if dup != "" {
		rd["duplicateField"] = dup
	}
	if s.authenticated {
		return s
	}
	rd["policy"] = string(policy)
	switch policy {
	case UnauthHold:
		s.hold = !released
		addTag(c.RawData, TagUnauthenticated)
	case UnauthTag, UnauthProcessFalse:
		addTag(c.RawData, TagUnauthenticated)
	}
	if policy == UnauthProcessFalse {
		c.Process = "false"
		rd["processFalse"] = "the subchannel's policy for unauthenticated senders is process-false"
	}
	if r.Rejecting() && !a.ProcessRejected {
		c.Process = "false"
		rd["processFalse"] = "DMARC failed for a domain whose policy is reject (auth.processRejected is off)"
	}
	return s
}

// duplicateField names a field of raw's header that RFC 5322 allows once
// and raw has more than once (From, Sender, Subject), or is "".
func duplicateField(raw []byte) string {
	fields, _ := mailauth.Fields(raw)
	for _, name := range []string{"From", "Sender", "Subject"} {
		if mailauth.CountFields(fields, name) > 1 {
			return name
		}
	}
	return ""
}

// authProcessFalse says whether the sender check posts the mail with
// process false, which no rule may overrule.
func authProcessFalse(rd map[string]any) bool {
	a, _ := rd["auth"].(map[string]any)
	_, ok := a["processFalse"]
	return ok
}

// addTag appends tag to rawData.tags once.
func addTag(rd map[string]any, tag string) {
	tags, _ := rd["tags"].([]string)
	for _, t := range tags {
		if t == tag {
			return
		}
	}
	rd["tags"] = append(tags, tag)
}

// attrs are the log attributes of the verdict.
func (s senderAuth) attrs() []any {
	if s.result == nil {
		return []any{slog.String("auth", "none")}
	}
	return []any{"dkim", s.result.DKIM, "spf", s.result.SPF, "dmarc", s.result.DMARC,
		"auth_source", s.result.Source, "authenticated", s.authenticated, "auth_policy", s.policy}
}

// checkSender applies sender authentication to the mapped message of
// claim c. It returns false when it held the message instead of letting
// it be posted.
func (p *Pipeline) checkSender(ctx context.Context, log *slog.Logger, c *store.Claim, origin mailbox.Origin, res *mapper.Result, released bool) bool {
	cfg := p.mapping.Load()
	s := cfg.Auth.For(origin).authenticate(c.Raw, cfg.Subchannels[c.SubchannelID].Unauthenticated, res, released)
	switch {
	case s.result == nil:
		return true
	case s.authenticated:
		log.Debug("sender authenticated", s.attrs()...)
		return true
	case !s.hold:
		log.Info("sender not authenticated", append(s.attrs(), "process", res.Conversation.Process)...)
		return true
	}
	reason := fmt.Sprintf("held: sender not authenticated (dkim=%s spf=%s dmarc=%s, from domain %q); `mailbridge queue release %d` posts it",
		s.result.DKIM, s.result.SPF, s.result.DMARC, s.result.FromDomain, c.ID)
	if err := p.store.Hold(ctx, c.ID, c.Attempt, reason); err != nil {
		p.reportFailed(log, "record hold", err)
		return false
	}
	log.Warn("held: sender not authenticated; `mailbridge queue release` posts it", s.attrs()...)
	return false
}
