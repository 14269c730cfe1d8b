package postgres

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

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
		utcTime{&m.ReceivedAt}, utcTime{&m.CreatedAt}, utcTime{&m.UpdatedAt},
		utcTime{&m.NextAttemptAt}, utcTime{&m.LeaseUntil}, utcTime{&m.DeliveredAt},
	}
	err := sc.Scan(append(dest, extra...)...)
	return m, err
}

// utcTime scans a timestamptz in UTC, NULL being the zero time.
type utcTime struct{ t *time.Time }

func (u utcTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*u.t = time.Time{}
	case time.Time:
		*u.t = v.UTC()
	default:
		return fmt.Errorf("postgres: time column holds %T", v)
	}
	return nil
}

// text makes s storable in a text column, which takes neither NUL nor
// invalid UTF-8 (SQLite takes both): each such byte becomes U+FFFD, as
// encoding/json does when the id goes out to the API. Header fields are
// bytes as the mail had them, and an Enqueue that failed on them would
// refuse the mail for good. Every lookup key (external ids, Message-IDs)
// goes through text too, so a damaged id still finds its own row.
func text(s string) string {
	if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == 0 {
			r = utf8.RuneError
		}
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

// texts applies text to each of ss.
func texts(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = text(s)
	}
	return out
}
