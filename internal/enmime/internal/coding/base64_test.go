package coding

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

func TestBase64CleanerKeepsTheDecodablePrefix(t *testing.T) {
	data := []byte(strings.Repeat("The quick brown fox jumps over the lazy dog. ", 60))
	enc := base64.StdEncoding.EncodeToString(data)
	for _, cut := range []int{0, 1, 2, 3, 4, 5, 1024, 1025, 1026, 1027, len(enc) - 1, len(enc)} {
		in := enc[:cut]
		for name, r := range map[string]func() io.Reader{
			"whole":   func() io.Reader { return strings.NewReader(in) },
			"onebyte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(in)) },
		} {
			bc := NewBase64Cleaner(r())
			got, err := io.ReadAll(base64.NewDecoder(base64.RawStdEncoding, bc))
			if err != nil {
				t.Errorf("cut %d, %s: %v", cut, name, err)
				continue
			}
			want := data[:min(len(data), cut*3/4)]
			if !bytes.Equal(got, want) {
				t.Errorf("cut %d, %s: got %d bytes, want %d", cut, name, len(got), len(want))
			}
			if truncated := cut%4 == 1; truncated != (len(bc.Errors) == 1) {
				t.Errorf("cut %d, %s: errors %v", cut, name, bc.Errors)
			}
		}
	}
}

func TestBase64CleanerSmallReads(t *testing.T) {
	enc := base64.StdEncoding.EncodeToString([]byte("hello, world")) + "\r\n"
	bc := NewBase64Cleaner(strings.NewReader(enc))
	var out []byte
	buf := make([]byte, 1)
	for {
		n, err := bc.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if want := strings.TrimRight(strings.TrimSpace(enc), "="); string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

// errText is err's text, but that of a base64.CorruptInputError without its offset, which
// counts from where encoding/base64's decoder started its last chunk: a part whose base64
// holds an 8-bit byte (which the cleaner keeps) is dropped whole, and the offset in its
// error depends on the sizes of the reads before, as do the cleaner's reports.
func errText(err error) string {
	var c base64.CorruptInputError
	if errors.As(err, &c) {
		return "illegal base64 data"
	}
	return fmt.Sprint(err)
}

// TestBase64DecoderIsCleanerAndDecoder compares Base64Decoder with the cleaner and
// encoding/base64's decoder it stands for, on base64 as mailers wrap it and broken in every
// way the cleaner knows, read in pieces of every size: the bytes, the error and the
// cleaner's reports.
func TestBase64DecoderIsCleanerAndDecoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	flaws := []string{"=", "==", " ", "\t", "\r", "\n", "\r\n", "!", "\x00", "\xc1", "-", "_", "A", "\n\n", "=A"}
	for k := range 20000 {
		size := rng.IntN(3000)
		if k%100 == 0 {
			size = rng.IntN(100000) // across reads of the decoder's buffer
		}
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.IntN(256))
		}
		enc := base64.StdEncoding.EncodeToString(data)
		if rng.IntN(3) == 0 {
			enc = base64.RawStdEncoding.EncodeToString(data)
		}
		width := []int{76, 76, 64, 72, 4, 5, 1 + rng.IntN(200), 4 * (1000 + rng.IntN(10000))}[rng.IntN(8)]
		in := wrapBase64(rng, enc, width)
		for range rng.IntN(3) {
			at := rng.IntN(len(in) + 1)
			in = append(in[:at:at], append([]byte(flaws[rng.IntN(len(flaws))]), in[at:]...)...)
		}
		if rng.IntN(4) == 0 {
			in = in[:rng.IntN(len(in)+1)]
		}
		var readErr error
		if rng.IntN(8) == 0 {
			readErr = errors.New("connection lost")
		}
		source := func() io.Reader {
			var r io.Reader = bytes.NewReader(in)
			if readErr != nil {
				r = io.MultiReader(r, errReader{readErr})
			}
			if rng.IntN(2) == 0 {
				r = iotest.HalfReader(r)
			}
			return r
		}
		bc := NewBase64Cleaner(source())
		want, wantErr := io.ReadAll(base64.NewDecoder(base64.RawStdEncoding, bc))
		d := NewBase64Decoder(source())
		got, gotErr := io.ReadAll(d)
		// Where the data is corrupt, how far the cleaner got before the decoder gave up
		// depends on the reads' sizes as well.
		corrupt := errText(wantErr) == "illegal base64 data"
		if !bytes.Equal(got, want) || errText(gotErr) != errText(wantErr) || (!corrupt && fmt.Sprint(d.Errors()) != fmt.Sprint(bc.Errors)) {
			t.Fatalf("input %q:\n got %d bytes, %v, %v\nwant %d bytes, %v, %v", in, len(got), gotErr, d.Errors(), len(want), wantErr, bc.Errors)
		}
	}
}

// wrapBase64 breaks enc into lines of width characters, each ended by CRLF or LF at random.
func wrapBase64(rng *rand.Rand, enc string, width int) []byte {
	var b strings.Builder
	for i := 0; i < len(enc); i += width {
		b.WriteString(enc[i:min(i+width, len(enc))])
		if rng.IntN(2) == 0 {
			b.WriteString("\r\n")
		} else {
			b.WriteString("\n")
		}
	}
	return []byte(b.String())
}
