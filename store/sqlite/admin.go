package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/internal/sqlrow"
)

// Get returns message id and its raw bytes, none once Prune removed them.
func (s *Store) Get(ctx context.Context, id int64) (store.Message, []byte, error) {
	var raw []byte
	var file sql.NullString
	row := s.r.QueryRowContext(ctx, `
		SELECT `+messageColumns+`, raw, file
		FROM message LEFT JOIN message_raw USING (id)
		WHERE id = ?`, id)
	m, err := scanMessage(row, &raw, &file)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Message{}, nil, sqlrow.NotFound(id)
	}
	if err != nil {
		return store.Message{}, nil, err
	}
	if file.Valid {
		if raw, err = s.spooledRaw(ctx, m, file.String); err != nil {
			return store.Message{}, nil, fmt.Errorf("sqlite: message %d: %w", id, err)
		}
	}
	return m, raw, nil
}

// Message returns message id without its raw bytes.
func (s *Store) Message(ctx context.Context, id int64) (store.Message, error) {
	m, err := scanMessage(s.r.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM message WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Message{}, sqlrow.NotFound(id)
	}
	return m, err
}

// spooledRaw reads message m's raw bytes from spool file file, which its
// row named when read. A delivered message's file may be gone since: Prune
// removed its row and then the file. Its raw bytes are then none, as for a
// Get after the prune.
func (s *Store) spooledRaw(ctx context.Context, m store.Message, file string) ([]byte, error) {
	raw, err := s.spool.get(file, m.Size)
	if err == nil || m.State != store.Delivered || !errors.Is(err, errRawLost) {
		return raw, err
	}
	var named int
	if qerr := s.r.QueryRowContext(ctx, `SELECT count(*) FROM message_raw WHERE id = ? AND file = ?`, m.ID, file).Scan(&named); qerr != nil || named > 0 {
		return nil, err
	}
	return nil, nil
}

// List returns messages in the states f asks for, newest first.
func (s *Store) List(ctx context.Context, f store.Filter) ([]store.Message, error) {
	var where string
	var args []any
	if len(f.States) > 0 {
		where = "WHERE state IN (?" + strings.Repeat(", ?", len(f.States)-1) + ")"
		for _, st := range sqlrow.StateNames(f.States) {
			args = append(args, st)
		}
	}
	rows, err := s.r.QueryContext(ctx, `
		SELECT `+messageColumns+` FROM message
		`+where+`
		ORDER BY id DESC
		LIMIT ?`, append(args, sqlrow.ListLimit(f))...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlrow.Messages(rows, scanMessage)
}

// Requeue makes a dead or dropped message due now with a fresh attempt
// count (the claim count, the fence, goes on). Its last error stays for the
// operator to see.
func (s *Store) Requeue(ctx context.Context, id int64) error {
	return s.operate(ctx, id, []store.State{store.Dead, store.Dropped}, `
		UPDATE message SET state = 'queued', attempts = 0, lease_until = 0,
			next_attempt_at = :now, released_at = :now, updated_at = :now
		WHERE id = :id`)
}

// Release makes a held message due now with a fresh attempt count.
func (s *Store) Release(ctx context.Context, id int64) error {
	return s.operate(ctx, id, []store.State{store.Held}, `
		UPDATE message SET state = 'queued', attempts = 0, lease_until = 0,
			next_attempt_at = :now, released_at = :now, updated_at = :now
		WHERE id = :id`)
}

// Drop discards a queued, dead or held message; the row stays as a dedup
// record.
func (s *Store) Drop(ctx context.Context, id int64) error {
	return s.operate(ctx, id, []store.State{store.Queued, store.Dead, store.Held}, `
		UPDATE message SET state = 'dropped', updated_at = :now
		WHERE id = :id`)
}

// operate runs update, an operator action taking :id and :now, on message
// id if the message is in one of the states from.
func (s *Store) operate(ctx context.Context, id int64, from []store.State, update string) error {
	return s.write(ctx, func(tx wtx) error {
		var st store.State
		err := tx.queryRow(`SELECT state FROM message WHERE id = ?`, id).Scan(&st)
		if errors.Is(err, sql.ErrNoRows) {
			return sqlrow.NotFound(id)
		}
		if err != nil {
			return err
		}
		if err := sqlrow.CheckState(id, st, from); err != nil {
			return err
		}
		_, err = tx.exec(update,
			sql.Named("id", id),
			sql.Named("now", unixMilli(time.Now())),
		)
		return err
	})
}

// Stats counts messages by state and finds the oldest pending one.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	st := sqlrow.NewStats()
	// One read transaction, so that counts and age are of the same moment.
	err := transact(ctx, s.r, func(tx *sql.Tx) error {
		if err := countStates(ctx, tx, st.Counts); err != nil {
			return err
		}
		var oldest sql.Null[int64]
		err := tx.QueryRowContext(ctx, `
			SELECT min(received_at) FROM message
			WHERE state IN ('queued', 'inflight')`,
		).Scan(&oldest)
		if oldest.Valid {
			st.OldestPending = time.UnixMilli(oldest.V).UTC()
		}
		return err
	})
	if err != nil {
		return store.Stats{}, err
	}
	return st, nil
}

func countStates(ctx context.Context, tx *sql.Tx, counts map[store.State]int) error {
	rows, err := tx.QueryContext(ctx, `SELECT state, count(*) FROM message GROUP BY state`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var st store.State
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return err
		}
		counts[st] = n
	}
	return rows.Err()
}
