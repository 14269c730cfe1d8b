package smtp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

type EnhancedCode [3]int

// SMTPError specifies the error code, enhanced error code (if any) and
// message returned by the server.
type SMTPError struct {
	Code         int
	EnhancedCode EnhancedCode
	Message      string
}

// NoEnhancedCode is used to indicate that enhanced error code should not be
// included in response.
//
// Note that RFC 2034 requires an enhanced code to be included in all 2xx, 4xx
// and 5xx responses. This constant is exported for use by extensions, you
// should probably use EnhancedCodeNotSet instead.
var NoEnhancedCode = EnhancedCode{-1, -1, -1}

// EnhancedCodeNotSet is a nil value of EnhancedCode field in SMTPError, used
// to indicate that backend failed to provide enhanced status code. X.0.0 will
// be used (X is derived from error code).
var EnhancedCodeNotSet = EnhancedCode{0, 0, 0}

func (err *SMTPError) Error() string {
	s := fmt.Sprintf("SMTP error %03d", err.Code)
	if err.Message != "" {
		s += ": " + err.Message
	}
	return s
}

func (err *SMTPError) Temporary() bool {
	return err.Code/100 == 4
}

var ErrDataTooLarge = &SMTPError{
	Code:         552,
	EnhancedCode: EnhancedCode{5, 3, 4},
	Message:      "Maximum message size exceeded",
}

type dataReader struct {
	r *bufio.Reader
	// direct is what r reads from. Where r holds nothing and the caller's
	// buffer is large, the data is read from it straight into the buffer
	// and unstuffed in place, in reads as large as the buffer (up to
	// directMax) instead of r's size; what is read past the data's end goes
	// back to direct for r to read next. Nil: only through r.
	direct *pushback
	state  int

	limited bool
	n       int64 // Maximum bytes remaining
}

// directMin is the room in the caller's buffer from which the data reader
// reads past the bufio.Reader (a variable for the tests).
var directMin = 16 << 10

// directMax bounds one read past the bufio.Reader: what it brings past the
// end of the data (commands pipelined after it) is held until they are
// read, outside the message buffer and its data budget.
var directMax = 64 << 10

func newDataReader(c *Conn) *dataReader {
	dr := &dataReader{
		r:      c.text.R,
		direct: c.pushback,
	}

	if c.server.MaxMessageBytes > 0 {
		dr.limited = true
		dr.n = int64(c.server.MaxMessageBytes)
	}

	return dr
}

func (r *dataReader) Read(b []byte) (n int, err error) {
	if r.limited {
		if r.n <= 0 {
			return 0, ErrDataTooLarge
		}
		if int64(len(b)) > r.n {
			b = b[0:r.n]
		}
	}

	// The state machine of net/textproto's dotReader, with only one
	// modification to not rewrite CRLF -> LF: it elides leading dots and
	// detects the End-of-Data (<CR><LF>.<CR><LF>) line. It runs over what
	// the bufio.Reader holds, or over what a read past it brought, rather
	// than one ReadByte at a time.
	for n < len(b) && r.state != stateEOF {
		if r.direct != nil && r.r.Buffered() == 0 && len(b)-n >= directMin {
			m, rerr := r.direct.Read(b[n:min(len(b), n+directMax)])
			w, used := r.scan(b[n:], b[n:n+m], true)
			r.direct.unread(b[n+used : n+m])
			n += w
			if rerr != nil && r.state != stateEOF {
				err = rerr
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				break
			}
			continue
		}
		buf, perr := buffered(r.r)
		if len(buf) == 0 {
			err = perr
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			break
		}
		w, used := r.scan(b[n:], buf, false)
		n += w
		if _, derr := r.r.Discard(used); derr != nil {
			panic("smtp: discarding buffered data: " + derr.Error())
		}
	}
	if err == nil && r.state == stateEOF {
		err = io.EOF
	}

	if r.limited {
		r.n -= int64(n)
	}
	return
}

// scan runs the state machine over src, writing the bytes it keeps to
// dst, until dst is full or the data ends: it returns how many it wrote
// and how many of src it used. inPlace says that dst and src start at the
// same byte: what is kept then moves down over what was dropped, and
// until something is dropped it stays where it is.
func (r *dataReader) scan(dst, src []byte, inPlace bool) (n, used int) {
	for used < len(src) && n < len(dst) && r.state != stateEOF {
		if r.state == stateData {
			run := src[used:]
			if room := len(dst) - n; len(run) > room {
				run = run[:room]
			}
			if i := bytes.IndexByte(run, '\r'); i >= 0 {
				run = run[:i+1]
				r.state = stateCR
			}
			if !inPlace || n != used {
				copy(dst[n:], run)
			}
			n += len(run)
			used += len(run)
			continue
		}
		c := src[used]
		used++
		keep := true
		switch r.state {
		case stateBeginLine:
			switch c {
			case '.':
				r.state, keep = stateDot, false
			case '\r':
				r.state = stateCR
			default:
				r.state = stateData
			}
		case stateDot:
			if c == '\r' {
				r.state, keep = stateDotCR, false
			} else {
				r.state = stateData
			}
		case stateDotCR:
			if c == '\n' {
				r.state, keep = stateEOF, false
			} else {
				r.state = stateData
			}
		case stateCR:
			if c == '\n' {
				r.state = stateBeginLine
			} else {
				r.state = stateData
			}
		}
		if keep {
			dst[n] = c
			n++
		}
	}
	return n, used
}

// pushback is the connection's reader under its bufio.Reader, to which
// the data reader gives back what it read past the data's end: the
// commands a client pipelined after it.
type pushback struct {
	r    io.Reader
	back []byte
}

func (p *pushback) Read(b []byte) (int, error) {
	if len(p.back) > 0 {
		n := copy(b, p.back)
		p.back = p.back[n:]
		return n, nil
	}
	return p.r.Read(b)
}

// unread puts b, a copy of it, in front of what p reads next.
func (p *pushback) unread(b []byte) {
	if len(b) > 0 {
		p.back = append(append([]byte(nil), b...), p.back...)
	}
}

// The states of dataReader.
const (
	stateBeginLine = iota // beginning of line; initial state; must be zero
	stateDot              // read . at beginning of line
	stateDotCR            // read .\r at beginning of line
	stateCR               // read \r (possibly at end of line)
	stateData             // reading data in middle of line
	stateEOF              // reached .\r\n end marker line
)

// buffered returns what br holds without consuming it, reading from the
// connection first when it holds nothing; an empty result comes with the
// read's error.
func buffered(br *bufio.Reader) ([]byte, error) {
	if br.Buffered() == 0 {
		if _, err := br.Peek(1); err != nil {
			return nil, err
		}
	}
	return br.Peek(br.Buffered())
}
