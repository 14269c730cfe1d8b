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
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/enneo/mailbridge/internal/gosmtp"

	"github.com/enneo/mailbridge/mailbox"
)

// Replies of our own; go-smtp answers syntax errors and the recipient
// limit (452 4.5.3) itself.
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
	errNoTransaction = &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1},
		Message: "No transaction: MAIL FROM and RCPT TO first"}
	errReading = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 4, 2},
		Message: "Error reading the message, try again later"}
	errTooManyErrors = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
		Message: "Too many errors, closing connection"}
	errNoBudget = &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1},
		Message: "Insufficient system resources, try again later"}
	// The same reply go-smtp gives a command line beyond the limit: a
	// line too long is the same fault in the message as in a command,
	// and a permanent one — the sender would send the same line again.
	errLineTooLong = &gosmtp.SMTPError{Code: 500, EnhancedCode: gosmtp.EnhancedCode{5, 4, 0},
		Message: "Too long line, closing connection"}
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
	// quiet rate-limits the refusals a client can repeat at will.
	quiet quietLog

	// authFailures counts failed and refused AUTH commands.
	authFailures int

	// mu guards tx, the transaction under way (nil between transactions).
	mu sync.Mutex
	tx *transaction
}

// transaction is one MAIL FROM … DATA. go-smtp runs the Data of BDAT in a
// goroutine of its own, which can outlive its transaction: an RSET or a
// new MAIL during BDAT starts another while the old Data still reads. So
// Data works on the transaction it began with, and ends the session's only
// if that is still the one under way.
type transaction struct {
	id    string // for the Received header and the log
	from  string
	size  int64 // declared with MAIL FROM … SIZE=, 0 if not
	rcpts []recipient
}

// current is the transaction under way, nil if none.
func (s *session) current() *transaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tx
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
		const msg = "sender refused: not in smtp.allowedNetworks and not authenticated"
		if len(pol.users) > 0 {
			return s.fault(ReasonAuthRequired, errAuthRequired, msg, "mail_from", from)
		}
		return s.fault(ReasonRelayDenied, errRelayDenied, msg, "mail_from", from)
	}
	if max := s.srv.opts.MaxMessageBytes; opts != nil && opts.Size > max {
		return s.fault(ReasonTooLarge, errTooLarge, "sender refused: declared SIZE above smtp.limits.maxMessageBytes",
			"mail_from", from, "size", opts.Size, "limit", max)
	}
	tx := &transaction{id: newID(), from: from}
	if opts != nil {
		tx.size = opts.Size
	}
	s.mu.Lock()
	s.tx = tx
	s.mu.Unlock()
	if s.tracked != nil {
		// A client that may send leaves the outside pool, if it was in it.
		s.tracked.l.promote(s.tracked)
		s.tracked.busy.Store(true)
	}
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tx == nil { // go-smtp asks for MAIL first
		return errNoTransaction
	}
	sub, ok := s.srv.policy.Load().router.Lookup(to)
	if !ok {
		return s.fault(ReasonNoRoute, errNoRoute, "recipient refused: no smtp.routes entry matches", "rcpt", to, "smtp_id", s.tx.id)
	}
	s.tx.rcpts = append(s.tx.rcpts, recipient{addr: to, subchannel: sub})
	return nil
}

func (s *session) Data(r io.Reader) error {
	tx := s.current()
	if tx == nil || len(tx.rcpts) == 0 {
		return errNoTransaction
	}
	defer s.finish(tx)
	buf, err := s.read(r, tx)
	if err != nil {
		return err
	}
	defer buf.release()
	ar := s.verify(tx, buf.b)
	var failed error
	groups := tx.groups()
	for i, g := range groups {
		if err := s.ingest(tx, g, ar, buf, i == len(groups)-1); err != nil {
			failed = err
		}
	}
	if failed != nil {
		return failed
	}
	s.accepted()
	return tx.queued()
}

// queued is the 250 reply naming the transaction id, so that the sending
// MTA's log ("status=sent (250 2.0.0 OK: queued as …)") leads to ours.
// go-smtp writes whatever *SMTPError Data returns, 2xx included.
func (tx *transaction) queued() error {
	return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "OK: queued as " + tx.id}
}

// LMTPData answers each recipient for itself (RFC 2033): a subchannel
// whose commit failed gets 451 while the others get 250.
func (s *session) LMTPData(r io.Reader, status gosmtp.StatusCollector) error {
	tx := s.current()
	if tx == nil || len(tx.rcpts) == 0 {
		return errNoTransaction
	}
	defer s.finish(tx)
	buf, err := s.read(r, tx)
	if err != nil {
		return err // the same answer for everyone
	}
	defer buf.release()
	ar := s.verify(tx, buf.b)
	groups := tx.groups()
	for i, g := range groups {
		err := s.ingest(tx, g, ar, buf, i == len(groups)-1)
		if err == nil {
			s.accepted()
			err = tx.queued()
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
	s.quiet.flush(s.log)
	return nil
}

func (s *session) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tx = nil
	if s.tracked != nil {
		s.tracked.busy.Store(false)
	}
}

// finish ends tx, unless another transaction has begun since.
func (s *session) finish(tx *transaction) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tx != tx {
		return
	}
	s.tx = nil
	if s.tracked != nil {
		s.tracked.busy.Store(false)
	}
}

// dataChunk is the first buffer a message gets, and so the smallest
// step of the data budget.
const dataChunk = 64 << 10

// declaredReserve is the most a message's declared SIZE reserves before
// its data arrives.
const declaredReserve = 1 << 20

// dataBuf is a message being read, and the data budget it holds.
//
// The first buffer is the message's own. Data past it goes to pooled
// chunks (spill), joined to one buffer once at the end of the data: a
// buffer doubled at each step would copy the data read so far each time
// and take fresh memory for it, which for a megabyte was two megabytes
// copied and three allocated.
type dataBuf struct {
	b []byte
	// full is b's allocation: dataPrefix bytes, then b, so that the
	// headers the session adds can go in front of the message without a
	// copy of it.
	full []byte
	// spill is the data read past b, and room grants the room the budget
	// granted past b: while reading, b is full and the data ends in
	// spill's last chunk.
	spill  []spilled
	room   int64
	held   int64
	budget *DataBudget
}

// spillChunk is the size of the chunks that hold a message's data past its
// first buffer.
const spillChunk = 256 << 10

var spillChunks = sync.Pool{New: func() any { return new([spillChunk]byte) }}

// spilled is a chunk of data past the first buffer: data is the pooled
// chunk, or memory of its own (chunk nil) where the budget granted less
// than a chunk, as far as it is filled.
type spilled struct {
	chunk *[spillChunk]byte
	data  []byte
}

// size is how many bytes of data buf holds.
func (d *dataBuf) size() int64 {
	n := int64(len(d.b))
	for _, c := range d.spill {
		n += int64(len(c.data))
	}
	return n
}

// free is the room left for data, where the next read goes: the end of b
// or of the last chunk, a new chunk once that is full, or nothing once
// the budget's grant is used up.
func (d *dataBuf) free() []byte {
	if d.room == 0 {
		return d.b[len(d.b):cap(d.b)]
	}
	if k := len(d.spill); k > 0 {
		if c := d.spill[k-1].data; len(c) < cap(c) {
			return c[len(c):cap(c)]
		}
	}
	past := d.size() - int64(len(d.b))
	if past == d.room {
		return nil
	}
	// A grant's last part short of a chunk gets memory of its own size:
	// a pooled chunk would hold more memory than the budget granted, up
	// to a chunk per step of growth.
	sp := spilled{}
	if n := d.room - past; n < spillChunk {
		sp.data = make([]byte, 0, n)
	} else {
		sp.chunk = spillChunks.Get().(*[spillChunk]byte)
		sp.data = sp.chunk[:0]
	}
	d.spill = append(d.spill, sp)
	return sp.data[:cap(sp.data)]
}

// wrote records that n bytes were read into free's room.
func (d *dataBuf) wrote(n int) {
	if k := len(d.spill); k > 0 {
		c := &d.spill[k-1].data
		*c = (*c)[:len(*c)+n]
		return
	}
	d.b = d.b[:len(d.b)+n]
}

// join makes the data one buffer again, with the room in front.
func (d *dataBuf) join() {
	if len(d.spill) == 0 {
		return
	}
	parts := make([][]byte, 0, 1+len(d.spill))
	parts = append(parts, d.full[:dataPrefix+len(d.b)])
	for _, c := range d.spill {
		parts = append(parts, c.data)
	}
	full := bytes.Join(parts, nil) // not cleared before it is filled
	d.putSpill()
	d.full, d.b = full, full[dataPrefix:]
}

// putSpill gives the chunks back to the pool.
func (d *dataBuf) putSpill() {
	for _, c := range d.spill {
		if c.chunk != nil {
			spillChunks.Put(c.chunk)
		}
	}
	d.spill, d.room = nil, 0
}

// dataPrefix is the room in front of a message's data for the headers
// the session adds (Authentication-Results, Received).
const dataPrefix = 4 << 10

func (d *dataBuf) release() {
	d.putSpill()
	d.budget.release(d.held)
	d.held, d.b, d.full = 0, nil, nil
}

// withHeaders is the message with hs in front of it. In place, it writes
// them into the room in front of the data, so that the message is not
// copied; the result then shares the buffer, and a later call overwrites
// the headers of an earlier one.
func (d *dataBuf) withHeaders(inPlace bool, hs ...[]byte) []byte {
	n := 0
	for _, h := range hs {
		n += len(h)
	}
	if !inPlace || n > dataPrefix || len(d.full) < dataPrefix {
		return slices.Concat(append(hs, d.b)...)
	}
	at := dataPrefix - n
	for _, h := range hs {
		at += copy(d.full[at:], h)
	}
	return d.full[dataPrefix-n : dataPrefix+len(d.b) : dataPrefix+len(d.b)]
}

// discard releases the buffer of a refused message. A large one is
// collected at once: refusals are what an attacker repeats, and a heap
// left to grow to its next collection would hold several budgets' worth of
// refused data, whatever the budget says.
func (d *dataBuf) discard() {
	large := d.held >= discardCollect
	d.release()
	if large {
		runtime.GC()
	}
}

// discardCollect is the size of a refused message's buffer from which it
// is collected at once: a collection of the daemon's small live heap costs
// far less than receiving that much data.
const discardCollect = 4 << 20

// read takes in the message: at most MaxMessageBytes, within
// DataTimeout, and in memory the data budget grants. The caller releases
// the buffer once the message is queued. On a refusal go-smtp reads the
// rest of the message to its end and discards it.
func (s *session) read(r io.Reader, tx *transaction) (*dataBuf, error) {
	deadline := time.Now().Add(s.srv.opts.DataTimeout)
	if s.tracked != nil {
		s.tracked.dataDeadline.Store(deadline.UnixNano())
		s.tracked.inData.Store(true)
		defer s.tracked.inData.Store(false)
	}
	if err := s.conn.Conn().SetReadDeadline(deadline); err != nil {
		return nil, errReading
	}
	max := s.srv.opts.MaxMessageBytes
	buf := &dataBuf{budget: s.srv.opts.DataBudget}
	for {
		room := buf.free()
		if len(room) == 0 {
			if buf.size() >= max {
				// Full. One byte more is too large; it is read into a
				// scratch byte, so an oversized message holds no more
				// than the limit.
				var one [1]byte
				n, err := io.ReadFull(r, one[:])
				switch {
				case n > 0:
					buf.discard()
					return nil, s.fault(ReasonTooLarge, errTooLarge, "message refused: too large",
						"limit", max, "smtp_id", tx.id)
				case err == io.EOF:
					buf.join()
					return buf, nil
				}
				buf.discard()
				return nil, s.readFailed(err, tx)
			}
			if err := s.grow(buf, tx, deadline); err != nil {
				buf.discard()
				return nil, err
			}
			continue
		}
		n, err := r.Read(room)
		buf.wrote(n)
		if err == io.EOF {
			buf.join()
			return buf, nil
		}
		if err != nil {
			buf.discard()
			return nil, s.readFailed(err, tx)
		}
	}
}

// grow doubles buf, within MaxMessageBytes, once the data budget grants
// the bytes. The first step, a declared SIZE or dataChunk, may wait for
// budget, at most DataBudgetWait and not past the data deadline: the
// session holds none yet. Later steps take what is free or give up at
// once with 452 (see DataBudget).
func (s *session) grow(buf *dataBuf, tx *transaction, deadline time.Time) error {
	want := min(nextDataCap(buf.held, tx.size), s.srv.opts.MaxMessageBytes)
	var err error
	if buf.held == 0 {
		wait := min(s.srv.opts.DataBudgetWait, time.Until(deadline))
		ctx, cancel := context.WithTimeout(s.srv.ctx, wait)
		err = buf.budget.acquire(ctx, want)
		cancel()
	} else if !buf.budget.tryAcquire(want - buf.held) {
		err = errNoBudget
	}
	if err != nil {
		s.refused(ReasonDataBudget)
		s.quiet.log(s.log, slog.LevelWarn, "message refused: smtp.limits.dataBytesInFlight exhausted; answered 452 so that the sender retries",
			"budget", buf.budget.Size(), "in_flight", buf.budget.InFlight(), "held", buf.held, "smtp_id", tx.id)
		return errNoBudget
	}
	if buf.full == nil {
		// The first buffer: the capacity is cut to want, which the read
		// loop takes for the limit.
		buf.full = make([]byte, dataPrefix, dataPrefix+want)
		buf.b, buf.held = buf.full[dataPrefix:], want
		return nil
	}
	// Then room in chunks, granted up to want.
	buf.room += want - buf.held
	buf.held = want
	return nil
}

// slowGrowth is the size from which a message's grant of the data budget
// grows by a quarter instead of doubling: each session holds its message
// until it is queued, and a message just past a doubling would hold
// almost twice its size. A step costs a budget call, not a copy.
const slowGrowth = 1 << 20

// nextDataCap is the size of a message buffer that is full at size c,
// when the client declared size (0 when not).
func nextDataCap(c, size int64) int64 {
	// A little over the declaration, so that the end of the data needs no
	// further step.
	fit := size + 4<<10
	switch {
	case c == 0 && size > 0:
		// No more than declaredReserve before the data shows it, or a
		// few connections that declare the limit and send nothing would
		// hold the whole budget.
		return min(fit, declaredReserve)
	case size > 0 && fit > c:
		return min(fit, max(2*c, dataChunk))
	case c < slowGrowth:
		return max(2*c, dataChunk)
	}
	return c + c/4
}

// readFailed answers a transfer that broke off: a line beyond
// MaxLineLength for good, anything else (timeout, connection lost) for
// now.
func (s *session) readFailed(err error, tx *transaction) error {
	if errors.Is(err, gosmtp.ErrTooLongLine) {
		s.refused(ReasonLineTooLong)
		s.log.Info("message refused: a line longer than smtp.limits.maxLineLength; answered 500 and closed",
			"limit", s.srv.opts.MaxLineLength, "smtp_id", tx.id)
		// go-smtp's reader cannot go on past the line, and would answer
		// the next command read with a 500 of its own; closing after
		// this reply leaves the client one answer. LMTP owes one reply
		// per recipient, so there go-smtp closes.
		if s.tracked != nil && !s.srv.opts.LMTP {
			s.tracked.hangup.Store(true)
		}
		return errLineTooLong
	}
	// A transfer a client breaks off is a refusal it can repeat at will
	// (BDAT then RSET): rate-limited in the log and charged to its budget.
	return s.fault(ReasonReadFailed, errReading, "message not received", "err", err, "smtp_id", tx.id)
}

// group is the recipients of one subchannel: the message is queued once
// per subchannel, whatever the number of recipients there.
type group struct {
	subchannel int
	rcpts      []string
}

func (tx *transaction) groups() []group {
	var gs []group
	for _, rc := range tx.rcpts {
		i := slices.IndexFunc(gs, func(g group) bool { return g.subchannel == rc.subchannel })
		if i < 0 {
			gs = append(gs, group{subchannel: rc.subchannel})
			i = len(gs) - 1
		}
		gs[i].rcpts = append(gs[i].rcpts, rc.addr)
	}
	return gs
}

// verify authenticates the message's sender, once for all its
// subchannels; the header it returns goes on top of each copy.
func (s *session) verify(tx *transaction, raw []byte) []byte {
	if s.srv.opts.Verifier == nil {
		return nil
	}
	return s.srv.opts.Verifier.AuthenticationResults(s.srv.ctx, s.ip, s.helo, tx.from, raw)
}

// ingest commits the message for one subchannel, with ar (an
// Authentication-Results header, or nil) above the Received header; a nil
// error means it is durably queued and may be acknowledged.
func (s *session) ingest(tx *transaction, g group, ar []byte, buf *dataBuf, inPlace bool) error {
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
		id: tx.id, rcpts: g.rcpts, at: now,
	})
	msg := mailbox.Message{
		Raw:          buf.withHeaders(inPlace, ar, hdr),
		SubchannelID: g.subchannel,
		Origin: mailbox.Origin{
			Source:     "smtp",
			ReceivedAt: now.UTC(),
			SMTP: &mailbox.SMTPOrigin{
				Listener: s.srv.opts.Name, MailFrom: tx.from, RcptTo: g.rcpts,
				ClientIP: s.ip.String(), Helo: s.helo, TLS: s.tls, AuthUser: s.user,
			},
		},
	}
	ctx, cancel := context.WithTimeout(s.srv.ctx, ingestTimeout)
	defer cancel()
	rec, err := s.srv.ingester.Ingest(ctx, msg)
	if err != nil {
		s.log.Error("message not queued; answered 451 so that the sender retries",
			"subchannel", g.subchannel, "smtp_id", tx.id, "mail_from", tx.from, "err", err)
		return s.refuse(ReasonQueueFailed, errStore)
	}
	s.log.Info("message accepted", "message_id", rec.ExternalID, "subchannel", g.subchannel,
		"queue_id", rec.QueueID, "duplicate", rec.Duplicate, "smtp_id", tx.id, "size", len(msg.Raw))
	return nil
}

// refuse reports a refusal to the observer and returns its reply.
func (s *session) refuse(why Reason, reply *gosmtp.SMTPError) error {
	s.refused(why)
	return reply
}

func (s *session) refused(why Reason) { s.srv.obs.Rejected(s.srv.opts.Name, why) }

// fault answers a refusal the client brought on itself: it is counted,
// logged (at most once per logInterval for each kind, see quietLog) and
// charged to the connection's error budget. Past MaxErrors refusals
// since its last accepted message the client is answered 421 4.7.0 and
// disconnected: an MTA with mail to deliver gets it accepted in between
// (and a message retried on a new connection always fits, as long as
// MaxErrors is at least MaxRecipients), a client probing addresses or
// hammering MAIL does not.
func (s *session) fault(why Reason, reply *gosmtp.SMTPError, msg string, attrs ...any) error {
	if s.tracked == nil {
		s.refused(why)
		s.quiet.log(s.log, slog.LevelInfo, msg, attrs...)
		return reply
	}
	if s.tracked.hangup.Load() {
		// Commands the client pipelined behind the 421.
		return errTooManyErrors
	}
	s.refused(why)
	s.quiet.log(s.log, slog.LevelInfo, msg, attrs...)
	if n := s.tracked.errors.Add(1); n > int32(s.srv.opts.MaxErrors) {
		s.refused(ReasonTooManyErrs)
		s.quiet.flush(s.log)
		s.log.Warn("too many errors; answered 421 and closed", "errors", n, "limit", s.srv.opts.MaxErrors)
		s.tracked.hangup.Store(true)
		return errTooManyErrors
	}
	return reply
}

// accepted clears the error budget: the client delivers mail.
func (s *session) accepted() {
	if s.tracked != nil {
		s.tracked.errors.Store(0)
	}
}

// newID makes a transaction id for the Received header and the log,
// unique enough to find one delivery in the sender's and our logs.
func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
