package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// daemon is a `mailbridge run` child process. Running the real binary,
// not the pipeline in this process, keeps the load generator's CPU and
// memory out of the daemon's figures.
type daemon struct {
	name string // for messages: mailbridge, mailpit
	cmd  *exec.Cmd
	log  string
	done chan error

	stopOnce sync.Once
	stopErr  error
}

// mailbridgeBinary returns bin, or builds cmd/mailbridge into dir when
// bin is empty (mailbench runs inside the module).
func mailbridgeBinary(ctx context.Context, bin, dir string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	out := filepath.Join(dir, "mailbridge")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/enneo/mailbridge/cmd/mailbridge")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build mailbridge (run inside the module, or pass -mailbridge): %w", err)
	}
	return out, nil
}

// startDaemon runs bin with the config text in dir and waits until addr
// (the SMTP listener, or "" for none) accepts connections.
func startDaemon(ctx context.Context, bin, dir, config, addr string) (*daemon, error) {
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		return nil, err
	}
	return startProcess(ctx, exec.Command(bin, "run", "-c", cfg), dir, "mailbridge", addr)
}

// startProcess runs cmd in dir, its output to name.log there, and waits
// until addr (or nothing, when "") accepts connections.
func startProcess(ctx context.Context, cmd *exec.Cmd, dir, name, addr string) (*daemon, error) {
	d := &daemon{name: name, cmd: cmd, log: filepath.Join(dir, name+".log"), done: make(chan error, 1)}
	logf, err := os.Create(d.log)
	if err != nil {
		return nil, err
	}
	d.cmd.Dir = dir
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { d.done <- d.cmd.Wait(); logf.Close() }()
	if addr == "" {
		return d, nil
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return d, nil
		}
		select {
		case err := <-d.done:
			return nil, fmt.Errorf("%s exited before listening (%v): %s", d.name, err, d.tail())
		case <-ctx.Done():
			d.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("%s did not listen on %s within 15s: %s", d.name, addr, d.tail())
		}
	}
}

// stop sends SIGTERM and waits for a graceful exit, killing after 30 s.
// Later calls return the first one's result.
func (d *daemon) stop() error {
	d.stopOnce.Do(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case d.stopErr = <-d.done:
		case <-time.After(30 * time.Second):
			_ = d.cmd.Process.Kill()
			d.stopErr = errors.Join(fmt.Errorf("%s ignored SIGTERM for 30s", d.name), <-d.done)
		}
	})
	return d.stopErr
}

// tail is the end of the daemon's log, for error messages.
func (d *daemon) tail() string {
	b, _ := os.ReadFile(d.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// usage is what the daemon has consumed so far: peak RSS (VmHWM) and CPU
// time, read from /proc. Linux only; zero elsewhere.
type usage struct {
	PeakRSS int64 // bytes
	CPU     time.Duration
}

func (d *daemon) usage() usage { return procUsage(d.cmd.Process.Pid) }

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

func procUsage(pid int) usage {
	var u usage
	p := "/proc/" + strconv.Itoa(pid)
	if b, err := os.ReadFile(p + "/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				u.PeakRSS = kb << 10
			}
		}
	}
	if b, err := os.ReadFile(p + "/stat"); err == nil {
		// The command name (field 2) may hold spaces; fields after it don't.
		if i := strings.LastIndexByte(string(b), ')'); i > 0 {
			f := strings.Fields(string(b[i+1:]))
			if len(f) > 12 {
				ut, _ := strconv.ParseInt(f[11], 10, 64) // utime, field 14
				st, _ := strconv.ParseInt(f[12], 10, 64) // stime, field 15
				u.CPU = time.Duration(ut+st) * time.Second / clockTicks
			}
		}
	}
	return u
}

// freeAddr returns a loopback address no one listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// defaultAdmin is a benchmarked daemon's admin listener, on any free
// port, unless withAdmin or withProfiler moves it.
const defaultAdmin = `admin: {listen: "127.0.0.1:0"}`

// daemonConfig is the part of a benchmarked daemon's configuration that
// is not about its sources: a private queue, the stub API, one subchannel.
func daemonConfig(dir, apiURL string, c common) string {
	return fmt.Sprintf(`log: {level: warn}
`+defaultAdmin+`
%sapi:
  baseURL: %s
  token: mailbench
  timeout: 30s
delivery:
  workers: %d
%s# Every bench message comes from one sender: a load, not a mail loop.
mailSense: {loopBreaker: {max: 0}}
subchannels:
  - id: 1
    name: Bench
`, storeConfig(dir, c.postgres), apiURL, c.workers, inflightConfig(c.inflight))
}

func inflightConfig(n int64) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf("  inflightBytes: %d\n", n)
}
