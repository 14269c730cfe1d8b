package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/internal/sqlrow"
)

// Enqueue commits m, or finds the message already queued under its
// (SubchannelID, ExternalID) with its content and leaves it alone.
func (s *Store) Enqueue(ctx context.Context, m store.NewMessage) (store.EnqueueResult, error) {
	if len(m.Raw) > spoolAbove {
		return s.enqueueSpooled(ctx, m)
	}
	var res store.EnqueueResult
	err := s.write(ctx, func(tx wtx) error {
		var err error
		res, err = enqueue(tx, m, "")
		return err
	})
	if err != nil {
		return store.EnqueueResult{}, err
	}
	return res, nil
}

// enqueueSpooled is Enqueue for a message whose raw bytes go to a spool
// file: the file is on disk before the transaction naming it commits.
func (s *Store) enqueueSpooled(ctx context.Context, m store.NewMessage) (store.EnqueueResult, error) {
	s.spool.mu.RLock()
	defer s.spool.mu.RUnlock()
	file, err := s.spool.put(m.Raw)
	if err != nil {
		return store.EnqueueResult{}, err
	}
	var res store.EnqueueResult
	named := false // a row names file, if the transaction commits
	err = s.c.writeSpooled(ctx, func(tx wtx) error {
		var err error
		res, err = enqueue(tx, m, file)
		named = err == nil && !res.Duplicate
		return err
	})
	// No row names the file of a duplicate, or of a write that failed
	// before its row was in. Where the commit failed after that, most
	// likely none does either, but the sweep, which reads the rows, is
	// the one to know.
	if err == nil && res.Duplicate || err != nil && !named {
		s.spool.remove(file) // a file left behind is the sweep's
	}
	if err != nil {
		return store.EnqueueResult{}, err
	}
	return res, nil
}

// kinQuery selects the messages already under a key.
var kinQuery = sqlrow.KinQuery(":")

// enqueue inserts m under its key, or if that is taken, decides whether m
// is a duplicate or a different mail (sqlrow.Decide). The committer
// serialises writes, so the decision stands until the transaction
// commits; a derived id found taken belongs to another key's message.
//
// file names the spool file holding m's raw bytes, "" for none.
//
// A new row is claimed if m asks for it (store.NewMessage.Claim), and the
// result carries its claim, which holds once the transaction commits.
func enqueue(tx wtx, m store.NewMessage, file string) (store.EnqueueResult, error) {
	now := time.UnixMilli(time.Now().UnixMilli()) // as stored
	res, err := enqueueRow(tx, m, file, now)
	if err == nil && !res.Duplicate && m.Claim != nil {
		res.State = store.Inflight
		res.Claim = m.Claimed(res.ID, res.ExternalID, now)
	}
	return res, err
}

// enqueueRow is enqueue without the claim in its result; a new row is
// stamped with now.
func enqueueRow(tx wtx, m store.NewMessage, file string, now time.Time) (store.EnqueueResult, error) {
	res := store.EnqueueResult{ExternalID: m.ExternalID, State: store.Queued}
	id, ok, err := insert(tx, m, file, m.ExternalID, 1, nil, now)
	if err != nil || ok {
		res.ID = id
		return res, err
	}
	for floor := 0; ; {
		rows, err := tx.query(kinQuery, sql.Named("subchannel", m.SubchannelID), sql.Named("key", m.ExternalID))
		if err != nil {
			return res, err
		}
		kin, err := sqlrow.ScanKin(rows)
		rows.Close()
		if err != nil {
			return res, err
		}
		dec, n, err := sqlrow.Decide(kin, m.Digest, floor)
		if err != nil || dec.Duplicate {
			return dec, err
		}
		if n == sqlrow.Overflow {
			return enqueueOverflow(tx, m, file, dec, now)
		}
		ext := store.VariantID(m.ExternalID, n)
		id, ok, err := insert(tx, m, file, ext, n, m.ExternalID, now)
		if err != nil || ok {
			dec.ID, dec.ExternalID, dec.State = id, ext, store.Queued
			return dec, err
		}
		floor = n + 1
	}
}

// enqueueOverflow queues m under store.OverflowID, or finds its earlier
// copy there: the id is its digest's, so what holds it is that content.
func enqueueOverflow(tx wtx, m store.NewMessage, file string, dec store.EnqueueResult, now time.Time) (store.EnqueueResult, error) {
	ext := store.OverflowID(m.ExternalID, m.Digest)
	id, ok, err := insert(tx, m, file, ext, 0, nil, now)
	if err != nil || ok {
		dec.ID, dec.ExternalID, dec.State = id, ext, store.Queued
		return dec, err
	}
	rows, err := tx.query(kinQuery, sql.Named("subchannel", m.SubchannelID), sql.Named("key", ext))
	if err != nil {
		return dec, err
	}
	kin, err := sqlrow.ScanKin(rows)
	rows.Close()
	if err != nil {
		return dec, err
	}
	return sqlrow.OverflowDuplicate(kin, m.Digest, ext, dec.FirstID)
}

// insert queues m under externalID as variant n of key variantOf (nil for
// the message under the key itself), its raw bytes in the spool file file
// if that is not "", stamped with created. ok is false if externalID is
// taken.
func insert(tx wtx, m store.NewMessage, file, externalID string, n int, variantOf any, created time.Time) (id int64, ok bool, err error) {
	now := unixMilli(created)
	// Queued, or claimed as Claim would leave it (NewMessage.Claim).
	state, leaseUntil, attempts := store.Queued, int64(0), 0
	if r := m.Claim; r != nil {
		state, leaseUntil, attempts = store.Inflight, unixMilli(r.Now.Add(r.Lease)), 1
	}
	// An exec, not INSERT ... RETURNING: the statement's result says
	// whether the row went in and its id, without a result set to read.
	res, err := tx.exec(`
		INSERT INTO message (subchannel_id, external_id, message_id, subject, from_addr,
			state, size, ticket_id, origin, digest, variant, variant_of,
			received_at, created_at, updated_at, next_attempt_at,
			lease_until, attempts, claims)
		VALUES (:subchannel, :external, :message_id, :subject, :from,
			:state, :size, :ticket, :origin, :digest, :variant, :variant_of,
			:received, :now, :now, :now,
			:lease_until, :attempts, :attempts)
		ON CONFLICT (subchannel_id, external_id) DO NOTHING`,
		sql.Named("state", string(state)),
		sql.Named("lease_until", leaseUntil),
		sql.Named("attempts", attempts),
		sql.Named("subchannel", m.SubchannelID),
		sql.Named("external", externalID),
		sql.Named("message_id", m.MessageID),
		sql.Named("subject", m.Subject),
		sql.Named("from", m.From),
		sql.Named("size", len(m.Raw)),
		sql.Named("ticket", m.TicketID),
		sql.Named("origin", m.Origin),
		sql.Named("digest", digest(m.Digest)),
		sql.Named("variant", n),
		sql.Named("variant_of", variantOf),
		sql.Named("received", unixMilli(m.ReceivedAt)),
		sql.Named("now", now),
	)
	if err != nil {
		return 0, false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return 0, false, err // n == 0: the key is taken
	}
	if id, err = res.LastInsertId(); err != nil {
		return 0, false, err
	}
	if file != "" {
		_, err = tx.exec(`INSERT INTO message_raw (id, raw, file) VALUES (?, x'', ?)`, id, file)
		return id, err == nil, err
	}
	// A nil Raw would bind as NULL.
	_, err = tx.exec(`INSERT INTO message_raw (id, raw) VALUES (?, coalesce(?, x''))`, id, m.Raw)
	return id, err == nil, err
}

// digest binds an empty digest as NULL, the unknown one.
func digest(d []byte) any {
	if len(d) == 0 {
		return nil
	}
	return d
}

// Claim leases up to limit due messages. Claims are writes like any other,
// serialised by the committer, so no two can pick the same row.
func (s *Store) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Claim, error) {
	return s.ClaimHeld(ctx, now, lease, limit, nil)
}

// ClaimHeld is Claim for a caller that still holds the raw bytes of some
// queued messages, those it enqueued itself: a claim for which held(id)
// is true comes without Raw, which is then not read back from the
// database or the spool. held runs inside the write transaction, which
// other writes wait for, so it must be quick; nil holds nothing.
//
// A message whose raw bytes cannot be read is not handed out (see
// readClaims). When that leaves a round of claims empty, Claim claims
// again, until it has something to hand out, nothing new is due, or
// claimRounds rounds found nothing readable.
func (s *Store) ClaimHeld(ctx context.Context, now time.Time, lease time.Duration, limit int, held func(id int64) bool) ([]store.Claim, error) {
	if limit <= 0 {
		return nil, nil // to SQLite, a negative LIMIT means none
	}
	var tried map[int64]bool // the unreadable ones, which may come due again
	for round := 1; ; round++ {
		claims, files, err := s.claimDue(ctx, now, lease, limit, held)
		if err != nil || len(claims) == 0 {
			return nil, err
		}
		// The spool files are read after the commit, outside the
		// committer, which other writes wait for.
		if kept := s.readClaims(ctx, claims, files); len(kept) > 0 {
			return kept, nil
		}
		if tried == nil {
			tried = make(map[int64]bool)
		}
		fresh := false
		for _, c := range claims {
			fresh = fresh || !tried[c.ID]
			tried[c.ID] = true
		}
		if !fresh || round == claimRounds {
			return nil, nil
		}
	}
}

// claimRounds bounds the rounds of one Claim that find nothing readable: a
// spool that cannot be read at all (its disk gone, its permissions wrong)
// would otherwise have one call walk the whole backlog, holding the
// committer for a write per message, where the next poll goes on.
const claimRounds = 4

// claimDue leases up to limit due messages; files[i] names the spool file
// of claims[i] whose raw bytes are there, "" for none. The claims past
// store.ClaimRaw come without Raw, and name no file.
func (s *Store) claimDue(ctx context.Context, now time.Time, lease time.Duration, limit int, held func(id int64) bool) (claims []store.Claim, files []string, err error) {
	err = s.write(ctx, func(tx wtx) error {
		claims, files = claims[:0], files[:0]
		due, err := dueMessages(tx, now, limit)
		if err != nil || len(due) == 0 {
			return err
		}
		claims, err = claimAll(tx, due, now.Add(lease))
		if err != nil {
			return err
		}
		var size int64 // of the claims so far (store.ClaimRaw)
		for i := range claims {
			var file string
			size += claims[i].Size
			switch {
			case held != nil && held(claims[i].ID):
			case i > 0 && size > store.ClaimRaw:
			default:
				if file, err = readRaw(tx, &claims[i]); err != nil {
					return err
				}
			}
			files = append(files, file)
		}
		return nil
	})
	return claims, files, err
}

// readClaims reads the raw bytes of the claims whose files[i] names a
// spool file. A claim whose file cannot be read is not handed out: lost
// raw bytes bury the message, since no attempt could deliver it, and
// another failure puts it back in the queue for a minute. Either is
// logged with the message's ids.
func (s *Store) readClaims(ctx context.Context, claims []store.Claim, files []string) []store.Claim {
	kept := claims[:0]
	for i, c := range claims {
		if files[i] == "" {
			kept = append(kept, c)
			continue
		}
		raw, err := s.spool.get(files[i], c.Size)
		if err == nil {
			c.Raw = raw
			kept = append(kept, c)
			continue
		}
		s.unreadable(ctx, c, err)
	}
	return kept
}

// rawRetry is how long a message whose spool file could not be read (but
// is not lost) waits before the next claim tries again.
const rawRetry = time.Minute

// unreadable takes back claim c, whose raw bytes could not be read (err).
func (s *Store) unreadable(ctx context.Context, c store.Claim, err error) {
	log := s.log.With("message_id", c.ExternalID, "subchannel", c.SubchannelID, "queue_id", c.ID)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var rerr error
	if errors.Is(err, errRawLost) {
		log.Error("message dead-lettered: its raw bytes are lost", "err", err)
		rerr = s.Bury(ctx, c.ID, c.Attempt, err.Error())
	} else {
		log.Error("message back in the queue: its raw bytes could not be read", "err", err, "retry_in", rawRetry)
		rerr = s.report(ctx, c.ID, c.Attempt, `
			state = 'queued', lease_until = 0, last_error = :error, attempts = attempts - 1,
			next_attempt_at = max(next_attempt_at, :at)`,
			sql.Named("error", err.Error()),
			sql.Named("at", unixMilli(time.Now().Add(rawRetry))),
		)
	}
	if rerr != nil {
		log.Error("could not record that the message's raw bytes are unreadable; the claim runs out with its lease", "err", rerr)
	}
}

// dueQuery selects up to :limit claimable messages, oldest first.
//
// An inflight message's lease_until is past its next_attempt_at (Claim only
// takes messages that are due and leases them into the future), so an
// expired lease implies next_attempt_at <= now too. That redundant bound lets
// the query walk message_pending in order and stop after limit rows,
// instead of sorting every due message when the queue is backed up. Left to
// itself, the planner prefers message_state and a sort.
const dueQuery = `
	SELECT id, state FROM message INDEXED BY message_pending
	WHERE state IN ('queued', 'inflight') AND next_attempt_at <= :now
		AND (state = 'queued' OR lease_until <= :now)
	ORDER BY next_attempt_at, id
	LIMIT :limit`

type dueMessage struct {
	id    int64
	state store.State
}

// dueMessages returns up to limit claimable messages, oldest first.
func dueMessages(tx wtx, now time.Time, limit int) ([]dueMessage, error) {
	rows, err := tx.query(dueQuery,
		sql.Named("now", unixMilli(now)),
		sql.Named("limit", limit),
	)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var due []dueMessage
	for rows.Next() {
		var d dueMessage
		if err := rows.Scan(&d.id, &d.state); err != nil {
			return nil, err
		}
		due = append(due, d)
	}
	return due, rows.Err()
}

// claimQuery leases the messages whose ids are the JSON array :ids: one
// statement for the claim's messages, not one each.
const claimQuery = `
	UPDATE message SET
		state = 'inflight',
		lease_until = :lease_until,
		attempts = attempts + 1,
		claims = claims + 1,
		uncertain = uncertain + (state = 'inflight'),
		updated_at = :now
	WHERE id IN (SELECT value FROM json_each(:ids))
	RETURNING ` + messageColumns + `, claims`

// claimAll leases the due messages until leaseUntil and counts an attempt
// on each; the claims are in due's order. Taking over an inflight message
// means its previous attempt never reported: that attempt is uncertain.
func claimAll(tx wtx, due []dueMessage, leaseUntil time.Time) ([]store.Claim, error) {
	ids := make([]byte, 0, 16*len(due))
	order := make(map[int64]int, len(due))
	ids = append(ids, '[')
	for i, d := range due {
		if i > 0 {
			ids = append(ids, ',')
		}
		ids = strconv.AppendInt(ids, d.id, 10)
		order[d.id] = i
	}
	ids = append(ids, ']')
	rows, err := tx.query(claimQuery,
		sql.Named("lease_until", unixMilli(leaseUntil)),
		sql.Named("now", unixMilli(time.Now())),
		sql.Named("ids", string(ids)),
	)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	claims := make([]store.Claim, len(due))
	n := 0
	for rows.Next() {
		var c store.Claim
		m, err := scanMessage(rows, &c.Attempt)
		if err != nil {
			return nil, err
		}
		i, ok := order[m.ID]
		if !ok {
			return nil, fmt.Errorf("sqlite: claim returned message %d, which was not due", m.ID)
		}
		c.Message = m
		c.Reclaimed = due[i].state == store.Inflight
		claims[i] = c
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if n != len(due) {
		// The committer serialises writes: a due row cannot vanish.
		return nil, fmt.Errorf("sqlite: claimed %d of %d due messages", n, len(due))
	}
	return claims, nil
}

// readRaw reads the raw bytes of claim c into it, unless they are in a
// spool file, which it names; then c.Raw is empty.
func readRaw(tx wtx, c *store.Claim) (file string, err error) {
	var f sql.NullString
	err = tx.queryRow(`SELECT raw, file FROM message_raw WHERE id = ?`, c.ID).Scan(&c.Raw, &f)
	return f.String, err
}

// Complete marks a claimed message delivered with the API's answer.
func (s *Store) Complete(ctx context.Context, id int64, attempt int, o store.Outcome) error {
	return s.report(ctx, id, attempt, completeSet, completeArgs(o)...)
}

// CompleteWithParticipants is Complete and AddParticipants(subchannelID,
// ticketID, addresses) in one write: a delivery records the addresses of
// its mail with its outcome instead of in a transaction of their own. The
// addresses are recorded even when the claim was lost (ErrLeaseLost):
// they are the ticket's whoever delivers the mail.
func (s *Store) CompleteWithParticipants(ctx context.Context, id int64, attempt int, o store.Outcome, subchannelID int, ticketID int64, addresses []string) error {
	lost := false
	err := s.write(ctx, func(tx wtx) error {
		if err := addParticipants(tx, subchannelID, ticketID, addresses); err != nil {
			return err
		}
		var err error
		lost, err = reportTx(tx, id, attempt, completeSet, completeArgs(o)...)
		return err
	})
	if err == nil && lost {
		return store.ErrLeaseLost
	}
	return err
}

const completeSet = `
		state = 'delivered', lease_until = 0, delivered_at = :now, last_error = '',
		ticket_id = :ticket, conversation_id = :conversation, event_id = :event`

func completeArgs(o store.Outcome) []any {
	return []any{
		sql.Named("ticket", o.TicketID),
		sql.Named("conversation", o.ConversationID),
		sql.Named("event", o.EventID),
	}
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
	return s.report(ctx, id, attempt, `
		state = 'queued', lease_until = 0, next_attempt_at = :at, last_error = :error,
		uncertain = uncertain + :uncertain, attempts = attempts - :uncount, ticket_id = :ticket,
		gone_ticket_id = :gone, not_before = :not_before`,
		sql.Named("at", unixMilli(f.At)),
		sql.Named("error", f.Error),
		sql.Named("uncertain", f.Uncertain),
		sql.Named("uncount", uncount),
		sql.Named("ticket", f.TicketID),
		sql.Named("gone", f.GoneTicketID),
		sql.Named("not_before", unixMilli(f.NotBefore)),
	)
}

// Bury moves a claimed message to the dead-letter state.
func (s *Store) Bury(ctx context.Context, id int64, attempt int, lastErr string) error {
	return s.report(ctx, id, attempt, `state = 'dead', lease_until = 0, last_error = :error`,
		sql.Named("error", lastErr))
}

// Hold moves a claimed message to the held state; the attempt does not
// count.
func (s *Store) Hold(ctx context.Context, id int64, attempt int, reason string) error {
	return s.report(ctx, id, attempt, `state = 'held', lease_until = 0, last_error = :error, attempts = attempts - 1`,
		sql.Named("error", reason))
}

// Discard moves a claimed message to the dropped state.
func (s *Store) Discard(ctx context.Context, id int64, attempt int, reason string) error {
	return s.report(ctx, id, attempt, `state = 'dropped', lease_until = 0, last_error = :error`,
		sql.Named("error", reason))
}

// report applies set, a SET clause with named parameters args, to message id
// if attempt still holds it. The fence is the state and the claim count,
// not the clock: a worker whose lease ran out may still report as long as
// nobody took the message over. The claim count, unlike attempts, is never
// reset (Requeue, Postpone), so an old claim can never match a new one.
func (s *Store) report(ctx context.Context, id int64, attempt int, set string, args ...any) error {
	return s.write(ctx, func(tx wtx) error {
		lost, err := reportTx(tx, id, attempt, set, args...)
		if err == nil && lost {
			return store.ErrLeaseLost
		}
		return err
	})
}

// reportTx is report in transaction tx; lost says attempt no longer holds
// the message, which is then left alone.
func reportTx(tx wtx, id int64, attempt int, set string, args ...any) (lost bool, err error) {
	res, err := tx.exec(`
		UPDATE message SET `+set+`, updated_at = :now
		WHERE id = :id AND state = 'inflight' AND claims = :attempt`,
		append(args,
			sql.Named("now", unixMilli(time.Now())),
			sql.Named("id", id),
			sql.Named("attempt", attempt),
		)...,
	)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 0, nil
}
