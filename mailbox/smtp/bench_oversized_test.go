package smtp

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// BenchmarkOversizedDataRSS sends 60 messages of 30 MB in parallel, from
// three addresses, to a listener with the default limits (25 MiB per
// message, 128 MiB of message data in flight), and reports the process's
// peak RSS (VmHWM, the clients' shared 30 MB body included) and the most
// message data the budget let the listener hold at once.
//
//	go test -run '^$' -bench OversizedDataRSS -benchtime 1x ./mailbox/smtp
func BenchmarkOversizedDataRSS(b *testing.B) {
	const clients, size = 60, 30_000_000
	// One body for all clients, written in slices: io.WriteString would
	// copy it per client.
	body := []byte(message("big", 0) + strings.Repeat(strings.Repeat("x", 998)+"\r\n", size/1000))
	for range b.N {
		ts := startServer(b, Options{MaxConnectionsPerIP: clients})
		var wg sync.WaitGroup
		var mu sync.Mutex
		replies := map[string]int{}
		start := time.Now()
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				nc, err := dialFrom(fmt.Sprintf("127.0.0.%d", 2+i%3), ts.addr)
				if err != nil {
					b.Error(err)
					return
				}
				_ = nc.SetDeadline(time.Now().Add(5 * time.Minute))
				c := gosmtp.NewClient(nc)
				defer c.Close()
				r := code(c.SendMail("a@example.org", []string{"support@example.com"}, bytes.NewReader(body)))
				mu.Lock()
				replies[r]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		b.Logf("%d × 30 MB in %v: replies %v; budget %d MiB, peak held %.1f MiB; process peak RSS %.0f MiB",
			clients, time.Since(start).Round(time.Millisecond), replies, ts.srv.opts.DataBudget.Size()>>20,
			float64(ts.srv.opts.DataBudget.Peak())/(1<<20), float64(peakRSS())/(1<<20))
		b.ReportMetric(float64(peakRSS())/(1<<20), "peakRSS-MiB")
		b.ReportMetric(float64(ts.srv.opts.DataBudget.Peak())/(1<<20), "peakHeld-MiB")
		ts.stop(b)
	}
}

// peakRSS is the process's peak resident set (VmHWM), 0 where /proc
// does not tell.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
