package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"
)

// instance is one mailbridge process of the cluster, restarted under the
// same configuration (and SMTP address) after each kill.
type instance struct {
	n      int
	config string // path
	smtp   string // its SMTP listener
	log    string // path; every run of the process appends

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error
}

// cluster runs the instances of one test.
type cluster struct {
	t         *testing.T
	bin       string
	instances []*instance
}

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBuilds()
	os.Exit(code)
}

// newCluster writes one configuration per instance (config(i, smtpAddr))
// and starts them all.
func newCluster(t *testing.T, n int, config func(i int, smtp string) string) *cluster {
	t.Helper()
	c := &cluster{t: t, bin: testenv.MailbridgeBinary(t)}
	dir := t.TempDir()
	for i := range n {
		addr := testenv.FreeAddr(t)
		in := &instance{
			n:      i,
			config: filepath.Join(dir, fmt.Sprintf("config%d.yaml", i)),
			smtp:   addr,
			log:    filepath.Join(dir, fmt.Sprintf("mailbridge%d.log", i)),
		}
		if err := os.WriteFile(in.config, []byte(config(i, addr)), 0o600); err != nil {
			t.Fatal(err)
		}
		c.instances = append(c.instances, in)
	}
	t.Cleanup(func() {
		for _, in := range c.instances {
			in.kill()
		}
		if t.Failed() {
			for _, in := range c.instances {
				t.Logf("instance %d log (end):\n%s", in.n, tail(in.log, 4000))
			}
		}
	})
	for _, in := range c.instances {
		if err := c.start(in); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// start runs the instance and waits until its SMTP listener accepts.
func (c *cluster) start(in *instance) error {
	logf, err := os.OpenFile(in.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	// The API fails a fifth of all calls, the subchannel check's among
	// them: start anyway, as an operator would during an enneo incident.
	cmd := exec.Command(c.bin, "run", "-c", in.config, "--start-without-api")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logf.Close() }()
	in.mu.Lock()
	in.cmd, in.done = cmd, done
	in.mu.Unlock()

	for deadline := time.Now().Add(20 * time.Second); ; {
		conn, err := net.DialTimeout("tcp", in.smtp, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("instance %d exited at start (%v): %s", in.n, err, lastLine(tail(in.log, 2000)))
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("instance %d did not listen on %s within 20s: %s", in.n, in.smtp, tail(in.log, 2000))
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (in *instance) kill() {
	in.mu.Lock()
	cmd, done := in.cmd, in.done
	in.cmd = nil
	in.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// signal sends sig to the running process.
func (in *instance) signal(sig os.Signal) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd != nil {
		_ = in.cmd.Process.Signal(sig)
	}
}

// stop asks for a graceful exit (SIGTERM) and reports how it went.
func (in *instance) stop() error {
	in.mu.Lock()
	cmd, done := in.cmd, in.done
	in.cmd = nil
	in.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		return errors.Join(errors.New("ignored SIGTERM for 60s"), <-done)
	}
}

// killLoop kills an instance every interval, in turn, and restarts it,
// until ctx ends; it returns the number of kills the cluster survived.
func (c *cluster) killLoop(ctx context.Context, interval time.Duration) (kills int, err error) {
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return kills, nil
		case <-time.After(interval):
		}
		in := c.instances[i%len(c.instances)]
		in.kill()
		kills++
		if err := c.restart(in); err != nil {
			return kills, err
		}
	}
}

// restart starts a killed instance again the way a supervisor
// (systemd's Restart=on-failure, a Kubernetes restart) would: a start
// that fails, say because PostgreSQL is restarting too, is tried again
// after a second, a few times.
func (c *cluster) restart(in *instance) error {
	var err error
	for range 10 {
		if err = c.start(in); err == nil {
			return nil
		}
		c.t.Logf("restart of instance %d failed, trying again: %v", in.n, err)
		time.Sleep(time.Second)
	}
	return err
}

// lastLine is the last line of a log: the daemon's reason for exiting.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// smtpAddrs are the listeners of all instances.
func (c *cluster) smtpAddrs() []string {
	var a []string
	for _, in := range c.instances {
		a = append(a, in.smtp)
	}
	return a
}

// stopAll stops every instance gracefully.
func (c *cluster) stopAll() {
	c.t.Helper()
	for _, in := range c.instances {
		if err := in.stop(); err != nil {
			c.t.Errorf("instance %d: graceful stop: %v\n%s", in.n, err, tail(in.log, 2000))
		}
	}
}

// logs is every instance's log, for counting lines.
func (c *cluster) logs() string {
	var b strings.Builder
	for _, in := range c.instances {
		data, _ := os.ReadFile(in.log)
		b.Write(data)
	}
	return b.String()
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
