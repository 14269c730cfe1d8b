package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/enneo/mailbridge/mailauth"
	"github.com/enneo/mailbridge/store"
)

// maxParticipantsPerMail bounds the addresses one mail adds to its
// ticket's participants: a mail to hundreds of addresses adds its first.
const maxParticipantsPerMail = 50

// maxAddress is the longest address taken as a participant: a path of
// SMTP is at most 256 octets with its brackets (RFC 5321 4.5.3.1.3). A
// longer one is no mailbox's, and would pass what a PostgreSQL index
// entry takes (2704 bytes), failing the mail's participants.
const maxAddress = 254

// participantsOf are the sender and recipients of the mapped mail, lower
// case, each once, without own: the mailbox's addresses are on every
// ticket, and a stranger writing from one of them must not count as the
// customer.
func participantsOf(m *Mail, own map[string]bool) []string {
	c := m.Result.Conversation
	var out []string
	for _, a := range slices.Concat([]string{c.From}, c.To, c.CCEmails) {
		a = bareAddress(a)
		if strings.Contains(a, "@") && len(a) <= maxAddress && !own[basePlusAddress(a)] && !slices.Contains(out, a) && len(out) < maxParticipantsPerMail {
			out = append(out, a)
		}
	}
	return out
}

// bareAddress is the lower-case address of a, which the mapper may have
// written with a display name ("Carl <carl@example.org>").
func bareAddress(a string) string {
	if plainAddress(a) {
		return strings.ToLower(a) // what the parse would find: a itself
	}
	if list, err := mailauth.ParseAddressList(a); err == nil && len(list) == 1 {
		return strings.ToLower(list[0].Address)
	}
	return strings.ToLower(strings.TrimSpace(a))
}

// plainAddress reports whether a is an address alone in its plainest form,
// the mapper's usual one: a local part and a domain of letters, digits,
// the other atext characters and single inner dots.
func plainAddress(a string) bool {
	at := strings.IndexByte(a, '@')
	return at > 0 && dotAtom(a[:at]) && dotAtom(a[at+1:])
}

func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if s[i-1] == '.' {
				return false
			}
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// participantsCompleter is a store that records a delivery and the
// participants of its mail in one write (*sqlite.Store).
type participantsCompleter interface {
	CompleteWithParticipants(ctx context.Context, id int64, attempt int, o store.Outcome, subchannelID int, ticketID int64, addresses []string) error
}

// participants are a mail's addresses to record on its ticket. They are
// written beside the API call (done), or, where the store can, left to the
// delivery's record (addrs), which saves them a transaction of their own;
// a delivery that ends otherwise writes them itself (wait). Only the
// delivery's goroutine uses them.
type participants struct {
	done <-chan struct{} // closed once written beside the API call

	sub     int
	ticket  int64
	addrs   []string // waiting for the record; nil once taken or written
	store   ThreadMap
	log     *slog.Logger
	id      string // the mail's, for the log
	context context.Context
}

// wait makes sure the participants are recorded.
func (p *participants) wait() {
	if p == nil {
		return
	}
	if p.done != nil {
		<-p.done
		return
	}
	if p.addrs != nil {
		// At the end of an attempt, whose time may have run out: the
		// failure report may pin the ticket for the next attempt, which
		// then resolves no thread and records no participants. Like a
		// delivery's record, they get a bound of their own.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(p.context), storeReportTimeout)
		defer cancel()
		p.write(ctx)
	}
}

// take hands the participants over to the delivery's record, or returns
// nil if they are written already or on their way.
func (p *participants) take() *participants {
	if p == nil || p.done != nil || p.addrs == nil {
		p.wait()
		return nil
	}
	q := *p
	p.addrs = nil
	return &q
}

func (p *participants) write(ctx context.Context) {
	if err := p.store.AddParticipants(ctx, p.sub, p.ticket, p.addrs); err != nil {
		p.log.Warn("ticket participants not recorded", "message_id", p.id,
			"subchannel", p.sub, "ticket", p.ticket, "err", err)
	}
	p.addrs = nil
}

// recordParticipants adds the mail's addresses to its ticket's (nil if
// there is nothing to record). Failing to costs only a later join by
// subject of one of them, so the mail goes on. A store that records them
// with the delivery gets them there; another one gets them beside the API
// call, where they share a commit with other writes instead of holding
// the delivery for one of their own.
func (r *threadResolver) recordParticipants(ctx context.Context, m *Mail, ticketID int64) *participants {
	if !r.cfg.CheckSender || ticketID <= 0 {
		return nil
	}
	addrs := participantsOf(m, r.own)
	if len(addrs) == 0 {
		return nil
	}
	p := &participants{
		sub: m.SubchannelID, ticket: ticketID, addrs: addrs,
		store: r.store, log: r.log, id: m.Result.Conversation.ExternalConversationID, context: ctx,
	}
	if _, ok := r.store.(participantsCompleter); ok {
		return p
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.write(ctx)
	}()
	return &participants{done: done}
}

// refuseSender says why the mail's sender may not join ticketID by a
// ticket number alone (subject or plus address), or "" if it may: the
// sender is a participant of the ticket, or (with SameDomain) DMARC
// vouches for the sender's domain and a participant has an address
// there. A sender the mapper did not take from From, or one whose
// authentication failed, never joins.
func (r *threadResolver) refuseSender(ctx context.Context, m *Mail, ticketID int64) (string, error) {
	if !r.cfg.CheckSender {
		return "", nil
	}
	c := m.Result.Conversation
	sender := strings.ToLower(c.From)
	if sender == "" {
		return "the mail has no sender address", nil
	}
	if src, _ := c.RawData["senderSource"].(string); src != "" {
		return fmt.Sprintf("the sender %s was taken from %s, not from a From address", sender, src), nil
	}
	if why := failedAuth(c.RawData); why != "" {
		return fmt.Sprintf("the sender %s is not authenticated (%s)", sender, why), nil
	}
	if r.own[basePlusAddress(sender)] {
		return fmt.Sprintf("the sender %s is one of mailbridge's own addresses", sender), nil
	}
	if m.awaitParticipants != nil {
		m.awaitParticipants(ticketID)
	}
	parts, err := r.store.Participants(ctx, m.SubchannelID, ticketID)
	if err != nil {
		return "", err
	}
	if slices.Contains(parts, sender) {
		return "", nil
	}
	domain, vouched := authenticatedDomain(m)
	if !r.cfg.SameDomain {
		return fmt.Sprintf("%s is not a participant of ticket %d", sender, ticketID), nil
	}
	if vouched && slices.ContainsFunc(parts, func(p string) bool { return strings.HasSuffix(p, "@"+domain) }) {
		return "", nil
	}
	if vouched {
		return fmt.Sprintf("%s is not a participant of ticket %d, and no participant's address is in %s", sender, ticketID, domain), nil
	}
	return fmt.Sprintf("%s is not a participant of ticket %d and its domain is not authenticated", sender, ticketID), nil
}

// authenticatedDomain is the sender's domain when the mail's
// authentication (rawData.auth, see Auth) vouches for it.
func authenticatedDomain(m *Mail) (string, bool) {
	a, _ := m.Result.Conversation.RawData["auth"].(map[string]any)
	if ok, _ := a["authenticated"].(bool); !ok {
		return "", false
	}
	d, _ := a["fromDomain"].(string)
	return d, d != ""
}

// failedAuth says why the mail's verdict (rawData.auth) speaks against its
// sender, or "": DMARC failed or could not name the From domain, the
// header has a field twice, or DMARC passed for another domain than the
// sender's. Without a verdict, or with one that could not decide (none,
// temperror), the participant check alone decides.
func failedAuth(rd map[string]any) string {
	a, ok := rd["auth"].(map[string]any)
	if !ok {
		return ""
	}
	if ok, _ := a["authenticated"].(bool); ok {
		return ""
	}
	if d, _ := a["duplicateField"].(string); d != "" {
		return "more than one " + d + " field"
	}
	switch dmarc, _ := a["dmarc"].(string); dmarc {
	case mailauth.None, mailauth.TempError:
		return ""
	case mailauth.Pass:
		return fmt.Sprintf("DMARC passed for %v, another domain", a["fromDomain"])
	default:
		return "dmarc=" + dmarc
	}
}
