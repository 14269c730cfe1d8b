package oauth

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// AuthorizeInBrowser obtains a delegated grant with the authorization
// code grant, PKCE and a loopback redirect (RFC 8252), for providers
// whose device flow does not offer the mail scope (Google). It writes
// the address to open in a browser; after the sign-in the browser is
// sent to http://127.0.0.1:PORT/ on its own machine. When that is this
// machine (or the port is forwarded to it) the answer arrives by
// itself; otherwise the user pastes the address the browser shows into
// in. The tokens are stored like Authorize's.
func AuthorizeInBrowser(ctx context.Context, cfg Config, authURL string, in io.Reader, w io.Writer) error {
	if cfg.Store == nil {
		return errors.New("authorize: no store to keep the tokens in")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return err
	}
	state, verifier := hex.EncodeToString(nonce[:]), oauth2.GenerateVerifier()
	oc := &oauth2.Config{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Scopes: cfg.Scopes,
		RedirectURL: "http://" + ln.Addr().String() + "/",
		Endpoint:    oauth2.Endpoint{AuthURL: authURL, TokenURL: cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
	if cfg.HTTPClient != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, cfg.HTTPClient)
	}
	fmt.Fprintf(w, "To authorize mailbox %s, open this address in a browser and sign in:\n\n    %s\n\n"+
		"The browser is then sent to %s. If that page does not load (the browser runs on another machine),\n"+
		"copy the whole address from the browser's address bar and paste it here.\n\n",
		cfg.Mailbox, oc.AuthCodeURL(state, oauth2.AccessTypeOffline, oauth2.S256ChallengeOption(verifier),
			oauth2.SetAuthURLParam("prompt", "consent")), oc.RedirectURL)

	answers := make(chan url.Values, 2)
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("state") != state {
			http.NotFound(rw, r) // not this sign-in's answer
			return
		}
		fmt.Fprintln(rw, "mailbridge: received; you can close this page.")
		select {
		case answers <- r.URL.Query():
		default:
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	go func() {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if u, err := url.Parse(line); err == nil && u.Query().Get("state") != "" {
				answers <- u.Query()
				return
			}
			if line != "" {
				fmt.Fprintln(w, "That is not the address the browser was sent to (it holds code= and state=); paste it again.")
			}
		}
	}()
	var q url.Values
	select {
	case <-ctx.Done():
		return ctx.Err()
	case q = <-answers:
	}
	switch {
	case q.Get("state") != state:
		return errors.New("the answer is for another sign-in (state differs); run authorize again")
	case q.Get("error") != "":
		return fmt.Errorf("sign-in refused: %s %s", q.Get("error"), q.Get("error_description"))
	case q.Get("code") == "":
		return errors.New("the answer holds no code")
	}
	tok, err := oc.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return fmt.Errorf("code exchange: %w", redact(err))
	}
	return storeGrant(ctx, cfg, tok, w)
}
