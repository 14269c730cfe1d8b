package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/mapper"
	"github.com/enneo/mailbridge/store"
)

// ErrEmpty is returned by Ingest for a message without bytes.
var ErrEmpty = errors.New("pipeline: empty message")

// Ingest commits m to the durable queue. A nil error means the source may
// acknowledge the message; a duplicate (same Message-ID, or same stable
// hash, on the same subchannel, and the same content: contentDigest) is
// acknowledged too but queued only once. A different mail under a
// Message-ID already queued is queued as a conversation of its own, under
// a derived id (store.VariantID): whoever can guess a Message-ID must not
// be able to suppress the mail that has it.
func (p *Pipeline) Ingest(ctx context.Context, m mailbox.Message) (mailbox.Receipt, error) {
	if len(m.Raw) == 0 {
		return mailbox.Receipt{}, ErrEmpty
	}
	if m.Origin.ReceivedAt.IsZero() {
		m.Origin.ReceivedAt = p.now()
	}
	p.route(&m)
	h := mapper.ParseHeader(m.Raw)
	extID := mapper.ExternalID(m.Raw, h)
	origin, err := json.Marshal(m.Origin)
	if err != nil {
		return mailbox.Receipt{}, fmt.Errorf("pipeline: encode origin: %w", err)
	}
	// The lines' common fields, given to each call rather than to With,
	// which would format them for lines the log level drops.
	attrs := append([]any{"message_id", extID, "subchannel", m.SubchannelID, "source", m.Origin.Source},
		originAttrs(m.Origin)...)
	nm := store.NewMessage{
		SubchannelID: m.SubchannelID,
		ExternalID:   extID,
		MessageID:    h.MessageID,
		Subject:      h.Subject,
		From:         h.From,
		TicketID:     m.TicketID,
		Origin:       origin,
		Raw:          m.Raw,
		Digest:       contentDigest(m.Raw),
		ReceivedAt:   m.Origin.ReceivedAt.UTC().Truncate(time.Millisecond),
	}
	// While the workers keep up the message is queued claimed for them
	// (handOff). The place reserved goes to the claim handed over
	// (dispatch), or back, whatever else happens (an error, no claim, a
	// panic).
	reserved := p.reserveHandOff(len(m.Raw))
	if reserved {
		nm.Claim = &store.ClaimRequest{Now: p.now(), Lease: p.cfg.Lease}
		defer func() {
			if reserved {
				p.unreserve(len(m.Raw))
			}
		}()
	}
	res, err := p.store.Enqueue(ctx, nm)
	if err != nil {
		p.log.Error("queueing failed; the source keeps the message", append(attrs, "err", err)...)
		p.obs.IngestFailed(m.Origin.Source)
		return mailbox.Receipt{}, fmt.Errorf("pipeline: queue message %s: %w", extID, err)
	}
	p.obs.Ingested(m.Origin.Source, m.SubchannelID, res.Duplicate)
	if m.Handover && !res.Duplicate && res.Claim == nil && p.held != nil {
		// Before the wake-up below, so that the worker it wakes finds it.
		p.held.put(res.ID, m.Raw, p.now())
	}
	if res.ExternalID != extID {
		attrs = append(attrs, "external_id", res.ExternalID, "first_queue_id", res.FirstID)
	}
	switch {
	case res.Duplicate:
		p.log.Info("duplicate message acknowledged, not queued again", append(attrs, "queue_id", res.ID, "state", res.State)...)
	case res.ExternalID != extID:
		// A forged Message-ID, or a mailer reusing one: either way two
		// mails an agent may want to compare.
		p.log.Warn("different content under a Message-ID already queued: queued as a conversation of its own",
			append(attrs, "queue_id", res.ID, "size", len(m.Raw))...)
		reserved = p.dispatch(ctx, res.Claim, m.Handover) && reserved
	default:
		p.log.Info("message queued", append(attrs, "queue_id", res.ID, "size", len(m.Raw))...)
		reserved = p.dispatch(ctx, res.Claim, m.Handover) && reserved
	}
	return mailbox.Receipt{QueueID: res.ID, ExternalID: res.ExternalID, Duplicate: res.Duplicate}, nil
}

// dispatch gets a message just queued to a worker: c, its claim made at
// enqueue, to the place reserved for it in handed, or, without one, a
// wake-up for a worker to claim it. It reports whether the place is
// still reserved: not once the claim is handed over.
func (p *Pipeline) dispatch(ctx context.Context, c *store.Claim, handover bool) (reserved bool) {
	if c != nil {
		p.handOff(ctx, c, handover)
		return false
	}
	p.queuedSeq.Add(1) // before the wake-up: the claim it wakes sees it
	p.poke()
	return true
}

func (p *Pipeline) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// originJSON hands the stored origin to the mapper as raw JSON, so rawData
// reports it exactly as recorded at ingest.
func originJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	return json.RawMessage(b)
}

// originAttrs are the log fields that tie an ingest line to the source's own
// log: the client for SMTP, the folder and UID for IMAP.
func originAttrs(o mailbox.Origin) []any {
	switch {
	case o.SMTP != nil:
		return []any{"client_ip", o.SMTP.ClientIP}
	case o.IMAP != nil:
		return []any{"mailbox", o.IMAP.Mailbox, "folder", o.IMAP.Folder, "uid", o.IMAP.UID}
	}
	return nil
}
