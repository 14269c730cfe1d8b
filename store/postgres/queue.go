package postgres

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/internal/sqlrow"
)

// enqueueQuery inserts a message unless its external id is taken, in one
// statement and so one transaction. Of two instances racing on one id,
// the second waits for the first's commit and then inserts nothing.
const enqueueQuery = `
	INSERT INTO message (subchannel_id, external_id, message_id, subject, from_addr,
		state, size, ticket_id, origin, raw, digest, variant, variant_of,
		received_at, created_at, updated_at, next_attempt_at,
		lease_until, claimed_by, attempts, claims)
	VALUES (@subchannel, @external, @message_id, @subject, @from,
		@state, @size, @ticket, @origin, @raw, @digest, @variant, @variant_of,
		@received, @now, @now, @due,
		@lease_until, @holder, @attempts, @attempts)
	ON CONFLICT (subchannel_id, external_id) DO NOTHING
	RETURNING id`

// kinQuery selects the messages already under a key.
var kinQuery = sqlrow.KinQuery("@")

// Enqueue commits m, or finds the message already queued under its
// (SubchannelID, ExternalID) with its content and leaves it alone.
//
// A new key costs one statement. A taken one is decided on the messages
// under it (sqlrow.Decide), and a different mail inserted under the
// derived id; each statement is a transaction of its own, and the unique
// external_id settles races: an insert that finds its id taken (another
// instance queued a message under it first, and the insert waited for
// its commit) decides again on what is there now. So of concurrent
// Enqueues with one content one queues it, and each other content gets
// an id of its own.
func (s *Store) Enqueue(ctx context.Context, m store.NewMessage) (store.EnqueueResult, error) {
	key := text(m.ExternalID)
	res := store.EnqueueResult{ExternalID: key, State: store.Queued}
	id, created, ok, err := s.insert(ctx, m, key, 1, nil)
	if err != nil {
		return store.EnqueueResult{}, err
	}
	if ok {
		res.ID = id
		return s.claimed(m, res, created), nil
	}
	for floor := 0; ; {
		// A statement of its own: its snapshot sees the rows whose
		// commits the insert waited for.
		kin, err := s.kin(ctx, m.SubchannelID, key)
		if err != nil {
			return store.EnqueueResult{}, err
		}
		dec, n, err := sqlrow.Decide(kin, m.Digest, floor)
		if err != nil {
			return store.EnqueueResult{}, err
		}
		if dec.Duplicate {
			return dec, nil
		}
		if n == sqlrow.Overflow {
			return s.enqueueOverflow(ctx, m, key, dec)
		}
		ext := store.VariantID(key, n)
		id, created, ok, err := s.insert(ctx, m, ext, n, key)
		if err != nil {
			return store.EnqueueResult{}, err
		}
		if ok {
			dec.ID, dec.ExternalID, dec.State = id, ext, store.Queued
			return s.claimed(m, dec, created), nil
		}
		// Taken by another instance's variant, which the next round
		// sees (and may be a duplicate of), or by a message of another
		// key: either way not n.
		floor = n + 1
	}
}

// enqueueOverflow queues m under store.OverflowID, or finds its earlier
// copy there: the id is its digest's, so what holds it is that content.
func (s *Store) enqueueOverflow(ctx context.Context, m store.NewMessage, key string, dec store.EnqueueResult) (store.EnqueueResult, error) {
	ext := store.OverflowID(key, m.Digest)
	id, created, ok, err := s.insert(ctx, m, ext, 0, nil)
	if err != nil {
		return store.EnqueueResult{}, err
	}
	if ok {
		dec.ID, dec.ExternalID, dec.State = id, ext, store.Queued
		return s.claimed(m, dec, created), nil
	}
	kin, err := s.kin(ctx, m.SubchannelID, ext)
	if err != nil {
		return store.EnqueueResult{}, err
	}
	return sqlrow.OverflowDuplicate(kin, m.Digest, ext, dec.FirstID)
}

// claimed is res, the result of m's new row created at created, with the
// row's claim if m asked for one (its insert claimed it: insertArgs).
func (s *Store) claimed(m store.NewMessage, res store.EnqueueResult, created time.Time) store.EnqueueResult {
	if m.Claim != nil {
		res.State = store.Inflight
		res.Claim = m.Claimed(res.ID, res.ExternalID, created)
	}
	return res
}

// kin reads the messages already under key on subchannel.
func (s *Store) kin(ctx context.Context, subchannel int, key string) ([]sqlrow.Kin, error) {
	rows, err := s.pool.Query(ctx, kinQuery, pgx.NamedArgs{"subchannel": subchannel, "key": key})
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlrow.ScanKin(rows)
}

// insert queues m under externalID as variant n of key variantOf (nil for
// the message under the key itself), created at created. ok is false if
// externalID is taken.
func (s *Store) insert(ctx context.Context, m store.NewMessage, externalID string, n int, variantOf any) (id int64, created time.Time, ok bool, err error) {
	args := s.insertArgs(m, externalID, n, variantOf)
	created, _ = args["now"].(time.Time)
	id, ok, err = s.batch.insert(ctx, args)
	return id, created, ok, err
}

// insertArgs are enqueueQuery's arguments for insert.
func (s *Store) insertArgs(m store.NewMessage, externalID string, n int, variantOf any) pgx.NamedArgs {
	raw := m.Raw
	if raw == nil {
		raw = []byte{} // nil would bind as NULL
	}
	var digest []byte // NULL for the unknown digest
	if len(m.Digest) > 0 {
		digest = m.Digest
	}
	now := s.clock.now()
	// Queued, or claimed as Claim would leave it (NewMessage.Claim).
	state, attempts := store.Queued, 0
	var leaseUntil, holder any // NULL unless claimed
	if r := m.Claim; r != nil {
		state, attempts = store.Inflight, 1
		leaseUntil = s.clock.toDB(r.Now).Add(r.Lease)
		if h := s.claimer(); h != "" {
			holder = h
		}
	}
	return pgx.NamedArgs{
		"state":       string(state),
		"lease_until": leaseUntil,
		"holder":      holder,
		"attempts":    attempts,
		"subchannel":  m.SubchannelID,
		"external":    externalID,
		"message_id":  text(m.MessageID),
		"subject":     text(m.Subject),
		"from":        text(m.From),
		"size":        len(m.Raw),
		"ticket":      m.TicketID,
		"origin":      m.Origin,
		"raw":         raw,
		"digest":      digest,
		"variant":     n,
		"variant_of":  variantOf,
		"received":    m.ReceivedAt,
		"now":         now,
		"due":         s.clock.toDB(now), // see clock.go
	}
}

// dueAt is when a pending message is due: message_due's key (schema.go).
const dueAt = `(CASE WHEN state = 'inflight' THEN lease_until ELSE next_attempt_at END)`

// claimQuery leases up to @limit claimable messages, oldest first, and
// counts an attempt on each. SKIP LOCKED passes over rows another claim
// is taking at the same moment, so concurrent claims, of this process or
// another instance, neither wait for each other nor take the same row.
//
// A message is due at its next_attempt_at while queued and at its
// lease_until while inflight (its lease runs out: an inflight message's
// lease_until is past its next_attempt_at, as Claim only takes due
// messages and leases them into the future). message_due indexes that
// time (for the queries that say next_attempt_at IS NOT NULL), so the
// query walks it in order and stops after limit rows, without passing
// over the messages under lease, which would otherwise sit at the head of
// the queue for as long as their attempts last.
// Taking over an inflight message means its previous attempt never
// reported: that attempt is uncertain. The raw bytes come back for the
// first message and those after it while their sizes add up to no more
// than @claim_raw (store.ClaimRaw); the others' are NULL. They count in
// the order Claim hands the claims out (next_attempt_at, as SQLite's), not
// the walk's: a message taken over is due at its lease's end but comes
// first by its next_attempt_at.
const claimQuery = `
	WITH locked AS (
		SELECT id, state, size, next_attempt_at FROM message
		WHERE state IN ('queued', 'inflight') AND next_attempt_at IS NOT NULL
			AND ` + dueAt + ` <= @now
		ORDER BY ` + dueAt + `, id
		LIMIT @limit
		FOR UPDATE SKIP LOCKED
	), due AS (
		SELECT id AS due_id, state AS due_state,
			row_number() OVER w = 1 OR sum(size) OVER w <= @claim_raw AS due_read
		FROM locked
		WINDOW w AS (ORDER BY next_attempt_at, id)
	)
	UPDATE message SET
		state = 'inflight',
		lease_until = @lease_until,
		claimed_by = NULLIF(@holder, ''),
		attempts = attempts + 1,
		claims = claims + 1,
		uncertain = uncertain + (due_state = 'inflight')::integer,
		updated_at = @wall
	FROM due WHERE id = due_id
	RETURNING ` + messageColumns + `, CASE WHEN due_read THEN raw END, claims, due_state = 'inflight'`

// Claim leases up to limit due messages. now is the caller's clock, and
// so are the claims' times; the rows hold the database's (see clock.go).
func (s *Store) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Claim, error) {
	if limit <= 0 {
		return nil, nil
	}
	dbNow := s.clock.toDB(now)
	rows, err := s.pool.Query(ctx, claimQuery, pgx.NamedArgs{
		"now":         dbNow,
		"limit":       limit,
		"lease_until": dbNow.Add(lease),
		"wall":        s.clock.now(),
		"holder":      s.claimer(),
		"claim_raw":   store.ClaimRaw,
	})
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var claims []store.Claim
	for rows.Next() {
		var c store.Claim
		c.Message, err = s.scanMessage(rows, &c.Raw, &c.Attempt, &c.Reclaimed)
		if err != nil {
			return nil, err
		}
		// Exactly what the caller asked for, not a round trip through
		// the offset.
		c.LeaseUntil = now.Add(lease).UTC()
		claims = append(claims, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// UPDATE returns rows in no particular order.
	slices.SortFunc(claims, func(a, b store.Claim) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.ID, b.ID))
	})
	return claims, nil
}

// Complete marks a claimed message delivered with the API's answer.
func (s *Store) Complete(ctx context.Context, id int64, attempt int, o store.Outcome) error {
	return s.report(ctx, id, attempt, `
		state = 'delivered', lease_until = NULL, delivered_at = @now, last_error = '',
		ticket_id = @ticket, conversation_id = @conversation, event_id = @event`,
		pgx.NamedArgs{"ticket": o.TicketID, "conversation": o.ConversationID, "event": o.EventID})
}

// Retry puts a claimed message back in the queue until f.At.
func (s *Store) Retry(ctx context.Context, id int64, attempt int, f store.Failure) error {
	return s.requeue(ctx, id, attempt, f, 0)
}

// Postpone puts a claimed message back in the queue until f.At without
// counting the attempt.
func (s *Store) Postpone(ctx context.Context, id int64, attempt int, f store.Failure) error {
	return s.requeue(ctx, id, attempt, f, 1)
}

// requeue reports failed attempt f and takes back uncount attempts.
func (s *Store) requeue(ctx context.Context, id int64, attempt int, f store.Failure, uncount int) error {
	uncertain := 0
	if f.Uncertain {
		uncertain = 1
	}
	return s.report(ctx, id, attempt, `
		state = 'queued', lease_until = NULL, next_attempt_at = @at, last_error = @error,
		uncertain = uncertain + @uncertain, attempts = attempts - @uncount, ticket_id = @ticket,
		gone_ticket_id = @gone, not_before = @not_before`,
		pgx.NamedArgs{
			"at": s.clock.toDB(f.At), "error": text(f.Error), "uncertain": uncertain, "uncount": uncount, "ticket": f.TicketID,
			"gone": f.GoneTicketID, "not_before": s.clock.toDBOrNil(f.NotBefore),
		})
}

// Bury moves a claimed message to the dead-letter state.
func (s *Store) Bury(ctx context.Context, id int64, attempt int, lastErr string) error {
	return s.report(ctx, id, attempt, `state = 'dead', lease_until = NULL, last_error = @error`,
		pgx.NamedArgs{"error": text(lastErr)})
}

// Hold moves a claimed message to the held state; the attempt does not
// count.
func (s *Store) Hold(ctx context.Context, id int64, attempt int, reason string) error {
	return s.report(ctx, id, attempt, `state = 'held', lease_until = NULL, last_error = @error, attempts = attempts - 1`,
		pgx.NamedArgs{"error": text(reason)})
}

// Discard moves a claimed message to the dropped state.
func (s *Store) Discard(ctx context.Context, id int64, attempt int, reason string) error {
	return s.report(ctx, id, attempt, `state = 'dropped', lease_until = NULL, last_error = @error`,
		pgx.NamedArgs{"error": text(reason)})
}

// reportQuery applies set to the message @id if claim @attempt still
// holds it. The state test is written so that no index can take it:
// without statistics (a new queue) the planner rates "state = 'inflight'"
// as selective as the id and may walk every inflight message by an index
// on the state instead of looking the id up in the primary key.
func reportQuery(set string) string {
	return `UPDATE message SET ` + set + `, updated_at = @now, claimed_by = NULL
		WHERE id = @id AND claims = @attempt AND (state = 'inflight') IS TRUE`
}

// report applies set, a SET clause with named parameters args, to message id
// if attempt still holds it. The fence is the state and the claim count,
// not the clock: a worker whose lease ran out may still report as long as
// nobody took the message over. The claim count, unlike attempts, is never
// reset (Requeue, Postpone), so an old claim can never match a new one.
func (s *Store) report(ctx context.Context, id int64, attempt int, set string, args pgx.NamedArgs) error {
	args["now"] = s.clock.now()
	args["id"] = id
	args["attempt"] = attempt
	changed, err := s.batch.update(ctx, reportQuery(set), args)
	if err != nil {
		return err
	}
	if !changed {
		return store.ErrLeaseLost
	}
	return nil
}
