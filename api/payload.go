package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
)

// payload is a conversation's request body as a list of pieces, written
// out as it is read: the body fields are escaped and the attachments
// base64-encoded straight into the reader's buffer. Nothing the size of
// the mail is held besides the conversation itself, and a read fills the
// whole buffer it is given, however the JSON is cut into pieces.
type payload struct {
	pieces []piece
	// least is the payload's size if no byte of a string needs escaping,
	// known without reading them.
	least int64
	// known are sizes of strings measured before (Conversation.sizes).
	known [3]knownSize
}

type pieceKind uint8

const (
	rawPiece     pieceKind = iota // JSON as it is
	stringPiece                   // a string's content, escaped
	base64Piece                   // bytes, base64-encoded
	escapedPiece                  // a string's content, escaped already (data)
)

// piece is one stretch of the payload, never empty.
type piece struct {
	kind pieceKind
	str  string // raw JSON or the string
	data []byte // the bytes to encode, or escaped
}

func (p *payload) raw(s string) {
	if s != "" {
		p.pieces = append(p.pieces, piece{kind: rawPiece, str: s})
		p.least += int64(len(s))
	}
}

func (p *payload) string(s string) {
	if s != "" {
		p.pieces = append(p.pieces, piece{kind: stringPiece, str: s})
		p.least += int64(len(s))
	}
}

// field is a body field's string: the bytes noted for it escaped
// (Conversation.NoteJSON) where there are, else the string to escape.
func (p *payload) field(s string) {
	for _, k := range p.known {
		if k.esc != nil && k.s == s {
			if len(k.esc) > 0 {
				p.pieces = append(p.pieces, piece{kind: escapedPiece, data: k.esc})
				p.least += int64(len(k.esc))
			}
			return
		}
	}
	p.string(s)
}

func (p *payload) base64(b []byte) {
	if len(b) > 0 {
		p.pieces = append(p.pieces, piece{kind: base64Piece, data: b})
		p.least += int64(base64.StdEncoding.EncodedLen(len(b)))
	}
}

// size is the number of bytes the payload takes.
func (p *payload) size() int64 {
	n := p.least
	// The strings measured before, then those measured here: bodyClean is
	// often bodyPlain again. A noted string is found without reading it
	// where it is the field's own string (comparing strings compares
	// their pointers first).
	var seen [2 * len(p.known)]knownSize
	k := copy(seen[:], p.known[:])
measure:
	for _, pc := range p.pieces {
		if pc.kind != stringPiece {
			continue
		}
		for _, m := range seen[:k] {
			if m.s == pc.str {
				n += int64(m.n - len(m.s))
				continue measure
			}
		}
		m := knownSize{s: pc.str, n: escapedLen(pc.str)}
		n += int64(m.n - len(m.s))
		if k < len(seen) {
			seen[k] = m
			k++
		}
	}
	return n
}

// appendTo appends the payload to b.
func (p *payload) appendTo(b []byte) []byte {
	b = slices.Grow(b, int(p.least))
	for _, pc := range p.pieces {
		switch pc.kind {
		case rawPiece:
			b = append(b, pc.str...)
		case escapedPiece:
			b = append(b, pc.data...)
		case stringPiece:
			for s := pc.str; len(s) > 0; {
				if cap(b)-len(b) < 6 {
					b = slices.Grow(b, len(s)+6)
				}
				w, r := escapeInto(b[len(b):cap(b)], s)
				b, s = b[:len(b)+w], s[r:]
			}
		case base64Piece:
			n := base64.StdEncoding.EncodedLen(len(pc.data))
			b = slices.Grow(b, n)
			encodeBase64(b[len(b):len(b)+n], pc.data)
			b = b[:len(b)+n]
		}
	}
	return b
}

// bodyFields are the body fields as encoding/json writes them empty. A
// string's quotes are escaped inside JSON strings, so this text can only
// be the fields themselves.
const bodyFields = `,"body":"","bodyPlain":"","bodyClean":""`

// newPayload lays out c's request body.
//
// The fields but the bodies and attachments are few and small, and
// encoding/json writes them. HTML is not escaped: bodies are HTML, and
// json.Marshal's \u003c for every < and > makes the payload larger (a <br>
// per line of a plain-text mail adds 10 bytes) and the dry-run files and
// goldens hard to read, for a safeguard that only matters when JSON is
// embedded in an HTML page.
func newPayload(c *Conversation) (*payload, error) {
	small := *c
	small.Body, small.BodyPlain, small.BodyClean = "", "", ""
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&small); err != nil {
		return nil, err
	}
	head := string(bytes.TrimSuffix(bytes.TrimSuffix(b.Bytes(), []byte("\n")), []byte("}")))
	before, after, ok := strings.Cut(head, bodyFields)
	if !ok {
		return nil, errors.New("api: the conversation's JSON has no body fields")
	}
	p := &payload{pieces: make([]piece, 0, 8+3*len(c.Attachments)), known: c.sizes}
	p.raw(before + `,"body":"`)
	p.field(c.Body)
	p.raw(`","bodyPlain":"`)
	p.field(c.BodyPlain)
	p.raw(`","bodyClean":"`)
	p.field(c.BodyClean)
	p.raw(`"` + after + `,"attachments":[`)
	for i, a := range c.Attachments {
		name, err := json.Marshal(a.Name)
		if err != nil {
			return nil, err
		}
		open := `{"name":`
		if i > 0 {
			open = `,{"name":`
		}
		p.raw(open + string(name) + `,"base64":"`)
		p.base64(a.Content)
		p.raw(`"}`)
	}
	p.raw("]}")
	return p, nil
}

// sharedMin is the size from which a string that two fields hold is
// escaped once for both.
const sharedMin = 4 << 10

// escapeShared escapes once a string that two fields hold (bodyClean is
// most often bodyPlain again), and the payload copies the escaped bytes
// for each: a copy costs a fraction of an escape. The escaped string is
// held until the payload is dropped, as the conversation holds the string.
func (p *payload) escapeShared() {
	for i := range p.pieces {
		a := &p.pieces[i]
		if a.kind != stringPiece || len(a.str) < sharedMin {
			continue
		}
		for j := i + 1; j < len(p.pieces); j++ {
			b := &p.pieces[j]
			if b.kind != stringPiece || b.str != a.str {
				continue
			}
			if a.data == nil {
				n := len(a.str) + len(a.str)/16
				for _, k := range p.known {
					if k.s == a.str {
						n = k.n
					}
				}
				a.data = (&payload{pieces: []piece{{kind: stringPiece, str: a.str}}}).appendTo(make([]byte, 0, n))
				a.kind = escapedPiece
				p.least += int64(len(a.data) - len(a.str))
			}
			b.kind, b.data = escapedPiece, a.data
			p.least += int64(len(b.data) - len(b.str))
		}
	}
}

// errClosed is what a payload reader answers once closed.
var errClosed = errors.New("api: request body read after the call returned")

// guard lets the readers of one call's payload be closed together: a read
// under way is finished, and none starts after.
type guard struct {
	mu     sync.Mutex
	closed bool
}

func (g *guard) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// payloadReader reads a payload from its start.
type payloadReader struct {
	p     *payload
	guard *guard // nil: never closed
	piece int    // the piece being read
	off   int    // how much of it is read (bytes of str or data)
	// An escape or base64 group that a short read had no room for.
	spare   [8]byte
	pending []byte
	// direct: reads stop before what writeTo writes as it is.
	direct bool
}

// directMin is the size from which writeTo writes the rest of a piece of
// escaped bytes from where it is, rather than through its buffer.
const directMin = 32 << 10

// whole is the rest of the piece being read where writeTo writes it as
// it is, else nil.
func (r *payloadReader) whole() []byte {
	if len(r.pending) > 0 || r.piece == len(r.p.pieces) {
		return nil
	}
	pc := &r.p.pieces[r.piece]
	if pc.kind != escapedPiece || len(pc.data)-r.off < directMin {
		return nil
	}
	return pc.data[r.off:]
}

// writeTo writes the rest of the payload, at most limit bytes, to w: the
// pieces escaped already (the body fields escaped as they were made) in
// writes of up to len(buf) from where they are, the rest through buf.
func (r *payloadReader) writeTo(w io.Writer, limit int64, buf []byte) (int64, error) {
	r.direct = true
	var n int64
	for n < limit {
		if rest, err := r.next(); err != nil {
			return n, err
		} else if rest != nil {
			m, err := w.Write(rest[:min(int64(len(rest)), int64(len(buf)), limit-n)])
			if r.off += m; r.off == len(r.p.pieces[r.piece].data) {
				r.piece, r.off = r.piece+1, 0
			}
			n += int64(m)
			if err != nil {
				return n, err
			}
			continue
		}
		k, err := r.Read(buf[:min(int64(len(buf)), limit-n)])
		if k > 0 {
			m, werr := w.Write(buf[:k])
			n += int64(m)
			if werr != nil {
				return n, werr
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// next is whole under the guard: a closed reader answers errClosed. The
// bytes are the conversation's own, never changed, and may be written
// after the guard is let go.
func (r *payloadReader) next() ([]byte, error) {
	if r.guard != nil {
		r.guard.mu.Lock()
		defer r.guard.mu.Unlock()
		if r.guard.closed {
			return nil, errClosed
		}
	}
	return r.whole(), nil
}

func (p *payload) reader(g *guard) *payloadReader { return &payloadReader{p: p, guard: g} }

func (r *payloadReader) Read(b []byte) (int, error) {
	if r.guard != nil {
		r.guard.mu.Lock()
		defer r.guard.mu.Unlock()
		if r.guard.closed {
			return 0, errClosed
		}
	}
	n := copy(b, r.pending)
	r.pending = r.pending[n:]
	for n < len(b) && r.piece < len(r.p.pieces) {
		if r.direct && n > 0 && r.whole() != nil {
			break // writeTo writes it from where it is
		}
		w := r.fill(b[n:])
		if w > 0 {
			n += w
			continue
		}
		if n == 0 {
			// b is too short for the next escape or group.
			w = r.fill(r.spare[:])
			n = copy(b, r.spare[:w])
			r.pending = r.spare[n:w]
		}
		break
	}
	if n == 0 && r.piece == len(r.p.pieces) && len(r.pending) == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// Close ends the reader's own reads (net/http closes a request body).
func (r *payloadReader) Close() error { return nil }

// fill writes the next bytes of the payload into b, as many as fit; none
// when the next escape or base64 group does not fit.
func (r *payloadReader) fill(b []byte) int {
	pc := &r.p.pieces[r.piece]
	var w, end int
	switch pc.kind {
	case rawPiece:
		w = copy(b, pc.str[r.off:])
		r.off += w
		end = len(pc.str)
	case escapedPiece:
		w = copy(b, pc.data[r.off:])
		r.off += w
		end = len(pc.data)
	case stringPiece:
		var n int
		w, n = escapeInto(b, pc.str[r.off:])
		r.off += n
		end = len(pc.str)
	case base64Piece:
		rest := pc.data[r.off:]
		groups := min(len(b)/4, len(rest)/3)
		encodeBase64(b, rest[:3*groups])
		w, r.off = 4*groups, r.off+3*groups
		if tail := len(rest) - 3*groups; tail > 0 && tail < 3 && len(b)-w >= 4 {
			encodeBase64(b[w:], rest[3*groups:])
			w, r.off = w+4, len(pc.data)
		}
		end = len(pc.data)
	}
	if r.off == end {
		r.piece, r.off = r.piece+1, 0
	}
	return w
}

// writeTo writes the payload to w.
func (p *payload) writeTo(w io.Writer) error {
	_, err := io.Copy(w, p.reader(nil))
	return err
}
