package sqlite

import (
	"context"
	"strings"
	"time"

	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/internal/sqlrow"
)

// Thread looks messageIDs up in the queue's dedup records: the
// UNIQUE (subchannel_id, external_id) index answers it, so the thread map
// needs no write of its own. Links from LinkThread fill the gaps.
func (s *Store) Thread(ctx context.Context, subchannelID int, messageIDs []string) (store.ThreadHit, bool, error) {
	if len(messageIDs) == 0 {
		return store.ThreadHit{}, false, nil
	}
	in := "(?" + strings.Repeat(", ?", len(messageIDs)-1) + ")"
	args := make([]any, 0, 2*len(messageIDs)+2)
	args = append(args, subchannelID)
	for _, id := range messageIDs {
		args = append(args, id)
	}
	args = append(args, args...)
	// The delivered row comes first so that it wins over a link for the
	// same id: it carries the conversation id too.
	rows, err := s.r.QueryContext(ctx, `
		SELECT external_id, ticket_id, conversation_id, 0 AS rank FROM message
		WHERE subchannel_id = ? AND external_id IN `+in+`
			AND state = 'delivered' AND ticket_id != 0
		UNION ALL
		SELECT message_id, ticket_id, 0, 1 FROM thread_link
		WHERE subchannel_id = ? AND message_id IN `+in+`
		ORDER BY rank`, args...)
	if err != nil {
		return store.ThreadHit{}, false, err
	}
	defer rows.Close()
	return sqlrow.ThreadHit(rows, messageIDs)
}

// LinkThread records messageID's ticket in thread_link.
func (s *Store) LinkThread(ctx context.Context, subchannelID int, messageID string, ticketID int64) error {
	return s.write(ctx, func(tx wtx) error {
		_, err := tx.exec(`
			INSERT INTO thread_link (subchannel_id, message_id, ticket_id, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (subchannel_id, message_id) DO UPDATE SET
				ticket_id = excluded.ticket_id,
				created_at = excluded.created_at`,
			subchannelID, messageID, ticketID, unixMilli(time.Now()))
		return err
	})
}

// AddParticipants records addresses in thread_participant; known ones
// stay as they are.
func (s *Store) AddParticipants(ctx context.Context, subchannelID int, ticketID int64, addresses []string) error {
	if len(addresses) == 0 {
		return nil
	}
	return s.write(ctx, func(tx wtx) error {
		return addParticipants(tx, subchannelID, ticketID, addresses)
	})
}

func addParticipants(tx wtx, subchannelID int, ticketID int64, addresses []string) error {
	now := unixMilli(time.Now())
	for _, a := range addresses {
		if _, err := tx.exec(`
			INSERT INTO thread_participant (subchannel_id, ticket_id, address, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, subchannelID, ticketID, a, now); err != nil {
			return err
		}
	}
	return nil
}

// Participants returns the addresses recorded for the ticket.
func (s *Store) Participants(ctx context.Context, subchannelID int, ticketID int64) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `
		SELECT address FROM thread_participant WHERE subchannel_id = ? AND ticket_id = ?
		ORDER BY created_at, address LIMIT ?`, subchannelID, ticketID, store.MaxParticipants)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlrow.Strings(rows)
}
