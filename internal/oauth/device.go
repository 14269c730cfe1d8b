package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"

	"golang.org/x/oauth2"
)

// Authorize obtains a delegated grant with the device authorization grant
// (RFC 8628): it asks cfg.DeviceAuthURL for a code, writes the address
// and the code to w for the user to enter in a browser on any device,
// polls the token endpoint until the user has signed in and consented,
// and stores the tokens, sealed, as the mailbox's newest. Instances
// running pick them up at their next refresh.
func Authorize(ctx context.Context, cfg Config, w io.Writer) error {
	if cfg.Store == nil {
		return errors.New("authorize: no store to keep the tokens in")
	}
	oc := &oauth2.Config{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Scopes: cfg.Scopes,
		Endpoint: oauth2.Endpoint{DeviceAuthURL: cfg.DeviceAuthURL, TokenURL: cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
	if cfg.HTTPClient != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, cfg.HTTPClient)
	}
	da, err := oc.DeviceAuth(ctx)
	if err != nil {
		return fmt.Errorf("device authorization at %s: %w", cfg.DeviceAuthURL, redact(err))
	}
	fmt.Fprintf(w, "To authorize mailbox %s, open\n\n    %s\n\nand enter the code\n\n    %s\n\n", cfg.Mailbox, da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(w, "(or open %s, which holds the code)\n\n", da.VerificationURIComplete)
	}
	if !da.Expiry.IsZero() {
		fmt.Fprintf(w, "Waiting until %s for the sign-in…\n", da.Expiry.Format("15:04:05"))
	}
	tok, err := oc.DeviceAccessToken(ctx, da)
	if err != nil {
		return fmt.Errorf("device authorization: %w", redact(err))
	}
	return storeGrant(ctx, cfg, tok, w)
}

// storeGrant stores a new grant's tokens as the mailbox's newest. It
// replaces whatever is stored, even a token another instance is storing
// at this moment.
func storeGrant(ctx context.Context, cfg Config, tok *oauth2.Token, w io.Writer) error {
	if tok.RefreshToken == "" {
		return errors.New("the token endpoint gave no refresh token (Microsoft: add the scope offline_access)")
	}
	sealed, err := seal(cfg.Key, cfg.Mailbox, tok)
	if err != nil {
		return err
	}
	for range 10 {
		row, err := cfg.Store.OAuthToken(ctx, cfg.Mailbox)
		if err != nil {
			return err
		}
		ok, err := cfg.Store.PutOAuthToken(ctx, cfg.Mailbox, row.Version, sealed, seedHash(cfg.ClientID, cfg.RefreshToken), "")
		if err != nil {
			return err
		}
		if ok {
			fmt.Fprintf(w, "Authorized: mailbox %s's tokens are stored (version %d); running instances use them at their next refresh.\n",
				cfg.Mailbox, row.Version+1)
			return nil
		}
	}
	return errors.New("the stored token keeps changing; try again")
}

// redact keeps an endpoint's error code and description but not the body
// x/oauth2 quotes.
func redact(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := ""
		if re.Response != nil {
			status = re.Response.Status + ": "
		}
		return fmt.Errorf("%s%s %s", status, re.ErrorCode, re.ErrorDescription)
	}
	return err
}
