package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// pruneQuery finds up to ?2 messages delivered before ?1 that still have
// raw bytes, oldest first. It walks message_prunable, which holds only
// those, up to the cut-off: neither the pruned history nor the mail kept
// for store.keepDelivered is read.
const pruneQuery = `
	SELECT id FROM message INDEXED BY message_prunable
	WHERE state = 'delivered' AND pruned = 0 AND delivered_at < ?1
	ORDER BY delivered_at
	LIMIT ?2`

// Prune removes the raw bytes of up to limit messages delivered before
// before: their message_raw rows, and once those are gone for good (the
// commit), their spool files. A file it cannot remove is an error, with
// the messages counted as pruned: no row names the file any more, and the
// next start's sweep removes it. The candidates are found on a reader
// connection, so that the read does not hold up the writer; the write
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
		for _, id := range ids {
			res, err := tx.exec(`UPDATE message SET pruned = 1
				WHERE id = ? AND state = 'delivered' AND pruned = 0`, id)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				continue // no longer delivered, or pruned already
			}
			var file sql.NullString
			err = tx.queryRow(`DELETE FROM message_raw WHERE id = ? RETURNING file`, id).Scan(&file)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			files = append(files, file.String)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var left []error
	for _, f := range files {
		if f != "" {
			if err := s.spool.remove(f); err != nil {
				left = append(left, err)
			}
		}
	}
	if len(left) > 0 {
		return len(files), fmt.Errorf("sqlite: pruned %d messages, but %d of their spool files are left until the next start's sweep: %w",
			len(files), len(left), errors.Join(left...))
	}
	return len(files), nil
}
