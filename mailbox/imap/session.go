package imap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// errSelect marks a folder the server would not open.
var errSelect = errors.New("cannot select folder")

// session is one connection with the folder selected.
type session struct {
	p   *Poller
	c   *conn
	log *slog.Logger

	uidValidity uint32
	lastUID     uint32 // checkpoint: every UID up to it is done
	// boundary, while above lastUID, is the highest UID of a first start
	// under way: up to it only the mail StartAt picks is read.
	boundary uint32
	exists   chan struct{} // signalled on EXISTS; buffered 1
	idle     bool
}

// open dials, logs in, selects the folder and loads the checkpoint.
func (p *Poller) open(ctx context.Context) (*session, error) {
	s := &session{p: p, log: p.log, exists: make(chan struct{}, 1)}
	handler := &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				s.signal()
			}
		},
	}
	c, err := dial(ctx, p.cfg.Account, handler)
	if err != nil {
		return nil, err
	}
	s.c = c
	if err := s.selectFolder(ctx); err != nil {
		c.Close()
		return nil, err
	}
	// Caps may have to ask the server (CAPABILITY), so it is bounded too.
	var caps imap.CapSet
	if err := c.do(func() error { caps = c.Caps(); return nil }); err != nil {
		c.Close()
		return nil, err
	}
	s.idle = p.cfg.IDLE && (caps.Has(imap.CapIdle) || caps.Has(imap.CapIMAP4rev2))
	return s, nil
}

func (s *session) signal() {
	select {
	case s.exists <- struct{}{}:
	default:
	}
}

func (s *session) selectFolder(ctx context.Context) error {
	cfg := &s.p.cfg
	// The targets of moves must exist before anything is fetched: a
	// message that could not be moved would be fetched again and again.
	for _, t := range targets(cfg.After, cfg.ErrorFolder) {
		if err := s.c.ensureFolder(t[0], t[1]); err != nil {
			return err
		}
	}
	var data *imap.SelectData
	err := s.c.do(func() (err error) {
		data, err = s.c.Select(cfg.Folder, nil).Wait()
		return err
	})
	if err != nil {
		var imapErr *imap.Error
		if errors.As(err, &imapErr) {
			return fmt.Errorf("%w %s: %v", errSelect, cfg.Folder, err)
		}
		return err
	}
	uv, last, err := cfg.Checkpoints.Checkpoint(ctx, cfg.Name, cfg.Folder)
	if err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	s.uidValidity, s.lastUID = data.UIDValidity, last
	switch {
	case uv == 0:
		return s.decideStart(ctx, data)
	case uv != data.UIDValidity:
		// The server renumbered the folder: the old UIDs mean nothing now.
		// The whole folder is read again, whatever startAt says: mail that
		// arrived after the last checkpoint was never read, and startAt
		// would skip it for good. The queue's dedup keeps what was read
		// before from being posted twice.
		s.log.Warn("imap UIDVALIDITY changed; reading the whole folder again",
			"old_uid_validity", uv, "uid_validity", data.UIDValidity, "last_uid", last,
			"messages", data.NumMessages)
		return s.restart(ctx, data.UIDValidity)
	}
	if err := s.loadStart(ctx, uv); err != nil {
		return err
	}
	s.log.Debug("imap folder opened", "uid_validity", uv, "last_uid", last, "messages", data.NumMessages,
		"first_start_until", s.boundary)
	return nil
}

func (s *session) close() { s.c.logout() }

// loop drains the folder, then waits for news, until an error or ctx.
func (s *session) loop(ctx context.Context) error {
	for {
		if err := s.drain(ctx); err != nil {
			return err
		}
		s.p.status.update(func(st *Status) { st.LastPoll = time.Now() })
		if err := s.wait(ctx); err != nil {
			return err
		}
	}
}

// freshEvery bounds the time between two drains of a working folder in
// IDLE: IDLE is renewed at least this often, so that the folder's last
// sync (Status.LastPoll, mailbridge_imap_last_success_timestamp_seconds)
// shows within minutes that a connection died silently.
const freshEvery = 5 * time.Minute

// wait returns when the folder may hold new mail: on EXISTS during IDLE,
// when IDLE is due for renewal, or after the poll interval. It ends with
// a NOOP, so that a dead connection is found out within a cycle.
func (s *session) wait(ctx context.Context) error {
	if !s.idle {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.exists:
		case <-time.After(s.p.cfg.PollInterval):
		}
		return s.c.do(func() error { return s.c.Noop().Wait() })
	}

	// EXISTS may have arrived while draining; then the folder is drained
	// again at once rather than after IDLE.
	select {
	case <-s.exists:
		return nil
	default:
	}
	var idle *imapclient.IdleCommand
	err := s.c.do(func() (err error) {
		idle, err = s.c.Idle()
		return err
	})
	if err != nil {
		return fmt.Errorf("IDLE: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- idle.Wait() }()
	timer := time.NewTimer(min(s.p.cfg.IdleRestart, freshEvery))
	defer timer.Stop()
	renew := false
	select {
	case <-ctx.Done():
		// The connection is closing (the ctx watchdog); nothing to end.
		return ctx.Err()
	case err := <-done:
		return fmt.Errorf("IDLE ended: %w", err)
	case <-s.exists:
	case <-timer.C:
		renew = true
	}
	// Close sends DONE; the tagged answer arrives through Wait.
	err = s.c.do(func() error {
		if err := idle.Close(); err != nil {
			return err
		}
		return <-done
	})
	if err != nil {
		return fmt.Errorf("end IDLE: %w", err)
	}
	if renew {
		return s.c.do(func() error { return s.c.Noop().Wait() })
	}
	return nil
}
