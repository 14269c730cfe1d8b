package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enneo/mailbridge/store"
)

var _ store.OAuthTokens = (*Store)(nil)

// OAuthToken returns mailbox's stored token, Version 0 if none.
func (s *Store) OAuthToken(ctx context.Context, mailbox string) (store.OAuthToken, error) {
	return scanOAuthToken(s.pool.QueryRow(ctx, `
		SELECT version, token, seed_hash, updated_at FROM oauth_token WHERE mailbox = $1`, text(mailbox)))
}

func scanOAuthToken(row pgx.Row) (store.OAuthToken, error) {
	var t store.OAuthToken
	err := row.Scan(&t.Version, &t.Token, &t.SeedHash, &t.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.OAuthToken{}, nil
	}
	return t, err
}

// LockOAuthToken takes or renews holder's refresh lock on mailbox's token.
// Expiry is by the database's clock, as for leases.
func (s *Store) LockOAuthToken(ctx context.Context, mailbox, holder string, ttl time.Duration) (store.OAuthToken, bool, error) {
	var t store.OAuthToken
	var locked bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO oauth_token (mailbox, version, updated_at, lock_holder, lock_until)
			VALUES ($1, 0, clock_timestamp(), $2, clock_timestamp() + $3 * interval '1 millisecond')
			ON CONFLICT (mailbox) DO UPDATE SET
				lock_holder = excluded.lock_holder,
				lock_until = excluded.lock_until
			WHERE oauth_token.lock_holder = '' OR oauth_token.lock_holder = excluded.lock_holder
				OR oauth_token.lock_until <= clock_timestamp()`,
			text(mailbox), text(holder), ttl.Milliseconds())
		if err != nil {
			return err
		}
		locked = tag.RowsAffected() == 1
		t, err = scanOAuthToken(tx.QueryRow(ctx, `
			SELECT version, token, seed_hash, updated_at FROM oauth_token WHERE mailbox = $1`, text(mailbox)))
		return err
	})
	return t, locked, err
}

// PutOAuthToken stores a new token if the stored version is still version.
func (s *Store) PutOAuthToken(ctx context.Context, mailbox string, version int64, token, seedHash []byte, holder string) (bool, error) {
	var stored bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if version == 0 {
			// The row may exist already, made by a lock, still without a
			// token.
			if _, err := tx.Exec(ctx, `
				INSERT INTO oauth_token (mailbox, version, updated_at) VALUES ($1, 0, clock_timestamp())
				ON CONFLICT (mailbox) DO NOTHING`, text(mailbox)); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `
			UPDATE oauth_token SET
				version = version + 1,
				token = $3,
				seed_hash = $4,
				updated_at = clock_timestamp(),
				lock_until = CASE WHEN lock_holder = $5 THEN NULL ELSE lock_until END,
				lock_holder = CASE WHEN lock_holder = $5 THEN '' ELSE lock_holder END
			WHERE mailbox = $1 AND version = $2`,
			text(mailbox), version, token, seedHash, text(holder))
		if err != nil {
			return err
		}
		stored = tag.RowsAffected() == 1
		return nil
	})
	return stored, err
}

// UnlockOAuthToken releases holder's refresh lock on mailbox's token.
func (s *Store) UnlockOAuthToken(ctx context.Context, mailbox, holder string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE oauth_token SET lock_holder = '', lock_until = NULL
		WHERE mailbox = $1 AND lock_holder = $2`, text(mailbox), text(holder))
	return err
}
