package pipeline

import (
	"context"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/mapper"
)

// TicketResolver decides which ticket a message's conversation is stored on.
// The threading work replaces the default with a resolver that consults the
// thread map first.
type TicketResolver interface {
	// Resolve returns the ticket id for the mapped message m of subchannel
	// sub, creating a ticket if need be. Its errors are classified like API
	// errors (api.Classify).
	Resolve(ctx context.Context, sub int, m *mapper.Result) (ticketID int64, decision string, err error)
}

// ticketPerThread opens a ticket for every message that has none pinned,
// keyed by its thread root so that enneo's externalTicketId upsert makes the
// call safe to retry.
type ticketPerThread struct{ api Conversations }

// NewTicketPerThread returns the default resolver: create a ticket through
// the configured ticket-creation call.
func NewTicketPerThread(c Conversations) TicketResolver { return ticketPerThread{api: c} }

func (t ticketPerThread) Resolve(ctx context.Context, sub int, m *mapper.Result) (int64, string, error) {
	key := ThreadKey(m)
	c := m.Conversation
	id, err := t.api.CreateTicket(ctx, &api.NewTicket{
		SubchannelID:     sub,
		From:             c.From,
		FromName:         c.FromName,
		To:               c.To,
		CC:               c.CCEmails,
		Subject:          c.Subject,
		Body:             c.Body,
		CreatedAt:        c.CreatedAt,
		ExternalTicketID: key,
		RawData:          map[string]any{"threadKey": key},
	})
	return id, "new ticket for thread " + key, err
}

// ThreadKey is the stable key of the thread a message belongs to: the
// Message-ID that started it (the first of References), else the one it
// answers, else its own id.
func ThreadKey(m *mapper.Result) string {
	h := m.Header
	switch {
	case len(h.References) > 0:
		return h.References[0]
	case len(h.InReplyTo) > 0:
		return h.InReplyTo[0]
	}
	return m.Conversation.ExternalConversationID
}
