package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// profiler takes a CPU profile of a benchmarked daemon through its admin
// listener's pprof (admin.pprof): for length from when start is called,
// into file, where `go tool pprof` reads it.
type profiler struct {
	addr, file string
	length     time.Duration
	done       chan error
}

// withProfiler turns pprof on in a daemon configuration, on a free admin
// address, when c asks for a profile; p is nil when it does not.
func withProfiler(cfg string, c common) (string, *profiler, error) {
	if c.cpuprofile == "" {
		return cfg, nil, nil
	}
	addr, err := freeAddr()
	if err != nil {
		return "", nil, err
	}
	on := strings.Replace(cfg, defaultAdmin, fmt.Sprintf(`admin: {listen: %q, pprof: true}`, addr), 1)
	if on == cfg {
		return "", nil, errors.New("cpu profile: the daemon's configuration has no admin line to change")
	}
	return on, &profiler{addr: addr, file: c.cpuprofile, length: c.profileFor, done: make(chan error, 1)}, nil
}

// start begins the profile; the daemon may still be starting, so the
// first connection is tried again for a few seconds.
func (p *profiler) start(ctx context.Context) {
	if p == nil {
		return
	}
	go func() { p.done <- p.take(ctx) }()
}

func (p *profiler) take(ctx context.Context) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.addr, max(int(p.length.Seconds()), 1))
	var resp *http.Response
	for try := 0; ; try++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err = http.DefaultClient.Do(req)
		if err == nil {
			break
		}
		if try == 100 || ctx.Err() != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return fmt.Errorf("cpu profile: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	f, err := os.Create(p.file)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	return errors.Join(err, f.Close())
}

// wait waits for the profile to be written.
func (p *profiler) wait() error {
	if p == nil {
		return nil
	}
	return <-p.done
}
