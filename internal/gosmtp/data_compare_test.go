package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// upstreamDataReader is go-smtp's dataReader as released: the reference
// the block reader must answer exactly like.
type upstreamDataReader struct {
	r       *bufio.Reader
	state   int
	limited bool
	n       int64
}

func (r *upstreamDataReader) Read(b []byte) (n int, err error) {
	if r.limited {
		if r.n <= 0 {
			return 0, ErrDataTooLarge
		}
		if int64(len(b)) > r.n {
			b = b[0:r.n]
		}
	}
	for n < len(b) && r.state != stateEOF {
		var c byte
		c, err = r.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			break
		}
		switch r.state {
		case stateBeginLine:
			if c == '.' {
				r.state = stateDot
				continue
			}
			if c == '\r' {
				r.state = stateCR
				break
			}
			r.state = stateData
		case stateDot:
			if c == '\r' {
				r.state = stateDotCR
				continue
			}
			r.state = stateData
		case stateDotCR:
			if c == '\n' {
				r.state = stateEOF
				continue
			}
			r.state = stateData
		case stateCR:
			if c == '\n' {
				r.state = stateBeginLine
				break
			}
			r.state = stateData
		case stateData:
			if c == '\r' {
				r.state = stateCR
			}
		}
		b[n] = c
		n++
	}
	if err == nil && r.state == stateEOF {
		err = io.EOF
	}
	if r.limited {
		r.n -= int64(n)
	}
	return
}

// upstreamLineLimitReader is go-smtp's lineLimitReader as released.
type upstreamLineLimitReader struct {
	R             io.Reader
	LineLimit     int
	curLineLength int
}

func (r *upstreamLineLimitReader) Read(b []byte) (int, error) {
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
	for _, chr := range b[:n] {
		if chr == '\n' {
			r.curLineLength = 0
		}
		r.curLineLength++
		if r.curLineLength > r.LineLimit {
			return 0, ErrTooLongLine
		}
	}
	return n, nil
}

// chunkReader hands out its data in the sizes of sizes, in turn, as a
// connection delivers segments.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(b []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := c.sizes[c.i%len(c.sizes)]
	c.i++
	k = min(k, len(b), len(c.data))
	copy(b, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

// readOutcome is all a caller can observe of one transfer: the bytes, the
// error that ended it, the Read results one by one, and what the
// connection's bufio.Reader has left for the next command.
type readOutcome struct {
	data  []byte
	err   error
	calls []int
	rest  []byte
}

func readAll(input []byte, sizes []int, bufSize, lineLimit int, maxBytes int64, readSizes []int, upstream bool) readOutcome {
	src := &chunkReader{data: input, sizes: sizes}
	var rd io.Reader
	if upstream {
		rd = &upstreamLineLimitReader{R: src, LineLimit: lineLimit}
	} else {
		// As Conn.init stacks them.
		rd = &pushback{r: &lineLimitReader{R: src, LineLimit: lineLimit}}
	}
	br := bufio.NewReaderSize(rd, bufSize)
	var r io.Reader
	if upstream {
		r = &upstreamDataReader{r: br, limited: maxBytes > 0, n: maxBytes}
	} else {
		r = &dataReader{r: br, direct: rd.(*pushback), limited: maxBytes > 0, n: maxBytes}
	}
	var out readOutcome
	for i := 0; ; i++ {
		b := make([]byte, readSizes[i%len(readSizes)])
		n, err := r.Read(b)
		out.data = append(out.data, b[:n]...)
		out.calls = append(out.calls, n)
		if err != nil {
			out.err = err
			break
		}
		if i > 1<<20 {
			out.err = errors.New("no progress")
			break
		}
	}
	// What the next command would read: the rest, or the error the
	// connection is left with.
	rest, err := io.ReadAll(br)
	out.rest = rest
	if err != nil {
		out.rest = append(out.rest, []byte("<"+err.Error()+">")...)
	}
	return out
}

func compareReaders(t *testing.T, input []byte, sizes []int, bufSize, lineLimit int, maxBytes int64, readSizes []int) {
	t.Helper()
	want := readAll(input, sizes, bufSize, lineLimit, maxBytes, readSizes, true)
	got := readAll(input, sizes, bufSize, lineLimit, maxBytes, readSizes, false)
	if (tooLong(want) || tooLong(got)) && (got.err == want.err || got.err == ErrTooLongLine || want.err == ErrTooLongLine) &&
		prefixes(got.data, want.data) && (got.err != want.err || prefixes(got.rest, want.rest)) {
		// The line limit drops the whole read that brings the long line,
		// so where it strikes depends on the reads' sizes, upstream as
		// well (with the network's segments); a read past the bufio.Reader
		// is larger than one into it, and may meet a long line that
		// follows the data (pipelined after it) before the data's end.
		return
	}
	if !bytes.Equal(got.data, want.data) || got.err != want.err || !bytes.Equal(got.rest, want.rest) {
		t.Fatalf("input %q (segments %v, buffer %d, line limit %d, max %d, reads %v):\n got %q, %v, rest %q\nwant %q, %v, rest %q",
			input, sizes, bufSize, lineLimit, maxBytes, readSizes, got.data, got.err, got.rest, want.data, want.err, want.rest)
	}
	if len(got.calls) != len(want.calls) {
		t.Fatalf("input %q: %d reads, upstream %d", input, len(got.calls), len(want.calls))
	}
	for i := range got.calls {
		if got.calls[i] != want.calls[i] {
			t.Fatalf("input %q: read %d returned %d bytes, upstream %d", input, i, got.calls[i], want.calls[i])
		}
	}
}

// tooLongRest ends a readOutcome's rest that ended in ErrTooLongLine.
var tooLongRest = []byte("<" + ErrTooLongLine.Error() + ">")

// tooLong reports whether a transfer met the line limit, in the data or
// in what followed.
func tooLong(o readOutcome) bool {
	return o.err == ErrTooLongLine || bytes.HasSuffix(o.rest, tooLongRest)
}

// prefixes reports whether one of a and b, without the line limit's
// error, is a prefix of the other.
func prefixes(a, b []byte) bool {
	a, b = bytes.TrimSuffix(a, tooLongRest), bytes.TrimSuffix(b, tooLongRest)
	return bytes.HasPrefix(a, b) || bytes.HasPrefix(b, a)
}

// randomData is mail-like data dense in what the state machine cares
// about: dots, CRs and LFs at line starts, bare CRs and LFs, the end
// marker, and long lines.
func randomData(rng *rand.Rand) []byte {
	pieces := []string{".", "\r", "\n", "\r\n", ".\r\n", "\r\n.\r\n", "..", "a", "abc", "\r\n..x", "\r\r\n", "\n.\r\n"}
	var b []byte
	for range rng.IntN(60) {
		if rng.IntN(8) == 0 {
			b = append(b, bytes.Repeat([]byte{'x'}, rng.IntN(300))...)
			continue
		}
		b = append(b, pieces[rng.IntN(len(pieces))]...)
	}
	if rng.IntN(3) > 0 {
		b = append(b, "\r\n.\r\nQUIT\r\n"...)
	}
	return b
}

func TestDataReaderMatchesUpstream(t *testing.T) {
	compareRandom(t, rand.New(rand.NewPCG(1, 2)), func(rng *rand.Rand) []int {
		return []int{1 + rng.IntN(8), 1 + rng.IntN(512), 4096}
	})
}

// TestDataReaderPastBufferMatchesUpstream is TestDataReaderMatchesUpstream
// with reads large enough to go past the bufio.Reader, mixed with small
// ones that go through it.
func TestDataReaderPastBufferMatchesUpstream(t *testing.T) {
	defer func(m int) { directMin = m }(directMin)
	directMin = 64
	compareRandom(t, rand.New(rand.NewPCG(3, 4)), func(rng *rand.Rand) []int {
		return []int{64 + rng.IntN(4096), 1 + rng.IntN(100), 1 << 16}
	})
}

// compareRandom compares the readers on random data, segmentations,
// buffer sizes and limits, with the read sizes readSizes picks.
func compareRandom(t *testing.T, rng *rand.Rand, readSizes func(*rand.Rand) []int) {
	n := 200000
	if testing.Short() {
		n = 20000
	}
	for range n {
		input := randomData(rng)
		sizes := []int{1 + rng.IntN(64), 1 + rng.IntN(4096), 1 + rng.IntN(3)}
		bufSize := 16 + rng.IntN(100)
		lineLimit := 0
		if rng.IntN(2) == 0 {
			lineLimit = 1 + rng.IntN(200)
		}
		var maxBytes int64
		if rng.IntN(3) == 0 {
			maxBytes = int64(rng.IntN(400))
		}
		compareReaders(t, input, sizes, bufSize, lineLimit, maxBytes, readSizes(rng))
	}
}

func FuzzDataReaderMatchesUpstream(f *testing.F) {
	f.Add([]byte("a\r\n..b\r\n.\r\nQUIT\r\n"), uint8(7), uint8(3), uint8(0), uint16(0))
	f.Add([]byte(".\rx\r\r\n.\r\n\n.\r\n"), uint8(1), uint8(1), uint8(5), uint16(9))
	f.Fuzz(func(t *testing.T, input []byte, seg, read, lineLimit uint8, maxBytes uint16) {
		compareReaders(t, input, []int{1 + int(seg), 4096}, 16+int(seg%64), int(lineLimit), int64(maxBytes), []int{1 + int(read), 1024})
	})
}

// BenchmarkDataReader reads a 1 MB message of 76-character lines (base64
// as mailers send it) through the connection's line limit and the data
// reader, with go-smtp's released readers and with these.
func BenchmarkDataReader(b *testing.B) {
	line := append(bytes.Repeat([]byte{'Q'}, 76), '\r', '\n')
	msg := append(bytes.Repeat(line, 1<<20/len(line)), ".\r\n"...)
	for _, upstream := range []bool{true, false} {
		name := "block"
		if upstream {
			name = "upstream"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			buf := make([]byte, 32<<10)
			for b.Loop() {
				src := bytes.NewReader(msg)
				var rd io.Reader
				var r io.Reader
				if upstream {
					rd = &upstreamLineLimitReader{R: src, LineLimit: 2000}
					r = &upstreamDataReader{r: bufio.NewReader(rd)}
				} else {
					rd = &lineLimitReader{R: src, LineLimit: 2000}
					r = &dataReader{r: bufio.NewReader(rd)}
				}
				for {
					_, err := r.Read(buf)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
