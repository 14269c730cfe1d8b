package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Checkpoint returns the IMAP checkpoint of mailbox's folder, or zeros.
func (s *Store) Checkpoint(ctx context.Context, mailbox, folder string) (uidValidity, lastUID uint32, err error) {
	var uv, uid int64
	err = s.pool.QueryRow(ctx, `
		SELECT uid_validity, last_uid FROM imap_checkpoint
		WHERE mailbox = $1 AND folder = $2`, text(mailbox), text(folder)).Scan(&uv, &uid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, nil
	}
	return uint32(uv), uint32(uid), err
}

// SetCheckpoint records the IMAP checkpoint of mailbox's folder; it returns
// once the change is committed.
func (s *Store) SetCheckpoint(ctx context.Context, mailbox, folder string, uidValidity, lastUID uint32) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO imap_checkpoint (mailbox, folder, uid_validity, last_uid, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (mailbox, folder) DO UPDATE SET
			uid_validity = excluded.uid_validity,
			last_uid = excluded.last_uid,
			updated_at = excluded.updated_at`,
		text(mailbox), text(folder), int64(uidValidity), int64(lastUID), time.Now())
	return err
}
