package pipeline

import (
	"context"
	"fmt"
	"strconv"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/mapper"
)

// TicketResolver decides which ticket a message's conversation is stored on.
type TicketResolver interface {
	// Resolve returns the ticket for the mapped message m.Result of
	// subchannel m.SubchannelID, creating a ticket if need be. Its errors
	// are classified like API errors (api.Classify).
	Resolve(ctx context.Context, m *Mail) (Resolution, error)
}

// Mail is what ticket resolution may look at.
type Mail struct {
	SubchannelID int
	Result       *mapper.Result
	Raw          []byte
	// Origin is where the message came from (its SMTP envelope, its IMAP
	// folder).
	Origin mailbox.Origin
	// Attempt is the delivery attempt, 1 for the first.
	Attempt int
	// GoneTicket is a ticket the API answered 404 for on the previous
	// attempt. A rule pointing at it again is passed over, or the message
	// would retry against the deleted ticket until it is buried.
	GoneTicket int64
	// awaitParticipants, if not nil, waits until the participants of a
	// ticket that earlier deliveries hand to their records are written.
	awaitParticipants func(ticketID int64)
}

// Resolution is the ticket chosen and why, as rawData.thread reports it.
type Resolution struct {
	TicketID int64
	// Rule is in-reply-to, references, subject, plus-address or
	// new-ticket (the rules in order), or recorded for a ticket pinned or
	// chosen by an earlier attempt.
	Rule string
	// Matched is what the rule matched: a Message-ID, the subject, an
	// address, or the thread key of a new ticket.
	Matched string
	// Refused says why a ticket the subject or a plus address named was
	// not joined (the sender is no participant of it), if one was not.
	Refused *Refusal
	// participants are the mail's addresses to record on the ticket
	// (threadResolver.recordParticipants); nil: none.
	participants *participants
}

// recorded makes sure the mail's participants are recorded: it waits for
// them, or records them now if they were waiting for the delivery's
// record.
func (r Resolution) recorded() { r.participants.wait() }

// withRecord hands the mail's participants to the delivery's record, which
// writes them in its own transaction (participantsCompleter); it returns
// nil if they are recorded already, or on their way.
func (r Resolution) withRecord() *participants { return r.participants.take() }

// Refusal is a join by subject or plus address that the sender check
// turned down.
type Refusal struct {
	Rule     string `json:"rule"`
	TicketID int64  `json:"ticketId"`
	Reason   string `json:"reason"`
}

// Decision is the resolution for the "ticket resolved" log line.
func (r Resolution) Decision() string {
	return fmt.Sprintf("%s %q", r.Rule, r.Matched)
}

func (r Resolution) rawData() map[string]any {
	rd := map[string]any{"rule": r.Rule, "matched": r.Matched, "ticketId": r.TicketID}
	if r.Refused != nil {
		rd["refused"] = r.Refused
	}
	return rd
}

// ticketPerThread opens a ticket for every message that has none pinned,
// keyed by its subchannel and thread root (TicketKey) so that enneo's
// externalTicketId upsert makes the call safe to retry.
type ticketPerThread struct {
	api  Conversations
	body TicketBody
}

// TicketBody says what a new ticket's body holds.
type TicketBody string

const (
	// TicketBodyNone sends no body: the mail itself, stored on the ticket
	// right after, is its first conversation.
	TicketBodyNone TicketBody = "none"
	// TicketBodySubject sends the subject, for an API that wants a body
	// but would show a full one as a second copy of the first mail.
	TicketBodySubject TicketBody = "subject-only"
	// TicketBodyFull sends the mail's body.
	TicketBodyFull TicketBody = "full"
)

// NewTicketPerThread returns the resolver without threading rules: create
// a ticket through the configured ticket-creation call, with body as its
// body (empty: none).
func NewTicketPerThread(c Conversations, body TicketBody) TicketResolver {
	return ticketPerThread{api: c, body: body}
}

func (t ticketPerThread) Resolve(ctx context.Context, m *Mail) (Resolution, error) {
	key := TicketKey(m.SubchannelID, ThreadKey(m.Result))
	c := m.Result.Conversation
	var body string
	switch t.body {
	case TicketBodyFull:
		body = c.Body
	case TicketBodySubject:
		body = c.Subject
	}
	id, err := t.api.CreateTicket(ctx, &api.NewTicket{
		SubchannelID:     m.SubchannelID,
		From:             c.From,
		FromName:         c.FromName,
		To:               c.To,
		CC:               c.CCEmails,
		Subject:          c.Subject,
		Body:             body,
		CreatedAt:        c.CreatedAt,
		ExternalTicketID: key,
		RawData:          map[string]any{"threadKey": key},
		Process:          archiveProcess(m.Origin),
	})
	return Resolution{TicketID: id, Rule: RuleNewTicket, Matched: key}, err
}

// archiveProcess is "false" for archive mail (mailbridge import), whose
// tickets are opened without AI like its conversations; "" otherwise.
func archiveProcess(origin mailbox.Origin) string {
	if imapSource(origin).Archive {
		return "false"
	}
	return ""
}

// TicketKey is a new ticket's externalTicketId: the subchannel and the
// thread key, "<subchannelId>:<thread key>". Tickets are per subchannel:
// one mail to support@ and billing@ opens a ticket on each, and enneo's
// upsert by externalTicketId never moves one ticket between them. Tickets
// opened under the bare thread key before stay found: the thread map is
// per subchannel, and the search rule asks for both forms.
func TicketKey(subchannelID int, threadKey string) string {
	return strconv.Itoa(subchannelID) + ":" + threadKey
}

// ThreadKey is the stable key of the thread a message belongs to: the
// Message-ID that started it (the first of References), else the one it
// answers, else its own Message-ID, else its id. A mail queued under a
// derived id (another mail had its Message-ID first) is on the thread of
// its Message-ID all the same, where replies to that Message-ID go: the
// derived id tells the conversations apart, not the threads.
func ThreadKey(m *mapper.Result) string {
	h := m.Header
	switch {
	case len(h.References) > 0:
		return h.References[0]
	case len(h.InReplyTo) > 0:
		return h.InReplyTo[0]
	case h.MessageID != "":
		return h.MessageID
	}
	return m.Conversation.ExternalConversationID
}
