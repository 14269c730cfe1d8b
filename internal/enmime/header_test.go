package enmime

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
)

// TestReadHeaderKeepsNothingPooled reads headers one after another, of
// the pooled size and larger: the values of each must stay as read while
// the next ones reuse the reader's working memory.
func TestReadHeaderKeepsNothingPooled(t *testing.T) {
	type read struct {
		subject, to string
		multi       []string
	}
	var got []read
	for i := range 20 {
		pad := strings.Repeat("x", i*2000) // past pooledHeaderBytes from i = 9
		raw := fmt.Sprintf("Subject: message %d\r\nX-Pad: %s\r\nTo: a%d@example.com,\r\n b%d@example.com\r\n"+
			"Received: one %d\r\nReceived: two %d\r\n\r\nbody", i, pad, i, i, i, i)
		h, err := ReadHeader(bufio.NewReader(strings.NewReader(raw)), &partErrorCollector{&Part{}})
		if err != nil {
			t.Fatal(err)
		}
		if h.Get("X-Pad") != pad {
			t.Fatalf("header %d: X-Pad of %d bytes, want %d", i, len(h.Get("X-Pad")), len(pad))
		}
		got = append(got, read{h.Get("Subject"), h.Get("To"), h.Values("Received")})
	}
	for i, r := range got {
		want := read{fmt.Sprintf("message %d", i), fmt.Sprintf("a%d@example.com, b%d@example.com", i, i),
			[]string{fmt.Sprintf("one %d", i), fmt.Sprintf("two %d", i)}}
		if fmt.Sprint(r) != fmt.Sprint(want) {
			t.Errorf("header %d now reads %q, want %q", i, r, want)
		}
	}
}
