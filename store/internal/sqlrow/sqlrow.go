// Package sqlrow holds what the SQL stores share: the message row's
// columns and how to read them, and the thread map's choice among hits.
package sqlrow

import (
	"time"

	"github.com/enneo/mailbridge/store"
)

// MessageColumns are the message table's columns in the order
// ScanMessage reads them.
const MessageColumns = `id, subchannel_id, external_id, message_id, subject, from_addr,
	state, size, attempts, uncertain, last_error,
	ticket_id, conversation_id, event_id, origin,
	received_at, created_at, updated_at, next_attempt_at, lease_until, delivered_at,
	gone_ticket_id, released_at`

// Scanner is a row: *sql.Row, *sql.Rows, pgx.Row.
type Scanner interface {
	Scan(dest ...any) error
}

// ScanMessage reads MessageColumns, then the extra columns into extra.
// timeDest returns the scan destination of a time column for the store's
// way of keeping times.
func ScanMessage(sc Scanner, timeDest func(*time.Time) any, extra ...any) (store.Message, error) {
	var m store.Message
	dest := []any{
		&m.ID, &m.SubchannelID, &m.ExternalID, &m.MessageID, &m.Subject, &m.From,
		&m.State, &m.Size, &m.Attempts, &m.Uncertain, &m.LastError,
		&m.TicketID, &m.ConversationID, &m.EventID, &m.Origin,
		timeDest(&m.ReceivedAt), timeDest(&m.CreatedAt), timeDest(&m.UpdatedAt),
		timeDest(&m.NextAttemptAt), timeDest(&m.LeaseUntil), timeDest(&m.DeliveredAt),
		&m.GoneTicketID, timeDest(&m.ReleasedAt),
	}
	err := sc.Scan(append(dest, extra...)...)
	return m, err
}

// Rows is a result set: *sql.Rows, pgx.Rows.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// Messages reads every row of rows with scan (the store's scanMessage).
func Messages(rows Rows, scan func(Scanner, ...any) (store.Message, error)) ([]store.Message, error) {
	var msgs []store.Message
	for rows.Next() {
		m, err := scan(rows)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, rows.Err()
}

// ThreadHit reads the thread map's rows, (message id, ticket id,
// conversation id, rank) ordered by rank, and returns firstHit of them.
func ThreadHit(rows Rows, ids []string) (store.ThreadHit, bool, error) {
	var hits []store.ThreadHit
	for rows.Next() {
		var h store.ThreadHit
		var rank int
		if err := rows.Scan(&h.MessageID, &h.TicketID, &h.ConversationID, &rank); err != nil {
			return store.ThreadHit{}, false, err
		}
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return store.ThreadHit{}, false, err
	}
	h, ok := firstHit(hits, ids)
	return h, ok, nil
}

// firstHit returns the hit for the first of ids that has one, in the
// caller's order (its preference: In-Reply-To before the newest
// References), which SQL's IN does not keep. Of several hits for one id
// the first in hits wins.
func firstHit(hits []store.ThreadHit, ids []string) (store.ThreadHit, bool) {
	found := make(map[string]store.ThreadHit, len(hits))
	for _, h := range hits {
		if _, seen := found[h.MessageID]; !seen {
			found[h.MessageID] = h
		}
	}
	for _, id := range ids {
		if h, ok := found[id]; ok {
			return h, true
		}
	}
	return store.ThreadHit{}, false
}

// Strings reads one text column of every row.
func Strings(rows Rows) ([]string, error) {
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
