package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// migrations brings the schema from version i (PRAGMA user_version) to i+1.
// Append only: a released migration never changes.
var migrations = []string{
	// 1: the queue. Times are unix milliseconds, 0 for unset.
	`CREATE TABLE message (
		id              INTEGER PRIMARY KEY,
		subchannel_id   INTEGER NOT NULL,
		external_id     TEXT    NOT NULL,
		message_id      TEXT    NOT NULL,
		subject         TEXT    NOT NULL,
		from_addr       TEXT    NOT NULL,
		state           TEXT    NOT NULL
			CHECK (state IN ('queued', 'inflight', 'delivered', 'dead', 'dropped')),
		size            INTEGER NOT NULL,
		attempts        INTEGER NOT NULL DEFAULT 0,
		-- claims counts claims and is never reset: the fence of reports.
		claims          INTEGER NOT NULL DEFAULT 0,
		uncertain       INTEGER NOT NULL DEFAULT 0,
		last_error      TEXT    NOT NULL DEFAULT '',
		ticket_id       INTEGER NOT NULL DEFAULT 0,
		conversation_id INTEGER NOT NULL DEFAULT 0,
		event_id        INTEGER NOT NULL DEFAULT 0,
		origin          BLOB,
		received_at     INTEGER NOT NULL,
		created_at      INTEGER NOT NULL,
		updated_at      INTEGER NOT NULL,
		next_attempt_at INTEGER NOT NULL,
		lease_until     INTEGER NOT NULL DEFAULT 0,
		delivered_at    INTEGER NOT NULL DEFAULT 0,
		UNIQUE (subchannel_id, external_id)
	) STRICT;

	CREATE TABLE message_raw (
		id  INTEGER PRIMARY KEY REFERENCES message (id) ON DELETE CASCADE,
		raw BLOB NOT NULL
	) STRICT;

	-- Claim walks this in order. It holds only the messages still to deliver,
	-- so it stays small however many delivered rows accumulate.
	CREATE INDEX message_pending ON message (next_attempt_at)
		WHERE state IN ('queued', 'inflight');

	-- Stats counts by state; List filters by it.
	CREATE INDEX message_state ON message (state);`,

	// 2: IMAP checkpoints, one row per mailbox folder.
	`CREATE TABLE imap_checkpoint (
		mailbox      TEXT    NOT NULL,
		folder       TEXT    NOT NULL,
		uid_validity INTEGER NOT NULL,
		last_uid     INTEGER NOT NULL,
		updated_at   INTEGER NOT NULL,
		PRIMARY KEY (mailbox, folder)
	) STRICT;`,

	// 3: thread links: Message-IDs whose ticket the API's search found,
	// for mails mailbridge did not deliver itself (another instance's
	// lost store, a ticket opened elsewhere).
	`CREATE TABLE thread_link (
		subchannel_id INTEGER NOT NULL,
		message_id    TEXT    NOT NULL,
		ticket_id     INTEGER NOT NULL,
		created_at    INTEGER NOT NULL,
		PRIMARY KEY (subchannel_id, message_id)
	) STRICT;`,

	// 4: content digests. A message with the key of another but different
	// content is queued under a derived external_id (key#variant) with the
	// key in variant_of; the message queued under the key itself has
	// variant 1 and no variant_of. Rows from before have no digest.
	`ALTER TABLE message ADD COLUMN digest BLOB;
	ALTER TABLE message ADD COLUMN variant INTEGER NOT NULL DEFAULT 1;
	ALTER TABLE message ADD COLUMN variant_of TEXT;

	-- Finds the variants of a key; holds only them, so it stays tiny.
	CREATE INDEX message_variant ON message (subchannel_id, variant_of)
		WHERE variant_of IS NOT NULL;`,
	// 5: the ticket an attempt found deleted, which the next attempts
	// avoid and the payload names. It used to be read back from the last
	// error ("ticket N not found"), which is where a queued message of an
	// older version still has it.
	`ALTER TABLE message ADD COLUMN gone_ticket_id INTEGER NOT NULL DEFAULT 0;
	UPDATE message SET gone_ticket_id = CAST(substr(last_error, 8, length(last_error) - 17) AS INTEGER)
		WHERE state IN ('queued', 'inflight') AND last_error GLOB 'ticket [0-9]* not found'
			AND substr(last_error, 8, length(last_error) - 17) NOT GLOB '*[^0-9]*';`,
	// 6: the earliest a queued message may be attempted again whatever
	// Hasten says (a Retry-After), unix ms; 0: no such bound.
	`ALTER TABLE message ADD COLUMN not_before INTEGER NOT NULL DEFAULT 0;`,

	// 7: OAuth2 tokens, one row per mailbox, sealed by the caller. Every
	// write moves version on; lock_holder holds the refresh lock until
	// lock_until (unix ms).
	`CREATE TABLE oauth_token (
		mailbox     TEXT    PRIMARY KEY,
		version     INTEGER NOT NULL,
		token       BLOB,
		seed_hash   BLOB,
		updated_at  INTEGER NOT NULL,
		lock_holder TEXT    NOT NULL DEFAULT '',
		lock_until  INTEGER NOT NULL DEFAULT 0
	) STRICT;`,

	// 8: the held state: a message kept back by policy until an operator
	// releases it. SQLite cannot alter a CHECK constraint; widening one
	// changes nothing on disk, which is what writable_schema is safe for
	// (sqlite.org/lang_altertable.html, section 7). The index, DDL, makes
	// every connection read the schema again.
	`PRAGMA writable_schema = ON;
	UPDATE sqlite_schema
		SET sql = replace(sql, '''dead'', ''dropped'')', '''dead'', ''dropped'', ''held'')')
		WHERE type = 'table' AND name = 'message';
	PRAGMA writable_schema = RESET;
	CREATE INDEX message_held ON message (id) WHERE state = 'held';`,

	// 9: the addresses seen on a ticket, which threading by subject or
	// plus address asks the sender to be one of.
	`CREATE TABLE thread_participant (
		subchannel_id INTEGER NOT NULL,
		ticket_id     INTEGER NOT NULL,
		address       TEXT    NOT NULL,
		created_at    INTEGER NOT NULL,
		PRIMARY KEY (subchannel_id, ticket_id, address)
	) STRICT, WITHOUT ROWID;`,

	// 10: when an operator last released or requeued the message (unix
	// ms, 0: never); a postponed claim does not set it.
	`ALTER TABLE message ADD COLUMN released_at INTEGER NOT NULL DEFAULT 0;`,

	// 11: raw messages kept in spool files (spool.go). file names the
	// message's file in the spool directory, and raw is then empty; NULL:
	// raw holds the message. The index, of the spooled rows only, is what
	// the sweep reads.
	`ALTER TABLE message_raw ADD COLUMN file TEXT;
	CREATE INDEX message_raw_file ON message_raw (file) WHERE file IS NOT NULL;`,

	// 12: pruned is 1 once Prune removed a delivered message's raw bytes
	// (its message_raw row). The index holds the delivered messages that
	// still have them, by the time of delivery, which Prune walks.
	`ALTER TABLE message ADD COLUMN pruned INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX message_prunable ON message (delivered_at)
		WHERE state = 'delivered' AND pruned = 0;`,
}

// heldVersion is the schema version that adds the held state by
// rewriting the message table's CHECK text.
const heldVersion = 8

// checkHeldState makes sure the rewrite found the text it replaces: a
// table whose CHECK was written otherwise would refuse every hold.
func checkHeldState(ctx context.Context, tx *sql.Tx) error {
	var ddl string
	if err := tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'message'`).Scan(&ddl); err != nil {
		return err
	}
	if !strings.Contains(ddl, "'dropped', 'held')") {
		return fmt.Errorf("sqlite: migrating schema to version %d: the message table's state CHECK is not the expected one, 'held' could not be added: %s", heldVersion, ddl)
	}
	return nil
}

// migrate applies the migrations the database has not seen yet, all in one
// transaction, so that a failure leaves the schema as it was.
func migrate(ctx context.Context, db *sql.DB) error {
	return transact(ctx, db, func(tx *sql.Tx) error {
		var version int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
			return err
		}
		switch {
		case version == len(migrations):
			return nil
		case version > len(migrations):
			return fmt.Errorf("sqlite: database schema version %d is newer than this program's (%d)",
				version, len(migrations))
		}
		for i := version; i < len(migrations); i++ {
			if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
				return fmt.Errorf("sqlite: migrating schema to version %d: %w", i+1, err)
			}
			if i+1 == heldVersion {
				if err := checkHeldState(ctx, tx); err != nil {
					return err
				}
			}
		}
		// PRAGMA takes no parameters, hence Sprintf.
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations)))
		return err
	})
}
