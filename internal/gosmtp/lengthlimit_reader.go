package smtp

import (
	"bytes"
	"errors"
	"io"
)

var ErrTooLongLine = errors.New("smtp: too long a line in input stream")

// lineLimitReader reads from the underlying Reader but restricts
// line length of lines in input stream to a certain length.
//
// If line length exceeds the limit - Read returns ErrTooLongLine
type lineLimitReader struct {
	R         io.Reader
	LineLimit int

	curLineLength int
}

func (r *lineLimitReader) Read(b []byte) (int, error) {
	if r.curLineLength > r.LineLimit && r.LineLimit > 0 {
		return 0, ErrTooLongLine
	}

	n, err := r.R.Read(b)
	if err != nil {
		return n, err
	}

	if r.LineLimit == 0 {
		return n, nil
	}

	// Per byte: a '\n' starts a new line of length 1, any other byte adds
	// one; a line longer than the limit is an error. The same, a run of
	// bytes between line feeds at a time.
	p := b[:n]
	for {
		i := bytes.IndexByte(p, '\n')
		run := p
		if i >= 0 {
			run = p[:i]
		}
		if r.curLineLength+len(run) > r.LineLimit {
			r.curLineLength = r.LineLimit + 1
			return 0, ErrTooLongLine
		}
		r.curLineLength += len(run)
		if i < 0 {
			break
		}
		r.curLineLength = 1
		p = p[i+1:]
	}

	return n, nil
}
