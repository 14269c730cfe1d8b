package coding

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// TestBase64DecoderSlowPartAllocation: a part whose first line is not whole groups
// (74-character lines, as some mailers wrap) goes the cleaner's way at once. Before the pool
// it allocated its 4 KiB first buffer and 3 KiB of output; it must not allocate a 32 KiB
// copy of the read for every such part.
func TestBase64DecoderSlowPartAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops what it is given at random under the race detector")
	}
	data := make([]byte, 40000)
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for i := 0; i < len(enc); i += 74 {
		b.WriteString(enc[i:min(i+74, len(enc))])
		b.WriteString("\r\n")
	}
	in := []byte(b.String())
	out := make([]byte, 4096)
	decode := func() {
		d := NewBase64Decoder(bytes.NewReader(in))
		for {
			_, err := d.Read(out)
			if err != nil {
				break
			}
		}
	}
	decode()
	const parts = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range parts {
		decode()
	}
	runtime.ReadMemStats(&after)
	per := (after.TotalAlloc - before.TotalAlloc) / parts
	t.Logf("%d bytes allocated per part", per)
	if per > 16<<10 {
		t.Errorf("%d bytes allocated per part going the slow way, over 16 KiB", per)
	}
}

// TestBase64DecoderInterleavedPooled: decoders live at once, read in turns in pieces of
// random sizes from sources of random read sizes, each compared with the reference; many in
// sequence, so buffers are reused from the pool while others are in use. A decoder dropped
// mid-part must not disturb the others.
func TestBase64DecoderInterleavedPooled(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	type run struct {
		d    *Base64Decoder
		want []byte
		got  []byte
		err  error
		drop bool
	}
	for round := range 300 {
		var runs []*run
		for range 1 + rng.IntN(6) {
			data := make([]byte, rng.IntN(70000))
			for i := range data {
				data[i] = byte(rng.IntN(256))
			}
			enc := base64.StdEncoding.EncodeToString(data)
			width := []int{76, 64, 72, 74, 4, 40000}[rng.IntN(6)]
			in := wrapBase64(rng, enc, width)
			if rng.IntN(3) == 0 && len(in) > 0 {
				at := rng.IntN(len(in))
				in = append(in[:at:at], append([]byte("!"), in[at:]...)...)
			}
			want, _ := io.ReadAll(base64.NewDecoder(base64.RawStdEncoding, NewBase64Cleaner(bytes.NewReader(in))))
			var src io.Reader = bytes.NewReader(in)
			switch rng.IntN(4) {
			case 0:
				src = iotest.OneByteReader(src)
			case 1:
				src = iotest.HalfReader(src)
			case 2:
				src = iotest.DataErrReader(src)
			}
			runs = append(runs, &run{d: NewBase64Decoder(src), want: want, drop: rng.IntN(8) == 0})
		}
		for live := len(runs); live > 0; {
			r := runs[rng.IntN(len(runs))]
			if r.err != nil {
				continue
			}
			if r.drop && len(r.got) > len(r.want)/2 {
				r.err = errors.New("dropped")
				live--
				continue
			}
			p := make([]byte, 1+rng.IntN(5000))
			n, err := r.d.Read(p)
			r.got = append(r.got, p[:n]...)
			if err != nil {
				r.err = err
				live--
				// Reads after the end repeat it.
				if n, err2 := r.d.Read(p); n != 0 || err2 != err {
					t.Fatalf("round %d: read after %v: %d, %v", round, err, n, err2)
				}
			}
		}
		for i, r := range runs {
			if r.drop {
				if !bytes.Equal(r.got, r.want[:len(r.got)]) {
					t.Fatalf("round %d, part %d (dropped): got differs", round, i)
				}
				continue
			}
			if !bytes.Equal(r.got, r.want) {
				t.Fatalf("round %d, part %d: got %d bytes, want %d", round, i, len(r.got), len(r.want))
			}
		}
	}
}
