package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/enneo/mailbridge/store"
)

var _ store.OAuthTokens = (*Store)(nil)

// OAuthToken returns mailbox's stored token, Version 0 if none.
func (s *Store) OAuthToken(ctx context.Context, mailbox string) (store.OAuthToken, error) {
	return scanOAuthToken(s.r.QueryRowContext(ctx, `
		SELECT version, token, seed_hash, updated_at FROM oauth_token WHERE mailbox = ?`, mailbox))
}

func scanOAuthToken(row *sql.Row) (store.OAuthToken, error) {
	var t store.OAuthToken
	var updated int64
	err := row.Scan(&t.Version, &t.Token, &t.SeedHash, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return store.OAuthToken{}, nil
	}
	if updated != 0 {
		t.UpdatedAt = time.UnixMilli(updated)
	}
	return t, err
}

// LockOAuthToken takes or renews holder's refresh lock on mailbox's token.
func (s *Store) LockOAuthToken(ctx context.Context, mailbox, holder string, ttl time.Duration) (store.OAuthToken, bool, error) {
	var t store.OAuthToken
	var locked bool
	err := s.write(ctx, func(tx wtx) error {
		now := time.Now()
		res, err := tx.exec(`
			INSERT INTO oauth_token (mailbox, version, updated_at, lock_holder, lock_until)
			VALUES (?, 0, ?, ?, ?)
			ON CONFLICT (mailbox) DO UPDATE SET
				lock_holder = excluded.lock_holder,
				lock_until = excluded.lock_until
			WHERE lock_holder = '' OR lock_holder = excluded.lock_holder OR lock_until <= ?`,
			mailbox, unixMilli(now), holder, unixMilli(now.Add(ttl)), unixMilli(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		locked = n == 1
		t, err = scanOAuthToken(tx.queryRow(`
			SELECT version, token, seed_hash, updated_at FROM oauth_token WHERE mailbox = ?`, mailbox))
		return err
	})
	return t, locked, err
}

// PutOAuthToken stores a new token if the stored version is still version.
func (s *Store) PutOAuthToken(ctx context.Context, mailbox string, version int64, token, seedHash []byte, holder string) (bool, error) {
	var stored bool
	err := s.write(ctx, func(tx wtx) error {
		now := unixMilli(time.Now())
		if version == 0 {
			// The row may exist already, made by a lock, still without a
			// token.
			if _, err := tx.exec(`
				INSERT INTO oauth_token (mailbox, version, updated_at) VALUES (?, 0, ?)
				ON CONFLICT (mailbox) DO NOTHING`, mailbox, now); err != nil {
				return err
			}
		}
		res, err := tx.exec(`
			UPDATE oauth_token SET
				version = version + 1,
				token = ?,
				seed_hash = ?,
				updated_at = ?,
				lock_holder = iif(lock_holder = ?, '', lock_holder),
				lock_until = iif(lock_holder = ?, 0, lock_until)
			WHERE mailbox = ? AND version = ?`,
			token, seedHash, now, holder, holder, mailbox, version)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		stored = n == 1
		return err
	})
	return stored, err
}

// UnlockOAuthToken releases holder's refresh lock on mailbox's token.
func (s *Store) UnlockOAuthToken(ctx context.Context, mailbox, holder string) error {
	return s.write(ctx, func(tx wtx) error {
		_, err := tx.exec(`
			UPDATE oauth_token SET lock_holder = '', lock_until = 0
			WHERE mailbox = ? AND lock_holder = ?`, mailbox, holder)
		return err
	})
}
