package imap

import (
	"context"
	"fmt"

	"github.com/emersion/go-sasl"
)

// TokenSource supplies OAuth2 access tokens for XOAUTH2 (internal/oauth's
// Source).
type TokenSource interface {
	// Token returns a valid access token, fetching a new one if needed.
	Token(ctx context.Context) (string, error)
	// Invalidate drops a token the server refused, so that the next Token
	// fetches a fresh one.
	Invalidate()
}

// loginToken gets the access token to log in with; a token the source
// cannot get is a login failure, logged as such.
func loginToken(ctx context.Context, ts TokenSource) (string, error) {
	token, err := ts.Token(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errLogin, err)
	}
	return token, nil
}

// xoauth2 is the SASL XOAUTH2 client (Google's and Microsoft's mechanism;
// go-sasl has OAUTHBEARER only).
type xoauth2 struct {
	user, token string
}

var _ sasl.Client = xoauth2{}

func (x xoauth2) Start() (mech string, ir []byte, err error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

// Next answers the server's error challenge (a JSON status) with an empty
// response, after which the server fails the command with NO.
func (x xoauth2) Next(challenge []byte) ([]byte, error) {
	return []byte{}, nil
}
