package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
)

// Conversation is the body of POST /ticket/{ticketId}/conversation/store
// (see shared/spec/openapi.yaml), restricted to the fields an email fills.
//
// Attachments are not marshalled with the rest: WriteJSON streams their
// base64 straight from the decoded bytes so that a 20 MB attachment is not
// held a second time as a base64 string.
type Conversation struct {
	Process                string         `json:"process,omitempty"`
	Direction              string         `json:"direction,omitempty"`
	From                   string         `json:"from,omitempty"`
	FromName               string         `json:"fromName,omitempty"`
	To                     []string       `json:"to"`
	CCEmails               []string       `json:"ccEmails,omitempty"`
	BCCEmails              []string       `json:"bccEmails,omitempty"`
	Subject                string         `json:"subject"`
	Body                   string         `json:"body"`
	BodyPlain              string         `json:"bodyPlain"`
	BodyClean              string         `json:"bodyClean"`
	SubchannelID           int            `json:"subchannelId,omitempty"`
	CreatedAt              string         `json:"createdAt,omitempty"`
	ExternalConversationID string         `json:"externalConversationId"`
	Type                   string         `json:"type,omitempty"`
	RawData                map[string]any `json:"rawData,omitempty"`
	Attachments            []Attachment   `json:"-"`
}

// Attachment is one file of a conversation. Only Name and Content reach the
// API (as {name, base64}); the rest informs rawData and logs.
type Attachment struct {
	Name        string
	ContentType string
	ContentID   string
	Inline      bool
	Content     []byte
}

// WriteJSON writes the request body to w, streaming attachment content.
func (c *Conversation) WriteJSON(w io.Writer) error {
	head, err := json.Marshal(c)
	if err != nil {
		return err
	}
	// head is a JSON object; reopen it to append the attachments array.
	head = bytes.TrimSuffix(head, []byte("}"))
	if _, err := w.Write(head); err != nil {
		return err
	}
	if _, err := io.WriteString(w, `,"attachments":[`); err != nil {
		return err
	}
	for i, a := range c.Attachments {
		name, err := json.Marshal(a.Name)
		if err != nil {
			return err
		}
		sep := ""
		if i > 0 {
			sep = ","
		}
		if _, err := io.WriteString(w, sep+`{"name":`+string(name)+`,"base64":"`); err != nil {
			return err
		}
		enc := base64.NewEncoder(base64.StdEncoding, w)
		if _, err := enc.Write(a.Content); err != nil {
			return err
		}
		if err := enc.Close(); err != nil {
			return err
		}
		if _, err := io.WriteString(w, `"}`); err != nil {
			return err
		}
	}
	_, err = io.WriteString(w, "]}")
	return err
}

// StoreResult is the API's 201 answer to a store call.
type StoreResult struct {
	Success        bool  `json:"success"`
	ConversationID int64 `json:"conversationId"`
	TicketID       int64 `json:"ticketId"`
	EventID        int64 `json:"eventId"`
	// TraceID is the W3C trace id mailbridge sent with the request.
	TraceID string `json:"-"`
}

// NewTicket is what mailbridge knows when it has to open a ticket for a
// mail. Which of these fields reach the API, and under which names, is
// decided by the ticket-creation settings (config api.ticket).
type NewTicket struct {
	SubchannelID     int
	From             string
	FromName         string
	To               []string
	CC               []string
	Subject          string
	Body             string
	CreatedAt        string
	ExternalTicketID string
	RawData          map[string]any
}
