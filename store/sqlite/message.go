package sqlite

import (
	"fmt"
	"time"

	"github.com/enneo/mailbridge/store"
)

// messageColumns are the message table's columns in the order scanMessage
// reads them.
const messageColumns = `id, subchannel_id, external_id, message_id, subject, from_addr,
	state, size, attempts, uncertain, last_error,
	ticket_id, conversation_id, event_id, origin,
	received_at, created_at, updated_at, next_attempt_at, lease_until, delivered_at`

type scanner interface {
	Scan(dest ...any) error
}

// scanMessage reads messageColumns, then the extra columns into extra.
func scanMessage(sc scanner, extra ...any) (store.Message, error) {
	var m store.Message
	dest := []any{
		&m.ID, &m.SubchannelID, &m.ExternalID, &m.MessageID, &m.Subject, &m.From,
		&m.State, &m.Size, &m.Attempts, &m.Uncertain, &m.LastError,
		&m.TicketID, &m.ConversationID, &m.EventID, &m.Origin,
		millis{&m.ReceivedAt}, millis{&m.CreatedAt}, millis{&m.UpdatedAt},
		millis{&m.NextAttemptAt}, millis{&m.LeaseUntil}, millis{&m.DeliveredAt},
	}
	err := sc.Scan(append(dest, extra...)...)
	return m, err
}

// millis scans a time stored as unix milliseconds, 0 being the zero time.
type millis struct{ t *time.Time }

func (m millis) Scan(v any) error {
	ms, ok := v.(int64)
	if !ok {
		return fmt.Errorf("sqlite: time column holds %T, want int64", v)
	}
	*m.t = time.Time{}
	if ms != 0 {
		*m.t = time.UnixMilli(ms).UTC()
	}
	return nil
}

// unixMilli is the inverse of millis.
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
