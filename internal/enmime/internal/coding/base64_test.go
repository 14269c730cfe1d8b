package coding

import (
	"bytes"
	"encoding/base64"
	"io"
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
