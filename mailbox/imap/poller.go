package imap

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/emersion/go-imap/v2"
)

// healthyAfter is how long a session must last to count as a recovery.
const healthyAfter = time.Minute

// Poller reads one folder of one mailbox into the queue.
type Poller struct {
	cfg    Config
	log    *slog.Logger
	status status
	// unreadable counts, per UID of UIDVALIDITY unreadableUV, the FETCHes
	// the server ended with NO passing over the message (see
	// session.unreadable). Only the session under way uses it.
	unreadable   map[imap.UID]int
	unreadableUV uint32
}

// New returns a Poller for cfg.
func New(cfg Config) (*Poller, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	log := cfg.Log.With("source", "imap", "mailbox", cfg.Name, "folder", cfg.Folder)
	p := &Poller{cfg: cfg, log: log}
	p.status.s = Status{Mailbox: cfg.Name, Folder: cfg.Folder, State: Disconnected, Since: time.Now()}
	return p, nil
}

// Name identifies the poller in the daemon's logs.
func (p *Poller) Name() string { return "imap:" + p.cfg.Name + "/" + p.cfg.Folder }

// Run reads the folder until ctx is done, reconnecting with capped
// exponential backoff. It returns nil once ctx is done.
func (p *Poller) Run(ctx context.Context) error {
	backoff := p.cfg.MinBackoff
	var state string // the last failure logged, "" while healthy
	for {
		start := time.Now()
		opened, err := p.runSession(ctx)
		if ctx.Err() != nil {
			return nil
		}
		// Only a session that got the folder open and then ran for a
		// while resets the backoff: one that fails right after SELECT
		// (the queue refusing writes, say) must not reconnect every second.
		healthy := opened && time.Since(start) >= healthyAfter
		p.status.failed(err)
		if healthy {
			backoff = p.cfg.MinBackoff
		}
		// A failure is logged at error level when it differs from the one
		// before: a wrong password is reported once, not every retry.
		if s := failureState(err); s != state || healthy {
			msg := "imap connection failed; retrying"
			switch {
			case errors.Is(err, ErrTarget) && errors.Is(err, errMoveRefused):
				msg = "imap configuration error: the server refuses moves into a target folder; messages stay in the folder, flagged"
			case errors.Is(err, ErrTarget):
				msg = "imap configuration error: a target folder cannot be created; nothing is fetched until it exists"
			}
			p.log.Error(msg, "err", err, "retry_in", backoff)
			state = s
		} else {
			p.log.Debug("imap connection failed again", "err", err, "retry_in", backoff)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, p.cfg.MaxBackoff)
	}
}

// failureState classes an error for logging once per state change.
func failureState(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, errLogin):
		return "login"
	case errors.Is(err, errSelect):
		return "select"
	case errors.Is(err, ErrTarget):
		return "target"
	default:
		return "connection"
	}
}

// runSession connects, selects the folder and keeps it drained until an
// error or ctx ends it. opened reports whether the folder was selected.
func (p *Poller) runSession(ctx context.Context) (opened bool, err error) {
	p.status.setState(Connecting, false)
	if p.cfg.Connections != nil {
		select {
		case p.cfg.Connections <- struct{}{}:
			defer func() { <-p.cfg.Connections }()
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	s, err := p.open(ctx)
	if err != nil {
		return false, err
	}
	defer s.close()
	p.status.setState(Connected, s.idle)
	return true, s.loop(ctx)
}
