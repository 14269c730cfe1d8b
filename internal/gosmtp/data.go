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
	r     *bufio.Reader
	state int

	limited bool
	n       int64 // Maximum bytes remaining
}

func newDataReader(c *Conn) *dataReader {
	dr := &dataReader{
		r: c.text.R,
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
	// the bufio.Reader holds rather than one ReadByte at a time, and in
	// the middle of a line copies everything up to the next CR in one go.
	for n < len(b) && r.state != stateEOF {
		buf, perr := buffered(r.r)
		if len(buf) == 0 {
			err = perr
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			break
		}
		used := 0
		for used < len(buf) && n < len(b) && r.state != stateEOF {
			if r.state == stateData {
				run := buf[used:]
				if room := len(b) - n; len(run) > room {
					run = run[:room]
				}
				if i := bytes.IndexByte(run, '\r'); i >= 0 {
					run = run[:i+1]
					r.state = stateCR
				}
				n += copy(b[n:], run)
				used += len(run)
				continue
			}
			c := buf[used]
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
				b[n] = c
				n++
			}
		}
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
