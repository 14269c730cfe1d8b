package smtp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/enneo/mailbridge/mailbox"
)

// Replies of our own; go-smtp answers syntax errors, the recipient limit
// (452 4.5.3) and the announced-size check itself.
var (
	errNoRoute = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1},
		Message: "No such recipient here"}
	errRelayDenied = &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1},
		Message: "Relaying denied: client not in an allowed network"}
	errAuthRequired = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0},
		Message: "Authentication required"}
	errTooLarge = &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4},
		Message: "Message size exceeds fixed limit"}
	errStore = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0},
		Message: "Temporary failure queueing the message, try again later"}
	errShuttingDown = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 3, 2},
		Message: "Shutting down, try again later"}
	errReading = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 4, 2},
		Message: "Error reading the message, try again later"}
)

// backend makes a session per client greeting (and again after STARTTLS).
type backend struct{ s *Server }

func (b *backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	s := &session{srv: b.s, conn: c, helo: c.Hostname()}
	if a, ok := c.Conn().RemoteAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(a.IP)
		s.ip = ip.Unmap()
	}
	nc := c.Conn()
	if tc, ok := nc.(*tls.Conn); ok {
		s.tls = true
		nc = tc.NetConn()
	}
	s.tracked, _ = nc.(*trackedConn)
	s.log = b.s.log.With("client_ip", s.ip.String())
	return s, nil
}

// session is one client's conversation, from greeting to QUIT.
type session struct {
	srv     *Server
	conn    *gosmtp.Conn
	tracked *trackedConn // nil when not served through a limitListener
	ip      netip.Addr
	helo    string
	tls     bool
	user    string // after AUTH
	log     *slog.Logger

	// authFailures counts failed and refused AUTH commands.
	authFailures int

	// The transaction under way.
	id    string // for the Received header and the log
	from  string
	rcpts []recipient
}

type recipient struct {
	addr       string // as the client gave it: LMTP replies are keyed by it
	subchannel int
}

var (
	_ gosmtp.Session     = (*session)(nil)
	_ gosmtp.LMTPSession = (*session)(nil)
	_ gosmtp.AuthSession = (*session)(nil)
)

func (s *session) AuthMechanisms() []string {
	if len(s.srv.policy.Load().users) == 0 {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	check := s.authenticate // throttle.go
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(check), nil
	case sasl.Login:
		return newLoginServer(check), nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	if s.srv.draining.Load() {
		return s.refuse(ReasonShuttingDown, errShuttingDown)
	}
	pol := s.srv.policy.Load()
	if _, ok := pol.users[s.user]; s.user != "" && !ok {
		// A reload removed the account this session logged in with.
		s.log.Info("user no longer configured; AUTH again", "user", s.user)
		s.user = ""
	}
	if s.user == "" && !pol.allowedNetwork(s.ip) {
		s.log.Info("sender refused: not in smtp.allowedNetworks and not authenticated", "mail_from", from)
		if len(pol.users) > 0 {
			return s.refuse(ReasonAuthRequired, errAuthRequired)
		}
		return s.refuse(ReasonRelayDenied, errRelayDenied)
	}
	if opts != nil && opts.Size > s.srv.opts.MaxMessageBytes {
		return s.refuse(ReasonTooLarge, errTooLarge)
	}
	s.reset()
	s.id = newID()
	s.from = from
	if s.tracked != nil {
		s.tracked.busy.Store(true)
	}
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	sub, ok := s.srv.policy.Load().router.Lookup(to)
	if !ok {
		s.log.Info("recipient refused: no smtp.routes entry matches", "rcpt", to, "smtp_id", s.id)
		return s.refuse(ReasonNoRoute, errNoRoute)
	}
	s.rcpts = append(s.rcpts, recipient{addr: to, subchannel: sub})
	return nil
}

func (s *session) Data(r io.Reader) error {
	defer s.reset()
	raw, err := s.read(r)
	if err != nil {
		return err
	}
	var failed error
	for _, g := range s.groups() {
		if err := s.ingest(g, raw); err != nil {
			failed = err
		}
	}
	if failed != nil {
		return failed
	}
	return s.queued()
}

// queued is the 250 reply naming the transaction id, so that the sending
// MTA's log ("status=sent (250 2.0.0 OK: queued as …)") leads to ours.
// go-smtp writes whatever *SMTPError Data returns, 2xx included.
func (s *session) queued() error {
	return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "OK: queued as " + s.id}
}

// LMTPData answers each recipient for itself (RFC 2033): a subchannel
// whose commit failed gets 451 while the others get 250.
func (s *session) LMTPData(r io.Reader, status gosmtp.StatusCollector) error {
	defer s.reset()
	raw, err := s.read(r)
	if err != nil {
		return err // the same answer for everyone
	}
	for _, g := range s.groups() {
		err := s.ingest(g, raw)
		if err == nil {
			err = s.queued()
		}
		for _, rc := range g.rcpts {
			status.SetStatus(rc, err)
		}
	}
	return nil
}

func (s *session) Reset() { s.reset() }

func (s *session) Logout() error {
	s.reset()
	return nil
}

func (s *session) reset() {
	s.id, s.from, s.rcpts = "", "", nil
	if s.tracked != nil {
		s.tracked.busy.Store(false)
	}
}

// read takes in the message, enforcing the size limit and DataTimeout.
func (s *session) read(r io.Reader) ([]byte, error) {
	if err := s.conn.Conn().SetReadDeadline(time.Now().Add(s.srv.opts.DataTimeout)); err != nil {
		return nil, errReading
	}
	max := s.srv.opts.MaxMessageBytes
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	switch {
	case errors.Is(err, gosmtp.ErrDataTooLarge) || n > max:
		s.log.Info("message refused: too large", "limit", max, "smtp_id", s.id)
		return nil, s.refuse(ReasonTooLarge, errTooLarge)
	case err != nil:
		s.log.Info("message not received", "err", err, "smtp_id", s.id)
		return nil, s.refuse(ReasonReadFailed, errReading)
	}
	return buf.Bytes(), nil
}

// group is the recipients of one subchannel: the message is queued once
// per subchannel, whatever the number of recipients there.
type group struct {
	subchannel int
	rcpts      []string
}

func (s *session) groups() []group {
	var gs []group
	for _, rc := range s.rcpts {
		i := slices.IndexFunc(gs, func(g group) bool { return g.subchannel == rc.subchannel })
		if i < 0 {
			gs = append(gs, group{subchannel: rc.subchannel})
			i = len(gs) - 1
		}
		gs[i].rcpts = append(gs[i].rcpts, rc.addr)
	}
	return gs
}

// ingest commits the message for one subchannel; a nil error means it is
// durably queued and may be acknowledged.
func (s *session) ingest(g group, raw []byte) error {
	now := time.Now()
	var proto string
	switch {
	case s.srv.opts.LMTP:
		proto = "LMTP"
	default:
		// RFC 3848 protocol types.
		proto = "ESMTP"
		if s.tls {
			proto += "S"
		}
		if s.user != "" {
			proto += "A"
		}
	}
	var tlsVersion string
	if st, ok := s.conn.TLSConnectionState(); ok {
		tlsVersion = tls.VersionName(st.Version)
	}
	hdr := receivedHeader(received{
		helo: s.helo, ip: s.ip, by: s.srv.opts.Hostname, proto: proto, tlsVersion: tlsVersion,
		id: s.id, rcpts: g.rcpts, at: now,
	})
	msg := mailbox.Message{
		Raw:          append(hdr, raw...),
		SubchannelID: g.subchannel,
		Origin: mailbox.Origin{
			Source:     "smtp",
			ReceivedAt: now.UTC(),
			SMTP: &mailbox.SMTPOrigin{
				Listener: s.srv.opts.Name, MailFrom: s.from, RcptTo: g.rcpts,
				ClientIP: s.ip.String(), Helo: s.helo, TLS: s.tls, AuthUser: s.user,
			},
		},
	}
	ctx, cancel := context.WithTimeout(s.srv.ctx, ingestTimeout)
	defer cancel()
	rec, err := s.srv.ingester.Ingest(ctx, msg)
	if err != nil {
		s.log.Error("message not queued; answered 451 so that the sender retries",
			"subchannel", g.subchannel, "smtp_id", s.id, "mail_from", s.from, "err", err)
		return s.refuse(ReasonQueueFailed, errStore)
	}
	s.log.Info("message accepted", "message_id", rec.ExternalID, "subchannel", g.subchannel,
		"queue_id", rec.QueueID, "duplicate", rec.Duplicate, "smtp_id", s.id, "size", len(msg.Raw))
	return nil
}

// refuse reports a refusal to the observer and returns its reply.
func (s *session) refuse(why Reason, reply *gosmtp.SMTPError) error {
	s.refused(why)
	return reply
}

func (s *session) refused(why Reason) { s.srv.obs.Rejected(s.srv.opts.Name, why) }

// newID makes a transaction id for the Received header and the log,
// unique enough to find one delivery in the sender's and our logs.
func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
