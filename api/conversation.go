package api

import "io"

// Conversation is the body of POST /ticket/{ticketId}/conversation/store
// (see shared/spec/openapi.yaml), restricted to the fields an email fills.
//
// The request body is written as it is sent (see payload): a 20 MB
// attachment is not held a second time as a base64 string, nor a body
// field a second time as JSON.
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

	// sizes are JSON sizes of strings, known where they were made (see
	// NoteJSONSize).
	sizes [3]knownSize
}

// knownSize is the size of s escaped in a JSON string, quotes left out,
// and, where noted, the escaped bytes.
type knownSize struct {
	s   string
	n   int
	esc []byte
}

// NoteJSONSize records that s takes n bytes escaped in a JSON string,
// quotes left out, as measured where it was made: a body field that holds
// s then needs no reading for the request's Content-Length. The mapper
// measures its body fields as it cuts them to size. A note is found by
// the string's value, so a field changed since is measured again; the
// last three notes are kept. A wrong n gives a Content-Length that the
// body does not match, which net/http refuses to send.
func (c *Conversation) NoteJSONSize(s string, n int) {
	c.note(knownSize{s: s, n: n})
}

// NoteJSON records that s escaped in a JSON string, quotes left out, is
// escaped, as written where s was made: a body field that holds s is then
// written as these bytes, with no escaping of its own. The mapper escapes
// its body fields as it cuts them to size. Notes are found and kept as
// for NoteJSONSize; escaped must not change after. Wrong bytes make a
// wrong request.
func (c *Conversation) NoteJSON(s string, escaped []byte) {
	c.note(knownSize{s: s, n: len(escaped), esc: escaped})
}

func (c *Conversation) note(k knownSize) {
	copy(c.sizes[1:], c.sizes[:len(c.sizes)-1])
	c.sizes[0] = k
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
	p, err := newPayload(c)
	if err != nil {
		return err
	}
	p.escapeShared()
	return p.writeTo(w)
}

// Size is the number of bytes WriteJSON writes, computed without writing
// them, so a request can carry a Content-Length.
func (c *Conversation) Size() (int64, error) {
	p, err := newPayload(c)
	if err != nil {
		return 0, err
	}
	return p.size(), nil
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
