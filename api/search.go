package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
)

const opSearchTickets = "search tickets"

// TicketFilter is one entry of a ticket search's filters. The "in"
// comparator takes Values, the others Value.
type TicketFilter struct {
	Key        string `json:"key"`
	Comparator string `json:"comparator"`
	Value      any    `json:"value,omitempty"`
	Values     []any  `json:"values,omitempty"`
}

// TicketSearch is the body of POST /ticket/search.
type TicketSearch struct {
	Filters          []TicketFilter `json:"filters"`
	Limit            int            `json:"limit,omitempty"`
	OrderByField     string         `json:"orderByField,omitempty"`
	OrderByDirection string         `json:"orderByDirection,omitempty"`
}

// FoundTicket is a ticket of a search's answer, in the compact form the
// API lists (no body).
type FoundTicket struct {
	ID               int64
	ExternalTicketID string
	SubchannelID     int64
}

// SearchTickets finds tickets (POST /ticket/search). A 400 means the API
// does not support a filter: an Error of Class Permanent with Status 400.
func (c *Client) SearchTickets(ctx context.Context, s TicketSearch) ([]FoundTicket, error) {
	body, err := json.Marshal(s)
	if err != nil {
		return nil, &Error{Op: opSearchTickets, Class: Permanent, Err: err}
	}
	a, err := c.do(ctx, call{
		op:       opSearchTickets,
		method:   http.MethodPost,
		path:     "/ticket/search",
		body:     body,
		notFound: Permanent,
	})
	if err != nil {
		return nil, err
	}
	// Ids may come as numbers or strings of digits, as in ticketID; an
	// externalTicketId may be null on tickets opened elsewhere.
	var doc struct {
		Tickets []map[string]any `json:"tickets"`
	}
	if err := decodeNumbers(a.body, &doc); err != nil {
		return nil, unexpectedAnswer(opSearchTickets, a.status, a.traceID, err)
	}
	found := make([]FoundTicket, 0, len(doc.Tickets))
	for _, t := range doc.Tickets {
		id, ok := idValue(t["id"])
		if !ok {
			return nil, unexpectedAnswer(opSearchTickets, a.status, a.traceID, errors.New("a ticket without id"))
		}
		ext, _ := t["externalTicketId"].(string)
		// The subchannel is informative only; a missing one is no reason
		// to discard the ticket.
		sub, _ := idValue(t["subchannelId"])
		found = append(found, FoundTicket{ID: id, ExternalTicketID: ext, SubchannelID: sub})
	}
	return found, nil
}
