package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/enneo/mailbridge/store"
)

var _ store.Checkpoints = (*Store)(nil)

// Checkpoint returns the IMAP checkpoint of mailbox's folder, or zeros.
func (s *Store) Checkpoint(ctx context.Context, mailbox, folder string) (uidValidity, lastUID uint32, err error) {
	err = s.r.QueryRowContext(ctx, `
		SELECT uid_validity, last_uid FROM imap_checkpoint
		WHERE mailbox = ? AND folder = ?`, mailbox, folder).Scan(&uidValidity, &lastUID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	return uidValidity, lastUID, err
}

// SetCheckpoint records the IMAP checkpoint of mailbox's folder; it returns
// once the change is on disk.
func (s *Store) SetCheckpoint(ctx context.Context, mailbox, folder string, uidValidity, lastUID uint32) error {
	return s.write(ctx, func(tx wtx) error {
		_, err := tx.exec(`
			INSERT INTO imap_checkpoint (mailbox, folder, uid_validity, last_uid, updated_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (mailbox, folder) DO UPDATE SET
				uid_validity = excluded.uid_validity,
				last_uid = excluded.last_uid,
				updated_at = excluded.updated_at`,
			mailbox, folder, int64(uidValidity), int64(lastUID), unixMilli(time.Now()))
		return err
	})
}
