package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

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
	ids := texts(messageIDs)
	// A delivered row ranks before a link for the same id: it carries the
	// conversation id too.
	rows, err := s.pool.Query(ctx, `
		SELECT external_id, ticket_id, conversation_id, 0 AS rank FROM message
		WHERE subchannel_id = $1 AND external_id = ANY($2)
			AND state = 'delivered' AND ticket_id != 0
		UNION ALL
		SELECT message_id, ticket_id, 0, 1 FROM thread_link
		WHERE subchannel_id = $1 AND message_id = ANY($2)
		ORDER BY rank`, subchannelID, ids)
	if err != nil {
		return store.ThreadHit{}, false, err
	}
	defer rows.Close()
	return sqlrow.ThreadHit(rows, ids)
}

// LinkThread records messageID's ticket in thread_link, in the group
// commit of the enqueues and reports (batch.go).
func (s *Store) LinkThread(ctx context.Context, subchannelID int, messageID string, ticketID int64) error {
	_, err := s.batch.update(ctx, `
		INSERT INTO thread_link (subchannel_id, message_id, ticket_id, created_at)
		VALUES (@subchannel, @message_id, @ticket, @now)
		ON CONFLICT (subchannel_id, message_id) DO UPDATE SET
			ticket_id = excluded.ticket_id,
			created_at = excluded.created_at`,
		pgx.NamedArgs{"subchannel": subchannelID, "message_id": text(messageID), "ticket": ticketID, "now": time.Now()})
	return err
}

// AddParticipants records addresses in thread_participant; known ones
// stay as they are. The insert joins the group commit of the enqueues and
// reports (batch.go): delivery records them beside the API call, so they
// usually share a commit with another delivery's report.
func (s *Store) AddParticipants(ctx context.Context, subchannelID int, ticketID int64, addresses []string) error {
	if len(addresses) == 0 {
		return nil
	}
	// In one order, so that two instances' batches adding the same
	// addresses take their row locks alike rather than deadlock.
	addresses = slices.Sorted(slices.Values(texts(addresses)))
	_, err := s.batch.folded(ctx, participantsFold,
		pgx.NamedArgs{"subchannel": subchannelID, "ticket": ticketID, "addresses": addresses, "now": time.Now()})
	return err
}

// participantsFold is AddParticipants' insert, alone and for the
// addresses of many tickets at once, in one order (as above).
var participantsFold = func() *fold {
	columns := []column{{"subchannel", "bigint"}, {"ticket", "bigint"}, {"addresses", "text"}, {"now", "timestamptz"}}
	return &fold{
		one: `INSERT INTO thread_participant (subchannel_id, ticket_id, address, created_at)
			SELECT @subchannel, @ticket, a, @now FROM unnest(@addresses::text[]) AS a
			ON CONFLICT DO NOTHING`,
		many: `INSERT INTO thread_participant (subchannel_id, ticket_id, address, created_at)
			SELECT "subchannel", "ticket", "addresses", "now" FROM ` + unnest(columns) + `
			ORDER BY "subchannel", "ticket", "addresses"
			ON CONFLICT DO NOTHING`,
		columns: columns,
		spread:  "addresses",
	}
}()

// Participants returns the addresses recorded for the ticket.
func (s *Store) Participants(ctx context.Context, subchannelID int, ticketID int64) ([]string, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT address FROM thread_participant WHERE subchannel_id = $1 AND ticket_id = $2
		ORDER BY created_at, address LIMIT $3`, subchannelID, ticketID, store.MaxParticipants)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlrow.Strings(rows)
}
