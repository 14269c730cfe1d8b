package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// pruneQuery finds up to ?2 messages delivered before ?1 that still have
// raw bytes. It walks message_raw, which holds the pending mail and the
// mail delivered within store.keepDelivered, not all the delivered rows
// message_state would lead to (CROSS JOIN keeps message_raw outside).
const pruneQuery = `
	SELECT id FROM message_raw CROSS JOIN message USING (id)
	WHERE state = 'delivered' AND delivered_at < ?1
	LIMIT ?2`

// Prune removes the raw bytes of up to limit messages delivered before
// before: their message_raw rows, and once those are gone for good (the
// commit), their spool files. The candidates are found on a reader
// connection, so that the scan does not hold up the writer; the delete
// checks the state again.
func (s *Store) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	rows, err := s.r.QueryContext(ctx, pruneQuery, unixMilli(before), limit)
	if err != nil {
		return 0, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return 0, err
	}
	var files []string
	err = s.write(ctx, func(tx wtx) error {
		files = files[:0] // a retried batch runs this again
		for _, id := range ids {
			var file sql.NullString
			err := tx.queryRow(`
				DELETE FROM message_raw WHERE id = ?1
					AND EXISTS (SELECT 1 FROM message WHERE id = ?1 AND state = 'delivered')
				RETURNING file`, id).Scan(&file)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				continue
			case err != nil:
				return err
			}
			files = append(files, file.String)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, f := range files {
		if f != "" {
			s.spool.remove(f)
		}
	}
	return len(files), nil
}
