package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// conn is a logged-in IMAP connection whose commands are bounded in time.
//
// imapclient commands take no context, so the bound is a watchdog: a timer
// (and ctx) that closes the connection, which fails the command waiting on
// it. A server that stopped answering is thereby detected and the
// connection replaced.
type conn struct {
	*imapclient.Client
	timeout time.Duration
	stop    func() bool // detaches the ctx watchdog
	mu      sync.Mutex
	timer   *time.Timer
}

// errLogin marks a login the server refused: a state worth telling the
// operator about, unlike a dropped connection.
var errLogin = errors.New("login refused")

// dial connects and logs in. handler receives unilateral data (EXISTS).
func dial(ctx context.Context, a Account, handler *imapclient.UnilateralDataHandler) (*conn, error) {
	host, _, err := net.SplitHostPort(a.Addr)
	if err != nil {
		return nil, err
	}
	tlsConfig := a.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: host}
	}
	opts := &imapclient.Options{
		TLSConfig:             tlsConfig,
		UnilateralDataHandler: handler,
		Dialer:                &net.Dialer{Timeout: a.Timeout},
	}
	// The Dial* helpers take no context; dialling is bounded by the
	// dialer's timeout, and ctx is checked right after.
	var c *imapclient.Client
	switch a.Security {
	case TLS:
		c, err = imapclient.DialTLS(a.Addr, opts)
	case StartTLS:
		c, err = imapclient.DialStartTLS(a.Addr, opts)
	case Insecure:
		c, err = imapclient.DialInsecure(a.Addr, opts)
	default:
		return nil, fmt.Errorf("unknown security %q", a.Security)
	}
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", a.Addr, err)
	}
	cn := &conn{Client: c, timeout: a.Timeout}
	cn.stop = context.AfterFunc(ctx, func() { c.Close() })
	var token string
	if a.Token != nil {
		// Fetched before the greeting: the token endpoint has its own
		// timeout, and the IMAP watchdog should not count it.
		if token, err = loginToken(ctx, a.Token); err != nil {
			cn.Close()
			return nil, err
		}
	}
	err = cn.do(func() error {
		if err := c.WaitGreeting(); err != nil {
			return err
		}
		if a.Token != nil {
			return c.Authenticate(xoauth2{user: a.Username, token: token})
		}
		return c.Login(a.Username, a.Password).Wait()
	})
	if err != nil {
		cn.Close()
		if a.Token != nil {
			a.Token.Invalidate() // perhaps revoked early: fetch a new one next time
		}
		// A tagged NO or BAD is the server's answer; anything else is
		// the connection failing.
		var imapErr *imap.Error
		if errors.As(err, &imapErr) {
			return nil, fmt.Errorf("%w: %s as %s: %v", errLogin, a.Addr, a.Username, err)
		}
		return nil, fmt.Errorf("login %s: %w", a.Addr, err)
	}
	return cn, nil
}

// searchRange returns the UIDs of the selected folder in (after, upTo]
// (upTo 0: no end) that match criteria (nil: all), ascending.
func (c *conn) searchRange(criteria *imap.SearchCriteria, after, upTo uint32) ([]imap.UID, error) {
	var data *imap.SearchData
	err := c.do(func() (err error) {
		sc := &imap.SearchCriteria{UID: []imap.UIDSet{{{Start: imap.UID(after + 1), Stop: imap.UID(upTo)}}}}
		if criteria != nil {
			sc.And(criteria)
		}
		data, err = c.UIDSearch(sc, nil).Wait()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("UID SEARCH: %w", err)
	}
	// "n:*" matches the highest UID even when it is below n.
	uids := slices.DeleteFunc(data.AllUIDs(), func(u imap.UID) bool {
		return uint32(u) <= after || (upTo > 0 && uint32(u) > upTo)
	})
	slices.Sort(uids)
	return uids, nil
}

// do runs fn, closing the connection if it takes longer than the timeout.
func (c *conn) do(fn func() error) error {
	c.arm()
	defer c.disarm()
	return fn()
}

// arm starts (or restarts) the watchdog; long commands such as a large
// FETCH re-arm it as data arrives, so the bound is on silence.
func (c *conn) arm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer == nil {
		c.timer = time.AfterFunc(c.timeout, func() { c.Client.Close() })
		return
	}
	c.timer.Reset(c.timeout)
}

// waitOurs runs wait, a wait on mailbridge's own work (the queue), with the
// watchdog stopped: it bounds the server's silence, not ours.
func (c *conn) waitOurs(wait func()) {
	c.disarm()
	defer c.arm()
	wait()
}

func (c *conn) disarm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
}

// Close logs out politely if it can and closes the connection.
func (c *conn) Close() error {
	c.stop()
	c.disarm()
	return c.Client.Close()
}

// logout ends the session with LOGOUT, bounded by the timeout.
func (c *conn) logout() {
	_ = c.do(func() error { return c.Logout().Wait() })
	c.Close()
}
