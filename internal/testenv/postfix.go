package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Postfix is a private Postfix instance that relays one domain to an SMTP
// server under test. It has its own configuration, queue and log
// directories, so /etc/postfix and any system instance stay untouched. It
// listens on no port: mail enters through its sendmail command.
type Postfix struct {
	Dir string // config in Dir/etc, queue in Dir/queue, log in Dir/postfix.log

	t       testing.TB
	conf    string
	postfix string
}

// StartPostfix starts Postfix relaying domain to the SMTP server at
// relayTo (host:port) and stops it in t.Cleanup. Deferred mail is retried
// after about a second, so that tests of 4xx answers stay short. It needs
// root and the postfix user and postdrop group of Debian's package.
func StartPostfix(t testing.TB, domain, relayTo string) *Postfix {
	t.Helper()
	p := &Postfix{t: t, postfix: LookTool(t, "postfix", "/usr/sbin/postfix")}
	postconf := LookTool(t, "postconf", "/usr/sbin/postconf")
	if os.Geteuid() != 0 {
		t.Skip("Postfix needs root")
	}
	pu, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("no postfix user: %v", err)
	}
	uid, _ := strconv.Atoi(pu.Uid)

	// Not t.TempDir: its parent is 0700, and Postfix's daemons run as the
	// postfix user inside the queue directory.
	dir, err := os.MkdirTemp("", "mbpf-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p.Dir, p.conf = dir, filepath.Join(dir, "etc")
	for _, d := range []string{p.conf, filepath.Join(dir, "queue"), filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(dir, "data"), uid, -1); err != nil {
		t.Fatal(err)
	}
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		t.Fatalf("Debian's master.cf: %v", err)
	}
	postfixWrite(t, filepath.Join(p.conf, "master.cf"), string(master))
	postfixWrite(t, filepath.Join(p.conf, "main.cf"), "")
	postfixWrite(t, filepath.Join(p.conf, "transport"), fmt.Sprintf("%s smtp:[%s\n", domain, postfixRelayHost(relayTo)))

	postfixRun(t, postconf, "-c", p.conf, "-e",
		"compatibility_level=3.6",
		"queue_directory="+filepath.Join(dir, "queue"),
		"data_directory="+filepath.Join(dir, "data"),
		"maillog_file="+p.Log(),
		"maillog_file_prefixes="+dir,
		"myhostname=postfix.test",
		"mydestination=",
		"inet_interfaces=loopback-only",
		"inet_protocols=ipv4",
		"relay_domains="+domain,
		"transport_maps=texthash:"+filepath.Join(p.conf, "transport"),
		"smtp_tls_security_level=none",
		"local_transport=error:no local delivery in tests",
		"alias_maps=", "alias_database=",
		// Retry deferred mail within seconds, not minutes.
		"queue_run_delay=1s", "minimal_backoff_time=1s", "maximal_backoff_time=2s",
		"smtp_connect_timeout=5s",
	)
	// No smtpd: nothing needs to reach this instance but sendmail, and
	// port 25 may belong to the system's own Postfix.
	postfixRun(t, postconf, "-c", p.conf, "-M#", "smtp/inet")
	// No chroot: the queue directory holds nothing a chroot would need.
	postfixRun(t, postconf, "-c", p.conf, "-F", "*/*/chroot = n")
	postfixRun(t, p.postfix, "-c", p.conf, "start")
	t.Cleanup(func() {
		if out, err := exec.Command(p.postfix, "-c", p.conf, "stop").CombinedOutput(); err != nil {
			t.Logf("postfix stop: %v\n%s", err, out)
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.Log())
			t.Logf("postfix log:\n%s", b)
		}
	})
	return p
}

// postfixRelayHost turns 127.0.0.1:2525 into 127.0.0.1]:2525 for smtp:[host]:port.
func postfixRelayHost(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	return addr[:i] + "]" + addr[i:]
}

// Log is the path of Postfix's log file.
func (p *Postfix) Log() string { return filepath.Join(p.Dir, "postfix.log") }

// Sendmail injects msg with Postfix's sendmail command.
func (p *Postfix) Sendmail(from string, to []string, msg string) {
	p.t.Helper()
	sendmail := LookTool(p.t, "sendmail", "/usr/sbin/sendmail")
	args := append([]string{"-C", p.conf, "-f", from, "--"}, to...)
	cmd := exec.Command(sendmail, args...)
	cmd.Stdin = strings.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("sendmail: %v\n%s", err, out)
	}
}

// Flush asks Postfix to retry deferred mail now (postqueue -f).
func (p *Postfix) Flush() {
	p.t.Helper()
	postfixRun(p.t, LookTool(p.t, "postqueue", "/usr/sbin/postqueue"), "-c", p.conf, "-f")
}

// WaitLog waits until Postfix's log contains s and returns the log.
func (p *Postfix) WaitLog(s string, timeout time.Duration) string {
	p.t.Helper()
	var log string
	WaitUntil(p.t, timeout, fmt.Sprintf("%q in the postfix log", s), func() (bool, string) {
		b, _ := os.ReadFile(p.Log())
		log = string(b)
		return strings.Contains(log, s), "the log:\n" + log
	})
	return log
}

func postfixRun(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
}

func postfixWrite(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
