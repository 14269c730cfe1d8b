package enmime

import (
	"bytes"
	"context"
	stderrors "errors"
	"fmt"
	"io"
	"sync"
)

// mailbridge's bounds on what one crafted message can cost a parse.

const (
	// ErrorNestingTooDeep names the warning for a part below MaxNesting.
	ErrorNestingTooDeep = "MIME nesting too deep"
	// ErrorTooManyParts names the warning for parts beyond MaxParts.
	ErrorTooManyParts = "Too many MIME parts"

	ctMessageRFC822 = "message/rfc822"

	// maxUUBlocks bounds the uuencoded files taken out of one text part.
	maxUUBlocks = 100

	// MaxHeaderBytes bounds the header fields read of a message or part;
	// the fields after are read past and dropped, with a warning. Real
	// headers, long References and ARC chains included, stay far below.
	MaxHeaderBytes = 1 << 20
	// maxMessageHeaderBytes bounds the header fields kept of all the
	// parts of one message together.
	maxMessageHeaderBytes = 4 << 20
)

// ErrParseCanceled is returned (wrapping the context's error) when the
// context of ReadEnvelopeContext ends during the parse.
var ErrParseCanceled = stderrors.New("enmime: parse canceled")

// MaxNesting bounds how deep multiparts are parsed: a multipart at level n
// (the message's own is level 0) is kept unparsed, as one message/rfc822
// attachment named nested-parts.eml, with a warning. 0 means no limit.
// Postfix's mime_nesting_limit is 100.
func MaxNesting(n int) Option { return maxNestingOption(n) }

type maxNestingOption int

func (o maxNestingOption) apply(p *Parser) { p.maxNesting = int(o) }

// MaxParts bounds how many parts of a message are parsed: the parts of a
// multipart beyond the limit are kept unparsed together, as one
// message/rfc822 attachment named remaining-parts.eml, with a warning.
// 0 means no limit.
func MaxParts(n int) Option { return maxPartsOption(n) }

type maxPartsOption int

func (o maxPartsOption) apply(p *Parser) { p.maxParts = int(o) }

// ReadEnvelopeContext is ReadEnvelope, given up with an error wrapping
// ErrParseCanceled and ctx.Err() once ctx ends: the reader and the loop
// over parts check it.
func (p Parser) ReadEnvelopeContext(ctx context.Context, r io.Reader) (*Envelope, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrParseCanceled, err)
	}
	p.ctx = ctx
	if l, ok := r.(interface{ Len() int }); ok {
		p.src = l
	}
	env, err := p.ReadEnvelope(ctxReader{ctx, r})
	if err != nil {
		if cerr := p.contextErr(); cerr != nil {
			return nil, cerr
		}
	}
	return env, err
}

func (p *Parser) contextErr() error {
	if p.ctx == nil {
		return nil
	}
	if err := p.ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrParseCanceled, err)
	}
	return nil
}

// ctxReader fails a Read once its context has ended, so that a long decode
// stops at the next buffer it reads.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrParseCanceled, err)
	}
	return c.r.Read(b)
}

// readContent is a part's raw content, read whole before its charset was
// decided: when no conversion follows, it is the decoded content as is.
type readContent struct {
	*bytes.Reader
	buf []byte
}

// readDecoded reads the end of a part's decoding pipeline; content read
// whole already and not converted since is taken without a copy.
func (p *Part) readDecoded(r io.Reader, policy ReadPartErrorPolicy) ([]byte, error) {
	if rc, ok := r.(*readContent); ok && rc.Len() == len(rc.buf) {
		return rc.buf, nil
	}
	return p.readPartContent(r, policy)
}

// readScratchBytes is the size of readAll's pooled buffers.
const readScratchBytes = 32 << 10

var readScratches = sync.Pool{New: func() any { b := make([]byte, readScratchBytes); return &b }}

// readAll is io.ReadAll that allocates what it returns once, at its final
// size: io.ReadAll's appends allocate several times a large part's size
// on the way. hint, when above 0, is an upper bound of the size.
func readAll(r io.Reader, hint int) ([]byte, error) {
	if hint > 0 {
		buf := make([]byte, 0, hint+1) // +1: EOF is seen without growing
		for {
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				return buf, nil
			}
			if err != nil {
				return buf, err
			}
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
		}
	}
	// A part that fits readScratch is read into one from a pool and copied
	// out at its size; a larger one is read in chunks of growing size,
	// joined at the end.
	scratch := readScratches.Get().(*[]byte)
	defer readScratches.Put(scratch)
	var chunks [][]byte
	total, size := 0, readScratchBytes
	for {
		var c []byte
		if chunks == nil {
			c = *scratch
		} else {
			c = make([]byte, size)
		}
		n, err := io.ReadFull(r, c)
		if chunks == nil {
			c = append(make([]byte, 0, n), c[:n]...)
		}
		chunks = append(chunks, c[:n])
		total += n
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = nil
		} else if err == nil {
			size = min(size*2, 1<<20)
			continue
		}
		if len(chunks) == 1 {
			return chunks[0], err
		}
		buf := make([]byte, 0, total)
		for _, c := range chunks {
			buf = append(buf, c...)
		}
		return buf, err
	}
}
