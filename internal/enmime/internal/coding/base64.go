package coding

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"sync"
)

// base64CleanerTable notes byte values that should be stripped (-2), stripped w/ error (-1).
var base64CleanerTable = []int8{
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -2, -2, -1, -1, -2, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-2, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -2, -1, -1,
	-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
}

// Base64Cleaner improves the tolerance of in Go's built-in base64 decoder by stripping out
// characters that would cause decoding to fail.
//
// It also drops the last character of a stream that ends one character into a 4-character
// group: the data was cut off (a mail truncated by a size limit), and that character holds
// less than a byte, while the decoder would reject the whole stream for it. To know which
// character is the last, one character is held back until more follow or the input ends.
type Base64Cleaner struct {
	// Report of non-whitespace characters detected while cleaning base64 data.
	Errors []error

	r      io.Reader
	buffer [1024]byte // read into, and cleaned in place
	out    []byte     // cleaned characters not yet returned, in buffer
	count  int        // characters returned so far
	err    error      // error of r, returned once out is drained
}

// Enforce io.Reader interface.
var _ io.Reader = &Base64Cleaner{}

// NewBase64Cleaner returns a Base64Cleaner object for the specified reader.  Base64Cleaner
// implements the io.Reader interface.
func NewBase64Cleaner(r io.Reader) *Base64Cleaner {
	return &Base64Cleaner{
		Errors: make([]error, 0),
		r:      r,
	}
}

// Read method for io.Reader interface.
func (bc *Base64Cleaner) Read(p []byte) (n int, err error) {
	for len(bc.out) < 2 && bc.err == nil {
		held := copy(bc.buffer[:], bc.out)
		bn, rerr := bc.r.Read(bc.buffer[held:])
		w := held
		for i := held; i < held+bn; i++ {
			switch c := bc.buffer[i]; base64CleanerTable[c&0x7f] {
			case -2:
				// Strip these silently: tab, \n, \r, space, equals sign.
			case -1:
				// Strip these, but warn the client.
				bc.Errors = append(bc.Errors, fmt.Errorf("unexpected %q in base64 stream", c))
			default:
				bc.buffer[w] = c
				w++
			}
		}
		bc.out = bc.buffer[:w]
		if rerr != nil {
			bc.err = rerr
			if (bc.count+len(bc.out))%4 == 1 {
				bc.out = bc.out[:len(bc.out)-1]
				bc.Errors = append(bc.Errors, fmt.Errorf(
					"base64 data is truncated (it ends one character into a 4-character group): "+
						"the %d bytes before the cut are kept", (bc.count+len(bc.out))/4*3))
			}
		}
	}
	avail := bc.out
	if bc.err == nil {
		avail = avail[:len(avail)-1]
	}
	n = copy(p, avail)
	bc.out = bc.out[n:]
	bc.count += n
	if len(bc.out) == 0 && bc.err != nil {
		return n, bc.err
	}
	return n, nil
}

// Base64Decoder decodes a base64 part as base64.NewDecoder(base64.RawStdEncoding,
// NewBase64Cleaner(r)) does, byte for byte and with the same Errors, but a whole line at a
// time where a line is whole groups of the alphabet, as mailers write them: the cleaner and
// the decoder's own newline filter look at each character apart, the larger part of mapping
// a mail with a large attachment. The first line that is not (the last, a stray character,
// padding) and all after it go the cleaner's way.
type Base64Decoder struct {
	r   io.Reader
	in  []byte // read, not yet decoded: in[:n] of bufs.in
	out []byte // decoded, not yet returned: in bufs.out
	// bufs, from base64Pool, until the slow way takes over (which it does at the
	// end of the data too).
	bufs *base64Bufs
	err  error // r's error, once in is decoded
	done int   // characters decoded
	slow io.Reader
	// cleaner is the slow way's, which has the Errors.
	cleaner *Base64Cleaner
}

// base64Read is how much a Base64Decoder reads at a time. Its buffers come from a pool and
// go back at the end of the part: a mail of many parts takes them once, not once per part.
const base64Read = 32 << 10

type base64Bufs struct{ in, out []byte }

var base64Pool = sync.Pool{New: func() any {
	return &base64Bufs{in: make([]byte, base64Read), out: make([]byte, base64.RawStdEncoding.DecodedLen(base64Read))}
}}

// NewBase64Decoder returns a Base64Decoder reading r.
func NewBase64Decoder(r io.Reader) *Base64Decoder {
	return &Base64Decoder{r: r}
}

// Errors are the cleaner's reports of what it dropped.
func (d *Base64Decoder) Errors() []error {
	if d.cleaner == nil {
		return nil
	}
	return d.cleaner.Errors
}

// Read method for io.Reader interface.
func (d *Base64Decoder) Read(p []byte) (int, error) {
	for len(d.out) == 0 && d.slow == nil {
		d.decodeLines()
	}
	if len(d.out) > 0 {
		n := copy(p, d.out)
		d.out = d.out[n:]
		return n, nil
	}
	return d.slow.Read(p)
}

// decodeLines reads and decodes the whole lines it can, or hands what is left to the slow
// way.
func (d *Base64Decoder) decodeLines() {
	if d.bufs == nil {
		d.bufs = base64Pool.Get().(*base64Bufs)
	}
	buf := d.bufs.in
	if d.err == nil && len(d.in) < len(buf) {
		n := copy(buf, d.in)
		m, err := d.r.Read(buf[n:])
		d.in, d.err = buf[:n+m], err
	}
	out := d.bufs.out[:0]
	rest := d.in
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		line := rest[:i]
		if k := len(line); k > 0 && line[k-1] == '\r' {
			line = line[:k-1]
		}
		if len(line)%4 != 0 || bytes.IndexByte(line, '\r') >= 0 {
			break
		}
		n, err := base64.RawStdEncoding.Decode(out[len(out):cap(out)], line)
		if err != nil {
			break
		}
		out = out[:len(out)+n]
		d.done += len(line)
		rest = rest[i+1:]
	}
	d.in, d.out = rest, out
	if len(out) > 0 {
		return
	}
	if d.err == nil && len(rest) < len(buf) && bytes.IndexByte(rest, '\n') < 0 {
		return // a line not yet read whole
	}
	// The rest, from a line that is not whole groups of the alphabet (or the end of the
	// data, or a line longer than the buffer) on, starts at a group's boundary: the
	// cleaner's way reads it as it would have read it after what came before. The buffers
	// go back to the pool once the cleaner has read the rest out of them (not copied: a part
	// that goes this way at its first line would copy a whole read).
	src := io.Reader(&pooledRest{rest: rest, bufs: d.bufs})
	d.in, d.out, d.bufs = nil, nil, nil
	if d.err != nil {
		src = io.MultiReader(src, errReader{d.err})
	} else {
		src = io.MultiReader(src, d.r)
	}
	d.cleaner = NewBase64Cleaner(src)
	d.cleaner.count = d.done
	d.slow = base64.NewDecoder(base64.RawStdEncoding, d.cleaner)
}

// errReader returns its error.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// pooledRest reads rest, in bufs.in, and gives bufs back to base64Pool once it is read:
// nothing refers to them then. Left unread, they are collected with it.
type pooledRest struct {
	rest []byte
	bufs *base64Bufs
}

func (r *pooledRest) Read(p []byte) (int, error) {
	if len(r.rest) == 0 {
		r.release()
		return 0, io.EOF
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	if len(r.rest) == 0 {
		r.release()
	}
	return n, nil
}

func (r *pooledRest) release() {
	if r.bufs != nil {
		r.rest = nil
		base64Pool.Put(r.bufs)
		r.bufs = nil
	}
}
