package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/internal/sqlrow"
)

// Get returns message id and its raw bytes.
func (s *Store) Get(ctx context.Context, id int64) (store.Message, []byte, error) {
	var raw []byte
	row := s.pool.QueryRow(ctx, `SELECT `+messageColumns+`, raw FROM message WHERE id = $1`, id)
	m, err := s.scanMessage(row, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Message{}, nil, sqlrow.NotFound(id)
	}
	if err != nil {
		return store.Message{}, nil, err
	}
	return m, raw, nil
}

// Message returns message id without its raw bytes.
func (s *Store) Message(ctx context.Context, id int64) (store.Message, error) {
	m, err := s.scanMessage(s.pool.QueryRow(ctx, `SELECT `+messageColumns+` FROM message WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Message{}, sqlrow.NotFound(id)
	}
	return m, err
}

// List returns messages in the states f asks for, newest first.
func (s *Store) List(ctx context.Context, f store.Filter) ([]store.Message, error) {
	sql, args := listQuery(f)
	rows, err := s.pool.Query(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlrow.Messages(rows, s.scanMessage)
}

// listQuery is List's statement for f and its arguments.
func listQuery(f store.Filter) (string, pgx.NamedArgs) {
	args := pgx.NamedArgs{"limit": sqlrow.ListLimit(f)}
	var where string
	if len(f.States) > 0 {
		where = "WHERE state = ANY(@states)"
		args["states"] = sqlrow.StateNames(f.States)
		if parked(f.States) {
			// Says message_parked's predicate (schema.go), whatever
			// the plan makes of @states.
			where += " AND " + parkedStates
		}
	}
	return `SELECT ` + messageColumns + ` FROM message
		` + where + `
		ORDER BY id DESC
		LIMIT @limit`, args
}

// parkedStates is message_parked's predicate (schema.go): the states a
// message waits in for an operator, or ends in without a delivery.
const parkedStates = "state IN ('dead', 'held', 'dropped')"

// parked says whether all of states are in parkedStates.
func parked(states []store.State) bool {
	for _, st := range states {
		if st != store.Dead && st != store.Held && st != store.Dropped {
			return false
		}
	}
	return true
}

// Requeue makes a dead or dropped message due now with a fresh attempt
// count (the claim count, the fence, goes on). Its last error stays for the
// operator to see.
func (s *Store) Requeue(ctx context.Context, id int64) error {
	return s.operate(ctx, id, []store.State{store.Dead, store.Dropped}, `
		UPDATE message SET state = 'queued', attempts = 0, lease_until = NULL,
			next_attempt_at = @due, released_at = @now, updated_at = @now
		WHERE id = @id`)
}

// Release makes a held message due now with a fresh attempt count.
func (s *Store) Release(ctx context.Context, id int64) error {
	return s.operate(ctx, id, []store.State{store.Held}, `
		UPDATE message SET state = 'queued', attempts = 0, lease_until = NULL,
			next_attempt_at = @due, released_at = @now, updated_at = @now
		WHERE id = @id`)
}

// Drop discards a queued, dead or held message; the row stays as a dedup
// record.
func (s *Store) Drop(ctx context.Context, id int64) error {
	return s.operate(ctx, id, []store.State{store.Queued, store.Dead, store.Held}, `
		UPDATE message SET state = 'dropped', updated_at = @now
		WHERE id = @id`)
}

// operate runs update, an operator action taking @id, @now and @due (now
// on the database's clock, for next_attempt_at), on message id if the
// message is in one of the states from. The row is locked from the check to the update,
// so a claim cannot slip in between.
func (s *Store) operate(ctx context.Context, id int64, from []store.State, update string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var st store.State
		err := tx.QueryRow(ctx, `SELECT state FROM message WHERE id = $1 FOR UPDATE`, id).Scan(&st)
		if errors.Is(err, pgx.ErrNoRows) {
			return sqlrow.NotFound(id)
		}
		if err != nil {
			return err
		}
		if err := sqlrow.CheckState(id, st, from); err != nil {
			return err
		}
		now := s.clock.now()
		_, err = tx.Exec(ctx, update, pgx.NamedArgs{"id": id, "now": now, "due": s.clock.toDB(now)})
		return err
	})
}

// Stats counts messages by state and finds the oldest pending one, in one
// statement and so of one moment.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	st := sqlrow.NewStats()
	rows, err := s.pool.Query(ctx, `
		SELECT state, count(*), min(received_at) FILTER (WHERE state IN ('queued', 'inflight'))
		FROM message GROUP BY state`)
	if err != nil {
		return store.Stats{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var state store.State
		var n int
		var oldest time.Time
		if err := rows.Scan(&state, &n, utcTime{&oldest}); err != nil {
			return store.Stats{}, err
		}
		st.Counts[state] = n
		if !oldest.IsZero() && (st.OldestPending.IsZero() || oldest.Before(st.OldestPending)) {
			st.OldestPending = oldest
		}
	}
	if err := rows.Err(); err != nil {
		return store.Stats{}, err
	}
	return st, nil
}
