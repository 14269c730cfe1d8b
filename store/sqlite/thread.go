package sqlite

import (
	"context"
	"strings"

	"github.com/enneo/mailbridge/store"
)

// Thread looks messageIDs up in the queue's dedup records: the
// UNIQUE (subchannel_id, external_id) index answers it, so the thread map
// needs no table (and no write) of its own.
func (s *Store) Thread(ctx context.Context, subchannelID int, messageIDs []string) (store.ThreadHit, bool, error) {
	if len(messageIDs) == 0 {
		return store.ThreadHit{}, false, nil
	}
	args := make([]any, 0, len(messageIDs)+1)
	args = append(args, subchannelID)
	for _, id := range messageIDs {
		args = append(args, id)
	}
	rows, err := s.r.QueryContext(ctx, `
		SELECT external_id, ticket_id, conversation_id FROM message
		WHERE subchannel_id = ? AND external_id IN (?`+strings.Repeat(", ?", len(messageIDs)-1)+`)
			AND state = 'delivered' AND ticket_id != 0`, args...)
	if err != nil {
		return store.ThreadHit{}, false, err
	}
	defer rows.Close()
	found := map[string]store.ThreadHit{}
	for rows.Next() {
		var h store.ThreadHit
		if err := rows.Scan(&h.MessageID, &h.TicketID, &h.ConversationID); err != nil {
			return store.ThreadHit{}, false, err
		}
		found[h.MessageID] = h
	}
	if err := rows.Err(); err != nil {
		return store.ThreadHit{}, false, err
	}
	// The caller's order is its preference (In-Reply-To before the newest
	// References), which SQL's IN does not keep.
	for _, id := range messageIDs {
		if h, ok := found[id]; ok {
			return h, true, nil
		}
	}
	return store.ThreadHit{}, false, nil
}
