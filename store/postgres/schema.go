package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lockSpace is the first key of mailbridge's advisory locks; the second
// names what is locked.
const lockSpace = 0x6d62 // "mb"

// migrations brings the schema from version i (the row in schema_version)
// to i+1. Append only: a released migration never changes.
var migrations = []string{
	// 1: the queue, IMAP checkpoints and thread links, as in the SQLite
	// store's first three versions. Unset times are NULL.
	`CREATE TABLE message (
		id              bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		subchannel_id   bigint  NOT NULL,
		external_id     text    NOT NULL,
		message_id      text    NOT NULL,
		subject         text    NOT NULL,
		from_addr       text    NOT NULL,
		state           text    NOT NULL
			CHECK (state IN ('queued', 'inflight', 'delivered', 'dead', 'dropped')),
		size            bigint  NOT NULL,
		attempts        integer NOT NULL DEFAULT 0,
		-- claims counts claims and is never reset: the fence of reports.
		claims          integer NOT NULL DEFAULT 0,
		uncertain       integer NOT NULL DEFAULT 0,
		last_error      text    NOT NULL DEFAULT '',
		ticket_id       bigint  NOT NULL DEFAULT 0,
		conversation_id bigint  NOT NULL DEFAULT 0,
		event_id        bigint  NOT NULL DEFAULT 0,
		origin          bytea,
		received_at     timestamptz NOT NULL,
		created_at      timestamptz NOT NULL,
		updated_at      timestamptz NOT NULL,
		next_attempt_at timestamptz NOT NULL,
		lease_until     timestamptz,
		delivered_at    timestamptz,
		-- The raw message, TOASTed out of line once it is over ~2 KB, so
		-- that claiming and listing read only the small row.
		raw             bytea   NOT NULL,
		-- The dedup record, and the thread map's index.
		UNIQUE (subchannel_id, external_id)
	);
	-- Claim walks this in order. It holds only the messages still to deliver,
	-- so it stays small however many delivered rows accumulate.
	CREATE INDEX message_pending ON message (next_attempt_at, id)
		WHERE state IN ('queued', 'inflight');
	-- Stats counts by state; List filters by it.
	CREATE INDEX message_state ON message (state);

	CREATE TABLE imap_checkpoint (
		mailbox      text        NOT NULL,
		folder       text        NOT NULL,
		uid_validity bigint      NOT NULL,
		last_uid     bigint      NOT NULL,
		updated_at   timestamptz NOT NULL,
		PRIMARY KEY (mailbox, folder)
	);

	CREATE TABLE thread_link (
		subchannel_id bigint      NOT NULL,
		message_id    text        NOT NULL,
		ticket_id     bigint      NOT NULL,
		created_at    timestamptz NOT NULL,
		PRIMARY KEY (subchannel_id, message_id)
	);`,
	// 2: leases, e.g. on IMAP folders: which instance polls one.
	`CREATE TABLE lease (
		name       text        PRIMARY KEY,
		holder     text        NOT NULL,
		expires_at timestamptz NOT NULL
	);`,
	// 3: content digests, as in the SQLite store's version 4. A message
	// with the key of another but different content is queued under a
	// derived external_id (key#variant) with the key in variant_of. The
	// columns need no rewrite of the table; the index reads it once.
	`ALTER TABLE message
		ADD COLUMN digest     bytea,
		ADD COLUMN variant    integer NOT NULL DEFAULT 1,
		ADD COLUMN variant_of text;
	CREATE INDEX message_variant ON message (subchannel_id, variant_of)
		WHERE variant_of IS NOT NULL;`,
	// 4: the instance that holds an inflight message's claim, so that
	// another instance can take over the claims of one that died (see
	// TakeOverDead) before their leases run out.
	`ALTER TABLE message ADD COLUMN claimed_by text;`,
	// 5: the ticket an attempt found deleted, as in the SQLite store's
	// version 5.
	`ALTER TABLE message ADD COLUMN gone_ticket_id bigint NOT NULL DEFAULT 0;
	UPDATE message SET gone_ticket_id = substring(last_error from '^ticket ([0-9]{1,18}) not found$')::bigint
		WHERE state IN ('queued', 'inflight') AND last_error ~ '^ticket [0-9]{1,18} not found$';`,
	// 6: the earliest a queued message may be attempted again whatever
	// Hasten says (a Retry-After); NULL: no such bound.
	`ALTER TABLE message ADD COLUMN not_before timestamptz;`,
	// 7: OAuth2 tokens, as in the SQLite store's version 7.
	`CREATE TABLE oauth_token (
		mailbox     text        PRIMARY KEY,
		version     bigint      NOT NULL,
		token       bytea,
		seed_hash   bytea,
		updated_at  timestamptz NOT NULL,
		lock_holder text        NOT NULL DEFAULT '',
		lock_until  timestamptz
	);`,
	// 8: the held state: a message kept back by policy until an operator
	// releases it.
	`ALTER TABLE message DROP CONSTRAINT message_state_check;
	ALTER TABLE message ADD CONSTRAINT message_state_check
		CHECK (state IN ('queued', 'inflight', 'delivered', 'dead', 'dropped', 'held'));`,
	// 9: the addresses seen on a ticket, which threading by subject or
	// plus address asks the sender to be one of.
	`CREATE TABLE thread_participant (
		subchannel_id bigint      NOT NULL,
		ticket_id     bigint      NOT NULL,
		address       text        NOT NULL,
		created_at    timestamptz NOT NULL,
		PRIMARY KEY (subchannel_id, ticket_id, address)
	);`,
	// 10: when an operator last released or requeued the message (NULL:
	// never); a postponed claim does not set it.
	`ALTER TABLE message ADD COLUMN released_at timestamptz;`,
	// 11: raw mail is compressed with lz4 rather than the default pglz, which
	// costs the database several times the CPU of lz4 per message (more
	// than the rest of an enqueue). A server built without lz4 (or older
	// than PostgreSQL 14) keeps pglz.
	`DO $$ BEGIN
		EXECUTE 'ALTER TABLE message ALTER COLUMN raw SET COMPRESSION lz4';
	EXCEPTION WHEN feature_not_supported OR syntax_error THEN
		NULL;
	END $$;`,
	// 12: Claim walks the pending messages by the time they are due (dueAt
	// in queue.go). A message under lease is due when its lease runs out,
	// so a claim does not pass over the messages under lease, which
	// message_pending kept at the head of the queue. The predicate's
	// next_attempt_at IS NOT NULL (always true) keeps the index to the
	// queries that say it (Claim): the reports' lookup by id and state
	// would otherwise qualify for it, and a planner without statistics
	// walks all of it rather than the primary key.
	`CREATE INDEX message_due ON message
		((CASE WHEN state = 'inflight' THEN lease_until ELSE next_attempt_at END), id)
		WHERE state IN ('queued', 'inflight') AND next_attempt_at IS NOT NULL;
	DROP INDEX IF EXISTS message_pending;`,
	// 13: indexes by state that take an entry only when a message enters
	// the states they hold, instead of message_state, which took one at
	// every enqueue, claim and report. TakeOverDead walks the announced
	// claims by the end of their leases; List walks the dead, held and
	// dropped messages by id (and the others by the primary key, newest
	// first, where the pending and the delivered ones are).
	`CREATE INDEX message_claimed ON message (lease_until)
		WHERE state = 'inflight' AND claimed_by IS NOT NULL;
	CREATE INDEX message_parked ON message (id)
		WHERE state IN ('dead', 'held', 'dropped');
	DROP INDEX IF EXISTS message_state;`,
	// 14: the delivered messages whose raw bytes Prune has yet to remove,
	// by the time of delivery; a message leaves it when pruned.
	`CREATE INDEX message_prunable ON message (delivered_at)
		WHERE state = 'delivered' AND raw <> '';`,
}

// migrate applies the migrations the schema has not seen yet, all in one
// transaction, so that a failure leaves the schema as it was. Instances
// starting together take an advisory lock on the schema first: the first
// migrates, the others wait and then find nothing to do.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var schema *string
		if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return err
		}
		if schema == nil {
			return errors.New("no schema to create the tables in: no schema of the search_path exists")
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, lockSpace, *schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)`); err != nil {
			return err
		}
		var version int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&version); err != nil {
			return err
		}
		switch {
		case version == len(migrations):
			return nil
		case version > len(migrations):
			return fmt.Errorf("database schema %s is at version %d, newer than this program's (%d)",
				*schema, version, len(migrations))
		}
		for i := version; i < len(migrations); i++ {
			if _, err := tx.Exec(ctx, migrations[i]); err != nil {
				return fmt.Errorf("migrating schema %s to version %d: %w", *schema, i+1, err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM schema_version`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, len(migrations))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}
