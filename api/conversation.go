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
	Priority               string         `json:"priority,omitempty"` // only when the mail states one: the ticket keeps its own otherwise
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
	e, err := c.encode()
	if err != nil {
		return err
	}
	return e.write(w)
}

// Size is the number of bytes WriteJSON writes, computed without encoding
// the attachments, so a request can carry a Content-Length at the cost of
// marshalling the small fields only.
func (c *Conversation) Size() (int64, error) {
	e, err := c.encode()
	if err != nil {
		return 0, err
	}
	return e.size()
}

// encoded is a conversation with every field but the attachments
// marshalled. The bodies are the bulk of that JSON, so a request that needs
// both the size and the bytes marshals them once, not twice.
type encoded struct {
	c    *Conversation
	head []byte
}

func (c *Conversation) encode() (*encoded, error) {
	head, err := c.head()
	if err != nil {
		return nil, err
	}
	return &encoded{c: c, head: head}, nil
}

func (e *encoded) write(w io.Writer) error {
	if _, err := w.Write(e.head); err != nil {
		return err
	}
	for i, a := range e.c.Attachments {
		open, err := attachmentOpen(i, a.Name)
		if err != nil {
			return err
		}
		if _, err := w.Write(open); err != nil {
			return err
		}
		enc := base64.NewEncoder(base64.StdEncoding, w)
		if _, err := enc.Write(a.Content); err != nil {
			return err
		}
		if err := enc.Close(); err != nil {
			return err
		}
		if _, err := io.WriteString(w, attachmentClose); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, bodyClose)
	return err
}

func (e *encoded) size() (int64, error) {
	n := int64(len(e.head) + len(bodyClose))
	for i, a := range e.c.Attachments {
		open, err := attachmentOpen(i, a.Name)
		if err != nil {
			return 0, err
		}
		n += int64(len(open)+len(attachmentClose)) + int64(base64.StdEncoding.EncodedLen(len(a.Content)))
	}
	return n, nil
}

const (
	attachmentClose = `"}`
	bodyClose       = "]}"
)

// head is the JSON object of every field but the attachments, reopened to
// take the attachments array.
//
// HTML is not escaped: bodies are HTML, and json.Marshal's \u003c for
// every < and > makes the payload larger (a <br> per line of a plain-text
// mail adds 10 bytes) and the dry-run files and goldens hard to read, for
// a safeguard that only matters when JSON is embedded in an HTML page.
func (c *Conversation) head() ([]byte, error) {
	var b bytes.Buffer
	// The bodies are nearly all of it; sized up front, the buffer is not
	// copied as it grows.
	b.Grow(len(c.Body) + len(c.BodyPlain) + len(c.BodyClean) + 2048)
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	head := bytes.TrimSuffix(bytes.TrimSuffix(b.Bytes(), []byte("\n")), []byte("}"))
	return append(head, `,"attachments":[`...), nil
}

// attachmentOpen is the JSON before the base64 of attachment i.
func attachmentOpen(i int, name string) ([]byte, error) {
	quoted, err := json.Marshal(name)
	if err != nil {
		return nil, err
	}
	open := []byte(`{"name":`)
	if i > 0 {
		open = []byte(`,{"name":`)
	}
	return append(append(open, quoted...), `,"base64":"`...), nil
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
	// Process, when set, is the query parameter process instead of the
	// configured one: "false" for archive mail (mailbridge import).
	Process string
}
