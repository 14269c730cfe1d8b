package admin

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"
)

// serveAdmin serves a Server for o on a loopback port until stop or the
// end of the test, and returns its base URL.
func serveAdmin(t *testing.T, o Options) (base string, stop func()) {
	t.Helper()
	o.Metrics = NewMetrics("test-1.0", nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = New(o).Serve(ctx, ln); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return "http://" + ln.Addr().String(), stop
}

func fetch(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// The profiler is served only when asked for.
func TestPprofOff(t *testing.T) {
	base, _ := serveAdmin(t, Options{})
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile?seconds=1", "/debug/pprof/cmdline"} {
		if code, _ := fetch(t, base+path); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404 with pprof off", path, code)
		}
	}
}

// With pprof on, the index, a named profile and a CPU profile are
// served.
func TestPprofOn(t *testing.T) {
	base, _ := serveAdmin(t, Options{Pprof: true})
	code, body := fetch(t, base+"/debug/pprof/")
	if code != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("index: %d %.200q", code, body)
	}
	if code, body := fetch(t, base+"/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(string(body), "goroutine profile:") {
		t.Errorf("goroutine profile: %d %.200q", code, body)
	}
	code, body = fetch(t, base+"/debug/pprof/profile?seconds=1")
	if code != http.StatusOK || !bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
		t.Errorf("CPU profile: %d, %d bytes, want 200 and gzip data", code, len(body))
	}
}

// A CPU profile under way when the listener stops ends there and is
// answered, rather than holding up the stop for its whole length.
func TestPprofEndsWithListener(t *testing.T) {
	base, stop := serveAdmin(t, Options{Pprof: true})
	type answer struct {
		code int
		body []byte
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Get(base + "/debug/pprof/profile?seconds=600")
		if err != nil {
			got <- answer{}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- answer{resp.StatusCode, b}
	}()
	testenv.WaitUntil(t, 10*time.Second, "the CPU profile to start", func() (bool, string) {
		_, body := fetch(t, base+"/debug/pprof/goroutine?debug=1")
		return bytes.Contains(body, []byte("net/http/pprof.Profile")), "no goroutine in pprof.Profile"
	})
	start := time.Now()
	stop()
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("stop took %v with a profile under way", d)
	}
	select {
	case a := <-got:
		if a.code != http.StatusOK || !bytes.HasPrefix(a.body, []byte{0x1f, 0x8b}) {
			t.Errorf("the profile cut short: %d, %d bytes, want 200 and gzip data", a.code, len(a.body))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to the profile 10 s after the stop")
	}
}
