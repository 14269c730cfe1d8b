package smtp

// Observer is told of every refusal, for metrics. It is called on the
// session's goroutine and must be quick.
type Observer interface {
	// Rejected: the listener refused a connection, a sender, a recipient
	// or a message, for reason (see the Reason constants).
	Rejected(listener string, reason Reason)
}

// Reason says why the listener refused something.
type Reason string

// The reasons, one per refusal of the listener's own.
const (
	ReasonNoRoute      Reason = "no_route"             // RCPT: 550 5.1.1
	ReasonRelayDenied  Reason = "relay_denied"         // MAIL: 554 5.7.1
	ReasonAuthRequired Reason = "auth_required"        // MAIL: 530 5.7.0
	ReasonAuthFailed   Reason = "auth_failed"          // AUTH: 535
	ReasonTooLarge     Reason = "too_large"            // MAIL SIZE or DATA: 552 5.3.4
	ReasonQueueFailed  Reason = "queue_failed"         // DATA: 451 4.3.0, the commit failed
	ReasonReadFailed   Reason = "read_failed"          // DATA: 451 4.4.2, the transfer broke off
	ReasonShuttingDown Reason = "shutting_down"        // MAIL: 421 4.3.2
	ReasonTooManyConns Reason = "too_many_connections" // connect: 421 4.7.0
	ReasonTooManyErrs  Reason = "too_many_errors"      // after MaxErrors refusals: 421 4.7.0
	ReasonLifetime     Reason = "session_lifetime"     // session lifetime reached: 421 4.4.2
	ReasonDataBudget   Reason = "data_budget"          // DATA: 452 4.3.1, no budget for the message
	ReasonLineTooLong  Reason = "line_too_long"        // DATA: 500 5.4.0, a line beyond MaxLineLength
)

type nopObserver struct{}

func (nopObserver) Rejected(string, Reason) {}

// Status is what a listener reports for the status page and metrics.
type Status struct {
	Name    string
	Address string // the bound address once listening, else the configured one
	Mode    string // smtp or lmtp
	TLS     string // none, starttls or implicit
	// Listening is true from the moment the listener accepts connections
	// until it stops accepting them at shutdown.
	Listening bool
	// Connections is how many clients are connected now.
	Connections int
}

// Status reports the listener's state.
func (s *Server) Status() Status {
	st := Status{Name: s.opts.Name, Address: s.opts.Address, Mode: "smtp", TLS: s.tlsMode()}
	if s.opts.LMTP {
		st.Mode = "lmtp"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lim != nil {
		st.Address = s.lim.Addr().String()
		st.Listening = !s.draining.Load()
		st.Connections = s.lim.count()
	}
	return st
}
