package smtp

import (
	"bufio"
	"bytes"
	"io"
	"testing"
)

// What a client pipelines after the end of the data, read past the
// bufio.Reader, waits in the pushback until the commands are read: no
// more of it than one read past the bufio.Reader brings, however large the
// caller's buffer (a message buffer grown to a declared SIZE) and however
// much the client sent at once.
func TestDataReadPastEndIsBounded(t *testing.T) {
	pipelined := bytes.Repeat([]byte("NOOP\r\n"), 1<<20) // 6 MB of commands
	input := append([]byte("Subject: x\r\n\r\nbody\r\n.\r\n"), pipelined...)
	pb := &pushback{r: bytes.NewReader(input)}
	dr := &dataReader{r: bufio.NewReaderSize(pb, 4096), direct: pb}
	buf := make([]byte, 25<<20)
	n, err := dr.Read(buf)
	for err == nil {
		var m int
		m, err = dr.Read(buf[n:])
		n += m
	}
	if err != io.EOF || string(buf[:n]) != "Subject: x\r\n\r\nbody\r\n" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if len(pb.back) > directMax {
		t.Errorf("%d bytes past the data's end held back, more than %d", len(pb.back), directMax)
	}
	// The commands come next, all of them, in order.
	rest, err := io.ReadAll(dr.r)
	if err != nil || !bytes.Equal(rest, pipelined) {
		t.Fatalf("after the data: %d bytes, %v; want the %d pipelined", len(rest), err, len(pipelined))
	}
}
