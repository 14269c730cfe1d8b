package mapper

import (
	"bufio"
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/enneo/mailbridge/internal/enmime"
)

// readHeader's pooled readers give, in any order and from any goroutine,
// what a fresh reader of each message gives.
func TestReadHeaderPooled(t *testing.T) {
	var refs strings.Builder
	for i := range 300 {
		fmt.Fprintf(&refs, "\r\n <ref%d@example.org>", i)
	}
	msgs := [][]byte{
		[]byte("From: a@example.org\r\nSubject: long\r\nReferences:" + refs.String() + "\r\nMessage-ID: <long@example.org>\r\n\r\nbody\r\n"),
		[]byte("Subject: short\r\nMessage-ID: <s@x>\r\n\r\n"),
		[]byte("Subject: no end of header"),
		[]byte(""),
		[]byte("not a header at all\r\n\r\nbody"),
		[]byte("X-Long: " + strings.Repeat("x", 9000) + "\r\nSubject: after a long line\r\n\r\n"),
	}
	want := make([]any, len(msgs))
	for i, m := range msgs {
		h, _ := enmime.ReadHeader(bufio.NewReader(bytes.NewReader(m)), discard{})
		want[i] = h
	}
	check := func(i int) error {
		if got := readHeader(msgs[i]); !reflect.DeepEqual(any(got), want[i]) {
			return fmt.Errorf("message %d: readHeader = %v, want %v", i, got, want[i])
		}
		return nil
	}
	for round := range 3 {
		for i := range msgs {
			if err := check((i + round) % len(msgs)); err != nil {
				t.Fatal(err)
			}
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if err := check((i + g) % len(msgs)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
