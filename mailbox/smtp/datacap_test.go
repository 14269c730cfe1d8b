package smtp

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// A message's buffer doubles up to a MB, then grows by a quarter, and
// goes to the declared size at once when the client gave one.
func TestNextDataCap(t *testing.T) {
	const kb, mb = 1 << 10, 1 << 20
	for _, tc := range []struct {
		c, size, want int64
	}{
		{0, 0, dataChunk},
		{dataChunk, 0, 2 * dataChunk},
		{512 * kb, 0, mb},
		{mb, 0, mb + mb/4},
		{8 * mb, 0, 10 * mb},
		{0, 10 * kb, 14 * kb},             // declared: a little over it
		{0, 5 * mb, declaredReserve},      // not all before the data shows it
		{declaredReserve, 5 * mb, 2 * mb}, // then doubling towards it,
		{4 * mb, 5 * mb, 5*mb + 4*kb},     // and to the declaration when that is nearer
		{mb, mb + 10*kb, mb + 14*kb},      // just over a MB: not two
		{14 * kb, 10 * kb, dataChunk},     // more than declared: growth as without
		{2 * mb, 10 * kb, 2*mb + mb/2},    // the same, large
	} {
		if got := nextDataCap(tc.c, tc.size); got != tc.want {
			t.Errorf("nextDataCap(%d, %d) = %d, want %d", tc.c, tc.size, got, tc.want)
		}
	}
	// Growth is growth.
	for c := int64(0); c < 64*mb; c = nextDataCap(c, 0) {
		if n := nextDataCap(c, 0); n <= c {
			t.Fatalf("nextDataCap(%d, 0) = %d", c, n)
		}
	}
}

// The session's headers go in front of the message in the room its
// buffer keeps there: the message is not copied.
func TestWithHeadersInPlace(t *testing.T) {
	budget := NewDataBudget(1 << 30)
	buf := &dataBuf{budget: budget}
	data := []byte("Subject: x\r\n\r\nbody\r\n")
	if !budget.tryAcquire(dataChunk) {
		t.Fatal("no budget")
	}
	full := make([]byte, dataPrefix+len(data), dataPrefix+dataChunk)
	copy(full[dataPrefix:], data)
	buf.full, buf.b, buf.held = full, full[dataPrefix:], dataChunk
	ar, rcv := []byte("Authentication-Results: a\r\n"), []byte("Received: from b\r\n")
	want := string(ar) + string(rcv) + string(data)

	copied := buf.withHeaders(false, ar, rcv)
	if string(copied) != want || &copied[len(ar)+len(rcv)] == &buf.b[0] {
		t.Errorf("copy: %q, shares the buffer: %v", copied, &copied[len(ar)+len(rcv)] == &buf.b[0])
	}
	got := buf.withHeaders(true, ar, rcv)
	if string(got) != want || &got[len(ar)+len(rcv)] != &buf.b[0] || cap(got) != len(got) {
		t.Errorf("in place: %q, shares the buffer: %v, cap %d", got, &got[len(ar)+len(rcv)] == &buf.b[0], cap(got))
	}
	// Headers larger than the room: a copy.
	big := make([]byte, dataPrefix)
	if got := buf.withHeaders(true, big, rcv); len(got) != dataPrefix+len(rcv)+len(data) || &got[len(got)-len(data)] == &buf.b[0] {
		t.Errorf("headers beyond the room: %d bytes, in place", len(got))
	}
	buf.release()
	if n := budget.InFlight(); n != 0 {
		t.Errorf("%d bytes of budget held after release", n)
	}
}

// A message read through every step of its buffer's growth arrives byte
// for byte, declared or not, and one of exactly the limit fits.
func TestDataGrowsIntact(t *testing.T) {
	const limit = 1<<20 + 300<<10
	ts := startServer(t, Options{MaxMessageBytes: limit})
	c := dial(t, ts.addr)
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString(message("grows", 0))
	for b.Len() < limit-200 {
		line := make([]byte, rng.IntN(120))
		for i := range line {
			line[i] = byte(' ' + rng.IntN(95))
		}
		b.Write(line)
		b.WriteString("\r\n")
	}
	b.WriteString(strings.Repeat("y", limit-b.Len()-2) + "\r\n")
	want := b.String()
	for _, size := range []int64{0, int64(len(want)), 300 << 10} {
		if err := c.Mail("a@example.org", &gosmtp.MailOptions{Size: size}); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("support@example.com", nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, want); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("SIZE=%d: %v", size, err)
		}
	}
	msgs := ts.ing.messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages queued, want 3", len(msgs))
	}
	for i, m := range msgs {
		if !bytes.HasSuffix(m.Raw, []byte(want)) {
			t.Errorf("message %d: %d bytes queued, not the %d sent", i, len(m.Raw), len(want))
		}
	}
}

// Data past the first buffer goes to chunks, each within the room the
// budget granted, and is joined to one buffer behind the header room.
func TestDataBufSpillJoins(t *testing.T) {
	budget := NewDataBudget(8 << 20)
	buf := &dataBuf{budget: budget}
	buf.full = make([]byte, dataPrefix, dataPrefix+100)
	buf.b, buf.held = buf.full[dataPrefix:], 100
	budget.tryAcquire(100)
	var want []byte
	fill := func(limit int) {
		for len(want) < limit {
			room := buf.free()
			if len(room) == 0 {
				t.Fatalf("no room at %d bytes, room granted %d", len(want), buf.held)
			}
			n := min(len(room), 1000, limit-len(want))
			for i := range room[:n] {
				room[i] = byte(len(want) + i)
			}
			want = append(want, room[:n]...)
			buf.wrote(n)
		}
		if room := buf.free(); len(room) != 0 {
			t.Fatalf("%d bytes of room past the grant", len(room))
		}
	}
	fill(100)
	for _, grant := range []int64{spillChunk + 7, 3*spillChunk - 1, 1} {
		budget.tryAcquire(grant)
		buf.room += grant
		buf.held += grant
		fill(int(buf.held))
	}
	if buf.size() != int64(len(want)) {
		t.Fatalf("size %d, want %d", buf.size(), len(want))
	}
	buf.join()
	if len(buf.spill) != 0 || !bytes.Equal(buf.b, want) || len(buf.full) != dataPrefix+len(want) || &buf.full[dataPrefix] != &buf.b[0] {
		t.Fatalf("joined: %d bytes, %d chunks left, not the data behind the header room", len(buf.b), len(buf.spill))
	}
	buf.release()
	if n := budget.InFlight(); n != 0 {
		t.Errorf("%d bytes of budget held after release", n)
	}
}

// The data budget a message holds covers the memory its data takes: the
// first buffer and every pooled chunk past it, whatever the steps of its
// growth and wherever the data ends.
func TestDataBudgetCoversChunks(t *testing.T) {
	const limit = 8 << 20
	for _, declared := range []int64{0, 10, 100 << 10, 1 << 20, 3<<20 + 5} {
		for _, size := range []int64{64<<10 + 1, 128<<10 + 1, 300 << 10, 1<<20 + 1, 1<<20 + 5<<10, 3<<20 + 7, limit} {
			budget := NewDataBudget(1 << 30)
			s := &session{srv: &Server{opts: Options{MaxMessageBytes: limit, DataBudget: budget, DataBudgetWait: time.Second}, ctx: context.Background()}}
			tx := &transaction{size: declared}
			buf := &dataBuf{budget: budget}
			for read := int64(0); read < size; {
				room := buf.free()
				if len(room) == 0 {
					if err := s.grow(buf, tx, time.Now().Add(time.Minute)); err != nil {
						t.Fatal(err)
					}
					continue
				}
				n := min(int64(len(room)), size-read)
				buf.wrote(int(n))
				read += n
			}
			memory := int64(cap(buf.b))
			for _, c := range buf.spill {
				if c.chunk != nil {
					memory += spillChunk
				} else {
					memory += int64(cap(c.data))
				}
			}
			if memory > buf.held {
				t.Errorf("SIZE=%d, %d bytes: the data takes %d bytes of memory, the budget holds %d", declared, size, memory, buf.held)
			}
			buf.release()
			if n := budget.InFlight(); n != 0 {
				t.Errorf("SIZE=%d, %d bytes: %d bytes of budget held after release", declared, size, n)
			}
		}
	}
}
