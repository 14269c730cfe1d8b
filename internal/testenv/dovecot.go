// Package testenv starts real mail servers for end-to-end tests.
package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Dovecot is a private Dovecot IMAP server on a loopback port, with one
// passwd-file user whose mail is a Maildir owned by the system user vmail.
type Dovecot struct {
	Addr     string // 127.0.0.1:port, plain IMAP (no TLS)
	User     string
	Password string
	Dir      string // everything lives here: config, state, logs, mail

	t    testing.TB
	bin  string
	conf string
	uid  int
	gid  int
	pid  int // the master's, also its process group; 0 when stopped
}

// skipWithoutDovecot skips the test, or fails it when end-to-end tests are
// required (MAILBRIDGE_E2E=1, as in CI).
func skipWithoutDovecot(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("MAILBRIDGE_E2E") == "1" {
		t.Fatalf("MAILBRIDGE_E2E=1 but "+format, args...)
	}
	t.Skipf(format+" (scripts/install-test-deps installs it)", args...)
}

// StartDovecot starts a Dovecot for the test and stops it in t.Cleanup.
// It needs the dovecot binary, root (Dovecot drops to its own users) and
// the system user vmail.
func StartDovecot(t testing.TB) *Dovecot {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		bin = "/usr/sbin/dovecot" // not on a non-root PATH
		if _, err := os.Stat(bin); err != nil {
			skipWithoutDovecot(t, "dovecot is not installed")
		}
	}
	if os.Geteuid() != 0 {
		skipWithoutDovecot(t, "a private Dovecot needs root to drop to its users")
	}
	vmail, err := user.Lookup("vmail")
	if err != nil {
		skipWithoutDovecot(t, "no system user vmail")
	}
	uid, _ := strconv.Atoi(vmail.Uid)
	gid, _ := strconv.Atoi(vmail.Gid)

	// Not t.TempDir: its parent is 0700, which Dovecot's unprivileged
	// processes cannot traverse. Short, too: base_dir holds unix sockets,
	// whose paths are limited to ~100 bytes.
	dir, err := os.MkdirTemp("", "mbdc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	d := &Dovecot{
		Addr:     "127.0.0.1:" + strconv.Itoa(dovecotPort(t)),
		User:     "support@example.com",
		Password: "secret",
		Dir:      dir,
		t:        t,
		bin:      bin,
		conf:     filepath.Join(dir, "dovecot.conf"),
		uid:      uid,
		gid:      gid,
	}
	for _, sub := range []string{"run", "state", "mail", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range []string{"mail", "home"} {
		if err := os.Chown(filepath.Join(dir, sub), uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	dovecotWriteFile(t, filepath.Join(dir, "users"), d.User+":{PLAIN}"+d.Password+"\n", 0o644)
	dovecotWriteFile(t, d.conf, d.config(), 0o644)
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("stop dovecot: %v", err)
		}
	})
	return d
}

func (d *Dovecot) config() string {
	_, port, _ := net.SplitHostPort(d.Addr)
	r := strings.NewReplacer("DIR", d.Dir, "PORT", port)
	return r.Replace(`# A throwaway Dovecot for mailbridge's tests.
base_dir = DIR/run
state_dir = DIR/state
log_path = DIR/dovecot.log
info_log_path = DIR/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
default_internal_group = dovecot
first_valid_uid = 0
mail_location = maildir:DIR/mail/%u
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u DIR/users
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=DIR/home/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = PORT
  }
  inet_listener imaps {
    port = 0
  }
  chroot =
}
service anvil {
  chroot =
}
`)
}

// Start starts the server (again) and waits until it accepts connections.
func (d *Dovecot) Start() error {
	// The daemon inherits stdout and stderr: they must be files, not the
	// pipes CombinedOutput makes, or waiting for the command would wait
	// for the daemon to exit.
	outPath := filepath.Join(d.Dir, "start.out")
	out, err := os.Create(outPath)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(d.bin, "-c", d.conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(outPath)
		return fmt.Errorf("dovecot: %v: %s\n%s", err, msg, d.Log())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		// master.pid is written a moment after dovecot -c returns, and
		// Stop needs it.
		b, _ := os.ReadFile(filepath.Join(d.Dir, "run", "master.pid"))
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		c, err := net.DialTimeout("tcp", d.Addr, time.Second)
		if err == nil {
			c.Close()
		}
		if err == nil && pid > 1 {
			d.pid = pid
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dovecot does not listen on %s: %v\n%s", d.Addr, err, d.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the server the hard way, as a crash would: the master and
// every process it started (they share its process group) are killed, so
// open IMAP connections die at once. A graceful "doveadm stop" would leave
// logged-in sessions running. Stopping a stopped server is not an error.
func (d *Dovecot) Stop() error {
	if d.pid == 0 {
		return nil
	}
	if err := syscall.Kill(-d.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill dovecot: %w", err)
	}
	d.pid = 0
	// The killed master may linger as a zombie (nothing reaps it here), and
	// Dovecot refuses to start while the pid in master.pid answers.
	if err := os.Remove(filepath.Join(d.Dir, "run", "master.pid")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", d.Addr, 200*time.Millisecond)
		if err != nil {
			return nil
		}
		c.Close()
		if time.Now().After(deadline) {
			return fmt.Errorf("dovecot still listens on %s", d.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Log returns Dovecot's log so far.
func (d *Dovecot) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "dovecot.log"))
	return string(b)
}

// Maildir returns the Maildir of folder ("INBOX" or a Maildir++ sub-folder).
func (d *Dovecot) Maildir(folder string) string {
	root := filepath.Join(d.Dir, "mail", d.User)
	if strings.EqualFold(folder, "INBOX") {
		return root
	}
	return filepath.Join(root, "."+folder)
}

// Deliver writes messages straight into folder's Maildir new/, as a local
// delivery agent would; Dovecot indexes them on the next SELECT. This fills
// a folder with thousands of messages in well under a second.
func (d *Dovecot) Deliver(folder string, msgs [][]byte) {
	d.t.Helper()
	md := d.Maildir(folder)
	for _, sub := range []string{"", "new", "cur", "tmp"} {
		p := filepath.Join(md, sub)
		if err := os.MkdirAll(p, 0o700); err != nil {
			d.t.Fatal(err)
		}
		if err := os.Chown(p, d.uid, d.gid); err != nil {
			d.t.Fatal(err)
		}
	}
	host, _ := os.Hostname()
	now := time.Now().UnixNano()
	for i, raw := range msgs {
		name := fmt.Sprintf("%d.M%dP%d.%s", now/1e9, now%1e9+int64(i), os.Getpid(), host)
		tmp := filepath.Join(md, "tmp", name)
		if err := os.WriteFile(tmp, raw, 0o600); err != nil {
			d.t.Fatal(err)
		}
		if err := os.Chown(tmp, d.uid, d.gid); err != nil {
			d.t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(md, "new", name)); err != nil {
			d.t.Fatal(err)
		}
	}
}

func dovecotPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func dovecotWriteFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
