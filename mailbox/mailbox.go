// Package mailbox defines the hand-off between a mail source (SMTP
// listener, IMAP poller, the CLI) and the pipeline.
//
// A source produces a Message: the raw RFC 5322 bytes exactly as received,
// the subchannel they belong to and where they came from. It hands the
// Message to an Ingester and acknowledges the mail at its source (SMTP 250,
// IMAP flag or move) only after Ingest returned without error, because only
// then is the message durably queued.
package mailbox

import (
	"context"
	"time"
)

// Message is one email as a source received it.
type Message struct {
	// Raw is the message as received: headers and body, CRLF or LF line
	// endings. Sources must not rewrite it beyond prepending trace headers.
	Raw []byte
	// SubchannelID is the enneo subchannel (mailbox) the message belongs to.
	SubchannelID int
	// TicketID, when non-zero, pins the conversation to an existing ticket
	// and skips ticket resolution (used by `mailbridge deliver --ticket`).
	TicketID int64
	// Origin says where the message came from; it is kept with the queued
	// message and reported in the payload's rawData.
	Origin Origin
	// Handover says the source lets go of Raw once Ingest returns and never
	// writes to it again, so that a delivery worker of the same process
	// may map those bytes rather than read the queued copy back. A source
	// that reuses its buffer leaves it false.
	Handover bool
}

// Origin records where and how a message was received.
type Origin struct {
	// Source is "smtp", "imap" or "cli".
	Source     string    `json:"source"`
	ReceivedAt time.Time `json:"receivedAt"`
	// File is the path given to the CLI, if any.
	File string      `json:"file,omitempty"`
	IMAP *IMAPOrigin `json:"imap,omitempty"`
	SMTP *SMTPOrigin `json:"smtp,omitempty"`
}

// IMAPOrigin identifies a message in an IMAP folder.
type IMAPOrigin struct {
	Mailbox     string `json:"mailbox"`
	Folder      string `json:"folder"`
	UIDValidity uint32 `json:"uidValidity"`
	UID         uint32 `json:"uid"`
	// Archive marks old mail brought in by `mailbridge import`: it is
	// posted with process "false", so enneo stores it without AI.
	Archive bool `json:"archive,omitempty"`
	// Direction, when set, is the conversation's direction as the folder
	// says it (out for a Sent folder), over the subchannel's.
	Direction string `json:"direction,omitempty"`
}

// SMTPOrigin is the SMTP envelope and session a message arrived with.
type SMTPOrigin struct {
	Listener string   `json:"listener,omitempty"`
	MailFrom string   `json:"mailFrom"`
	RcptTo   []string `json:"rcptTo"`
	ClientIP string   `json:"clientIp,omitempty"`
	Helo     string   `json:"helo,omitempty"`
	TLS      bool     `json:"tls"`
	AuthUser string   `json:"authUser,omitempty"`
}

// Receipt is the pipeline's answer to Ingest.
type Receipt struct {
	// QueueID is the id of the queued message (of the earlier copy for a
	// duplicate).
	QueueID int64
	// ExternalID is the dedup key: the Message-ID without angle brackets, or
	// a stable hash of the message where it has none.
	ExternalID string
	// Duplicate is true when the same message was already queued for the
	// same subchannel; the source acknowledges it all the same.
	Duplicate bool
}

// Ingester takes a message into the durable queue. A nil error means the
// message is committed and the source may acknowledge it.
type Ingester interface {
	Ingest(ctx context.Context, m Message) (Receipt, error)
}
