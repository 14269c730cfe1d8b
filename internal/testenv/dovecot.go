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
	// extra is appended to the configuration.
	extra string
}

// StartDovecot starts a Dovecot for the test and stops it in t.Cleanup.
// It needs the dovecot binary, root (Dovecot drops to its own users) and
// the system user vmail; without them the test is skipped (or fails
// under MAILBRIDGE_E2E=1).
func StartDovecot(t testing.TB) *Dovecot {
	t.Helper()
	return StartDovecotWith(t, "")
}

// StartDovecotWith is StartDovecot with extra lines appended to Dovecot's
// configuration (a namespace, say).
func StartDovecotWith(t testing.TB, extra string) *Dovecot {
	t.Helper()
	d, err := newDovecot(extra)
	var missing *MissingError
	if errors.As(err, &missing) {
		skipMissing(t, "%s", missing.What)
	}
	if err != nil {
		t.Fatal(err)
	}
	d.t = t
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("stop dovecot: %v", err)
		}
	})
	return d
}

// MissingError says what the machine lacks to run a server.
type MissingError struct{ What string }

func (e *MissingError) Error() string { return e.What }

// NewDovecot starts a Dovecot outside a test (the load command uses it).
// Close stops it and removes its directory.
func NewDovecot() (*Dovecot, error) { return newDovecot("") }

func newDovecot(extra string) (*Dovecot, error) {
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		bin = "/usr/sbin/dovecot" // not on a non-root PATH
		if _, err := os.Stat(bin); err != nil {
			return nil, &MissingError{"dovecot is not installed"}
		}
	}
	if os.Geteuid() != 0 {
		return nil, &MissingError{"a private Dovecot needs root to drop to its users"}
	}
	vmail, err := user.Lookup("vmail")
	if err != nil {
		return nil, &MissingError{"no system user vmail"}
	}
	uid, _ := strconv.Atoi(vmail.Uid)
	gid, _ := strconv.Atoi(vmail.Gid)
	port, err := freePort()
	if err != nil {
		return nil, err
	}

	// Not t.TempDir: its parent is 0700, which Dovecot's unprivileged
	// processes cannot traverse. Short, too: base_dir holds unix sockets,
	// whose paths are limited to ~100 bytes.
	dir, err := os.MkdirTemp("", "mbdc-")
	if err != nil {
		return nil, err
	}
	d := &Dovecot{
		Addr:     "127.0.0.1:" + strconv.Itoa(port),
		User:     "support@example.com",
		Password: "secret",
		Dir:      dir,
		bin:      bin,
		conf:     filepath.Join(dir, "dovecot.conf"),
		uid:      uid,
		gid:      gid,
		extra:    extra,
	}
	if err := d.setUp(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := d.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return d, nil
}

func (d *Dovecot) setUp() error {
	if err := os.Chmod(d.Dir, 0o755); err != nil {
		return err
	}
	for _, sub := range []string{"run", "state", "mail", "home"} {
		if err := os.MkdirAll(filepath.Join(d.Dir, sub), 0o755); err != nil {
			return err
		}
	}
	for _, sub := range []string{"mail", "home"} {
		if err := os.Chown(filepath.Join(d.Dir, sub), d.uid, d.gid); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(d.Dir, "users"), []byte(d.User+":{PLAIN}"+d.Password+"\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(d.conf, []byte(d.config()), 0o644)
}

// Close stops the server and removes everything it kept.
func (d *Dovecot) Close() error {
	err := d.Stop()
	return errors.Join(err, os.RemoveAll(d.Dir))
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
`) + d.extra
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
	if err := d.Put(folder, msgs); err != nil {
		d.t.Fatal(err)
	}
}

// Put is Deliver with an error instead of a failed test.
func (d *Dovecot) Put(folder string, msgs [][]byte) error {
	md := d.Maildir(folder)
	for _, sub := range []string{"", "new", "cur", "tmp"} {
		p := filepath.Join(md, sub)
		if err := os.MkdirAll(p, 0o700); err != nil {
			return err
		}
		if err := os.Chown(p, d.uid, d.gid); err != nil {
			return err
		}
	}
	host, _ := os.Hostname()
	now := time.Now().UnixNano()
	for i, raw := range msgs {
		name := fmt.Sprintf("%d.M%dP%d.%s", now/1e9, now%1e9+int64(i), os.Getpid(), host)
		tmp := filepath.Join(md, "tmp", name)
		if err := os.WriteFile(tmp, raw, 0o600); err != nil {
			return err
		}
		if err := os.Chown(tmp, d.uid, d.gid); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(md, "new", name)); err != nil {
			return err
		}
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
