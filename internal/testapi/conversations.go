package testapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// StoredConversation is one accepted POST /ticket/{id}/conversation/store.
type StoredConversation struct {
	TicketID       int
	ConversationID int
	EventID        int
	Payload        Payload        // the body, typed
	Fields         map[string]any // the body, generic: for fields Payload lacks, or their absence
	RawBody        []byte
	Header         http.Header
	Received       time.Time
	// AnswerLost is set when a fault kept the answer from the client
	// (DropAfterStore, HalfResponse, StoreThenFail's error in its place,
	// or DelayAfterStore outlasting the client's patience), which may
	// therefore store it again.
	AnswerLost bool
}

// Payload is the typed view of a store body: the spec's fields that an
// email gateway fills.
type Payload struct {
	Process                string         `json:"process"`
	Direction              string         `json:"direction"`
	From                   string         `json:"from"`
	FromName               string         `json:"fromName"`
	To                     []string       `json:"to"`
	CCEmails               []string       `json:"ccEmails"`
	BCCEmails              []string       `json:"bccEmails"`
	Subject                string         `json:"subject"`
	Body                   string         `json:"body"`
	BodyPlain              string         `json:"bodyPlain"`
	BodyClean              string         `json:"bodyClean"`
	Private                bool           `json:"private"`
	SubchannelID           int            `json:"subchannelId"`
	Status                 string         `json:"status"`
	Priority               string         `json:"priority"`
	CreatedAt              string         `json:"createdAt"`
	Type                   string         `json:"type"`
	ExternalConversationID string         `json:"externalConversationId"`
	RawData                map[string]any `json:"rawData"`
	Attachments            []Attachment   `json:"attachments"`
}

// Attachment is one entry of Payload.Attachments.
type Attachment struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	Base64 string `json:"base64"`
}

// Content decodes Base64.
func (a Attachment) Content() ([]byte, error) {
	return base64.StdEncoding.DecodeString(a.Base64)
}

func (a *API) storeConversation(x *exchange, rawID string) (int, any) {
	if err := a.spec.validate(x.r.Context(), x.r, x.body); err != nil {
		return a.reject(x, err)
	}
	var p Payload
	var fields map[string]any
	if err := json.Unmarshal(x.body, &p); err != nil {
		// Valid by the schema, yet not as Go decodes it: 4.0 for an integer.
		return a.reject(x, err)
	}
	if err := json.Unmarshal(x.body, &fields); err != nil {
		return a.reject(x, err)
	}
	if !a.knownSubchannel(p.SubchannelID) {
		return a.reject(x, fmt.Errorf("subchannelId %d is not a subchannel", p.SubchannelID))
	}
	// The path parameter has passed the spec's integer check.
	ticketID, _ := strconv.Atoi(rawID)

	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.tickets[ticketID]
	if t == nil {
		if !a.opts.AutoCreateTickets {
			return http.StatusNotFound, a.errorBody("Ticket not found", fmt.Sprintf("ticket %d does not exist", ticketID))
		}
		t = a.putTicketLocked(&Ticket{ID: ticketID, SubchannelID: p.SubchannelID, Channel: a.channelLocked(p.SubchannelID), Status: "open", Subject: p.Subject})
	}
	if p.Status != "" {
		t.Status = p.Status
	}
	a.lastConv++
	a.lastEvent++
	c := StoredConversation{
		TicketID:       ticketID,
		ConversationID: a.lastConv,
		EventID:        a.lastEvent,
		Payload:        p,
		Fields:         fields,
		RawBody:        x.body,
		Header:         x.header,
		Received:       time.Now(),
		AnswerLost:     x.answerLost,
	}
	x.stored = len(a.convs)
	a.convs = append(a.convs, c)
	a.notifyLocked()
	return http.StatusCreated, map[string]any{
		"success":        true,
		"conversationId": c.ConversationID,
		"ticketId":       c.TicketID,
		"eventId":        c.EventID,
		"conversation":   conversationJSON(c),
	}
}

func (a *API) conversationList(rawID string) (int, any) {
	id, err := strconv.Atoi(rawID)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil || a.tickets[id] == nil {
		return http.StatusNotFound, a.errorBody("Ticket not found", fmt.Sprintf("ticket %s does not exist", rawID))
	}
	list := []map[string]any{}
	for _, c := range a.convs {
		if c.TicketID == id {
			list = append(list, conversationJSON(c))
		}
	}
	return http.StatusOK, map[string]any{"success": true, "conversations": list}
}

// conversationJSON renders c in the spec's Conversation schema, the part of
// it that a store determines.
func conversationJSON(c StoredConversation) map[string]any {
	p := c.Payload
	typ := p.Type
	if typ == "" {
		typ = "html"
	}
	created := p.CreatedAt
	if created == "" {
		created = c.Received.Format(enneoTime)
	}
	attachments := make([]map[string]any, 0, len(p.Attachments))
	for _, at := range p.Attachments {
		attachments = append(attachments, map[string]any{"name": at.Name})
	}
	var external any // null when absent, as the schema allows
	if p.ExternalConversationID != "" {
		external = p.ExternalConversationID
	}
	return map[string]any{
		"id":                     c.ConversationID,
		"ticketId":               c.TicketID,
		"type":                   typ,
		"direction":              p.Direction,
		"private":                p.Private,
		"fromEmail":              p.From,
		"fromEmailName":          p.FromName,
		"to":                     nonNil(p.To),
		"ccEmails":               nonNil(p.CCEmails),
		"bccEmails":              nonNil(p.BCCEmails),
		"content":                map[string]any{"message": p.Body},
		"externalConversationId": external,
		"attachments":            attachments,
		"createdAt":              created,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
