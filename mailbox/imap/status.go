package imap

import (
	"sync"
	"time"
)

// ConnState is where a Poller's connection stands.
type ConnState string

const (
	// Connecting: dialling, logging in and opening the folder (or waiting
	// for a connection slot).
	Connecting ConnState = "connecting"
	// Connected: the folder is open; the poller drains it and waits for
	// news in IDLE or by polling.
	Connected ConnState = "connected"
	// Disconnected: the last session failed; the poller waits out its
	// backoff before it connects again.
	Disconnected ConnState = "disconnected"
	// Standby: the poller is not running because another instance holds
	// the folder's lease (several instances on one PostgreSQL store); it
	// takes over when that lease runs out.
	Standby ConnState = "standby"
)

// Status is what a Poller reports about its folder, for the status page and
// metrics.
type Status struct {
	Mailbox, Folder string
	State           ConnState
	Since           time.Time // when State began
	// IDLE is true while a connected session waits in IDLE rather than
	// polling every PollInterval.
	IDLE bool
	// LastPoll is when the folder was last read up to date: after every
	// drain, which follows each poll, each EXISTS and each IDLE renewal.
	// Zero until the first.
	LastPoll time.Time
	// LastError is the error that ended the last failed session, and
	// LastErrorAt when; Errors counts failed sessions since the start.
	LastError   string
	LastErrorAt time.Time
	Errors      int
	// SetAside counts the messages moved to the error folder (or flagged
	// $MailbridgeError) since the start: rejected by the queue for good,
	// or over MaxMessageBytes.
	SetAside int
}

// status is a Poller's Status behind a lock: the poller writes it, the
// admin listener reads it.
type status struct {
	mu sync.Mutex
	s  Status
}

func (st *status) update(f func(s *Status)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f(&st.s)
}

func (st *status) get() Status {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.s
}

// setState moves to state, unless the poller is there already.
func (st *status) setState(state ConnState, idle bool) {
	st.update(func(s *Status) {
		if s.State != state {
			s.State, s.Since = state, time.Now()
		}
		s.IDLE = idle && state == Connected
	})
}

// failed records the end of a session.
func (st *status) failed(err error) {
	st.setState(Disconnected, false)
	if err == nil {
		return
	}
	st.update(func(s *Status) {
		s.LastError, s.LastErrorAt = err.Error(), time.Now()
		s.Errors++
	})
}

// Status reports the poller's connection and its last poll and error.
func (p *Poller) Status() Status { return p.status.get() }

// Standby marks the poller as waiting for another instance's lease on the
// folder, for the time it does not run. Run marks it otherwise again.
func (p *Poller) Standby() { p.status.setState(Standby, false) }
