package mapper_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/enneo/mailbridge/mapper"
)

func poolCorpus(t *testing.T) [][]byte {
	files, _ := filepath.Glob("testdata/*.eml")
	var msgs [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, b)
	}
	// Synthetic: large parts of unknown size (>32 KiB), long headers, nested multiparts.
	for i := range 12 {
		pad := strings.Repeat(fmt.Sprintf("line %d abcdefghijklmnopqrstuvwxyz\r\n", i), 100*i+1)
		hpad := strings.Repeat("h", 3000*i)
		raw := fmt.Sprintf("From: a%d@example.com\r\nTo: b%d@example.com\r\nSubject: msg %d\r\nX-Pad: %s\r\n"+
			"Date: Mon, 2 Mar 2026 10:%02d:00 +0100\r\nMessage-ID: <m%d@x>\r\nContent-Type: multipart/mixed; boundary=\"outer%d\"\r\n\r\n"+
			"--outer%d\r\nContent-Type: multipart/alternative; boundary=inner%d\r\n\r\n"+
			"--inner%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain %d\r\n%s\r\n"+
			"--inner%d\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html %d</p>%s\r\n--inner%d--\r\n"+
			"--outer%d\r\nContent-Type: application/octet-stream; name=\"f%d.bin\"\r\nContent-Disposition: attachment; filename=\"f%d.bin\"\r\n\r\n%s\r\n--outer%d--\r\n",
			i, i, i, hpad, i, i, i, i, i, i, i, pad, i, i, pad, i, i, i, i, pad, i)
		msgs = append(msgs, []byte(raw))
	}
	return msgs
}

func poolMap(raw []byte) string {
	res, err := mapper.Map(context.Background(), raw, goldenOptions("x"))
	h := mapper.ParseHeader(raw)
	var sig any
	if res != nil {
		sig = mapper.ReadSignals(raw, res, mapper.Envelope{})
	}
	b, _ := json.Marshal(struct {
		R   any
		E   string
		H   string
		Sig any
	}{res, fmt.Sprint(err), fmt.Sprintf("%+v", h), sig})
	return string(b)
}

func TestMapConcurrentMatchesSequential(t *testing.T) {
	msgs := poolCorpus(t)
	want := make([]string, len(msgs))
	for i, m := range msgs {
		want[i] = poolMap(m)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 3 * len(msgs) {
				i := (k*7 + g*13) % len(msgs)
				if got := poolMap(msgs[i]); got != want[i] {
					select {
					case errs <- fmt.Sprintf("message %d differs under concurrency:\n got %.300s\nwant %.300s", i, got, want[i]):
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
