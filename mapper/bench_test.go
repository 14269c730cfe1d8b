package mapper_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo/mailbridge/mapper"
)

// multipartMessage builds a typical help-desk mail: text and HTML
// alternatives plus one attachment of attachSize bytes: 20 KB in all for
// attachSize 11 KiB.
func multipartMessage(attachSize int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	att := make([]byte, attachSize)
	for i := range att {
		att[i] = byte(rng.IntN(256))
	}
	para := strings.Repeat("Sehr geehrte Damen und Herren, mein Zählerstand ist 12345. ", 20)
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: \"Jürgen Müller\" <jm@example.org>\r\nTo: support@example.com\r\n"+
		"Subject: =?UTF-8?Q?Z=C3=A4hlerstand?=\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n"+
		"Message-ID: <bench@example.org>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n"+
		"--m\r\nContent-Type: multipart/alternative; boundary=\"a\"\r\n\r\n"+
		"--a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"+
		"--a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>%s</p><p>%s</p></body></html>\r\n--a--\r\n"+
		"--m\r\nContent-Type: application/pdf; name=\"z.pdf\"\r\nContent-Disposition: attachment; filename=\"z.pdf\"\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\n", para, para, para)
	enc := base64.StdEncoding.EncodeToString(att)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--m--\r\n")
	return b.Bytes()
}

// BenchmarkMap20KB is parse+map+JSON encode of a 20 KB multipart message
// (target: 3,000 messages/s on one core; run with -cpu 1).
func BenchmarkMap20KB(b *testing.B) {
	benchMap(b, multipartMessage(11<<10))
}

// benchMap maps raw and encodes its payload to nowhere, b.N times.
func benchMap(b *testing.B, raw []byte) {
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := mapper.Map(context.Background(), raw, goldenOptions("bench"))
		if err != nil {
			b.Fatal(err)
		}
		if err := res.Conversation.WriteJSON(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkMapPlain20KB is parse+map+JSON encode of a 20 KB plain-text
// mail, the kind mailbench sends: no parts, so the text is turned into
// HTML and goes into the payload three times (body, bodyPlain, bodyClean).
func BenchmarkMapPlain20KB(b *testing.B) {
	benchMap(b, plainMessage(20<<10))
}

// BenchmarkMapPlain1MB is BenchmarkMapPlain20KB for a 1 MiB text, the
// size of mailbench's large mail: each body field is cut at the field
// limit and the full text goes along as a base64 attachment.
func BenchmarkMapPlain1MB(b *testing.B) {
	benchMap(b, plainMessage(1<<20))
}

// plainMessage is a plain-text mail of about size bytes of text.
func plainMessage(size int) []byte {
	line := "Hello, the invoice of last month shows a charge I do not recognise.\r\n"
	return []byte("From: Customer <customer@example.org>\r\nTo: support@example.com\r\n" +
		"Subject: Invoice question\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n" +
		"Message-ID: <plain@example.org>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\n" + strings.Repeat(line, size/len(line)))
}

// BenchmarkEncodePlain20KB and BenchmarkEncodePlain1MB measure the JSON
// encoding of a mapped plain-text mail alone: the payload written to
// nowhere.
func BenchmarkEncodePlain20KB(b *testing.B) { benchEncode(b, plainMessage(20<<10)) }

func BenchmarkEncodePlain1MB(b *testing.B) { benchEncode(b, plainMessage(1<<20)) }

func benchEncode(b *testing.B, raw []byte) {
	res, err := mapper.Map(context.Background(), raw, goldenOptions("bench"))
	if err != nil {
		b.Fatal(err)
	}
	n, err := res.Conversation.Size()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		if err := res.Conversation.WriteJSON(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMap20MBAttachment measures the peak heap of parse+map+JSON
// encode of a message with a 20 MB attachment, the message itself
// included, as a multiple of the message's size (target: at most 3x). The
// JSON goes to io.Discard as it would stream to the API. B/op bounds the
// peak from above where sampling misses a spike.
func BenchmarkMap20MBAttachment(b *testing.B) {
	raw := multipartMessage(20 << 20)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	var peak uint64
	for b.Loop() {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		stop := sampleHeap(&peak, base.HeapAlloc)
		res, err := mapper.Map(context.Background(), raw, goldenOptions("bench"))
		if err != nil {
			b.Fatal(err)
		}
		if err := res.Conversation.WriteJSON(io.Discard); err != nil {
			b.Fatal(err)
		}
		runtime.KeepAlive(res)
		stop()
	}
	// The raw message is on the heap throughout (the queue hands it over
	// as bytes), so it counts towards the peak.
	total := float64(peak) + float64(len(raw))
	b.ReportMetric(total/float64(len(raw)), "peak-heap/msg-size")
	b.ReportMetric(total/(1<<20), "peak-heap-MB")
}

// sampleHeap records in peak the highest heap growth over base seen until
// stop is called. Sampling every 200µs misses short spikes, so the GC is
// also told to collect often enough for HeapAlloc to track live data.
func sampleHeap(peak *uint64, base uint64) (stop func()) {
	var done atomic.Bool
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		for !done.Load() {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > base && ms.HeapAlloc-base > *peak {
				*peak = ms.HeapAlloc - base
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	return func() { done.Store(true); <-finished }
}

// BenchmarkMap20KBParallel is the same work on every core, as the
// daemon's delivery workers do it.
func BenchmarkMap20KBParallel(b *testing.B) {
	raw := multipartMessage(11 << 10)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := mapper.Map(context.Background(), raw, goldenOptions("bench"))
			if err != nil {
				b.Error(err)
				return
			}
			if err := res.Conversation.WriteJSON(io.Discard); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
