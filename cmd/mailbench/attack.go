package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The attacks run beside an SMTP benchmark: the MTA's mail comes from
// 127.0.0.1, the attackers from other loopback addresses (all of
// 127.0.0.0/8 is local on Linux).
const (
	attackNone = ""
	attackAuth = "auth" // AUTH PLAIN guessing from 40 connections, 127.0.0.2–41
	attackIdle = "idle" // 1,000 connections that EHLO and then NOOP every few seconds
)

const (
	authAttackers = 40
	idleAttackers = 1000
	// attackMaxRun stops an attack that its benchmark failed to stop.
	attackMaxRun = 30 * time.Minute
)

// attackUser is the account the daemon has and the guessers aim at.
const attackUser, attackPassword = "relay", "correct horse battery staple"

// attackSMTPConfig is smtp.users for the attacked daemon: a bcrypt hash at
// the default cost, as htpasswd -B makes.
func attackSMTPConfig() (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(attackPassword), bcrypt.DefaultCost)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("  users:\n    - username: %s\n      passwordHash: %q\n", attackUser, h), nil
}

// attack is one running attack; stop ends it and reports what it did.
type attack struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	attempts atomic.Int64 // AUTH commands answered, or NOOPs answered
	conns    atomic.Int64 // connections opened
}

func startAttack(ctx context.Context, kind, addr string) *attack {
	a := &attack{stop: make(chan struct{})}
	deadline := time.Now().Add(attackMaxRun)
	switch kind {
	case attackAuth:
		for i := range authAttackers {
			ip := net.IPv4(127, 0, 0, byte(2+i))
			a.wg.Go(func() { a.guess(ctx, addr, ip, i, deadline) })
		}
	case attackIdle:
		for i := range idleAttackers {
			// 127.0.0.42–254: 213 addresses, at most 5 connections each.
			ip := net.IPv4(127, 0, 0, byte(42+i%213))
			a.wg.Go(func() { a.idle(ctx, addr, ip, deadline) })
		}
	}
	return a
}

func (a *attack) done(ctx context.Context, deadline time.Time) bool {
	select {
	case <-a.stop:
		return true
	case <-ctx.Done():
		return true
	default:
		return time.Now().After(deadline)
	}
}

func (a *attack) dial(addr string, ip net.IP) (net.Conn, *bufio.Reader, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: ip}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	a.conns.Add(1)
	go func() { <-a.stop; c.Close() }() // unblocks reads when the run ends
	r := bufio.NewReader(c)
	if _, err := readReply(c, r); err != nil {
		c.Close()
		return nil, nil, err
	}
	if _, err := command(c, r, "EHLO attacker.example"); err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, r, nil
}

// guess sends AUTH PLAIN with wrong passwords, half of them for the real
// user name and half for names that do not exist, reconnecting whenever
// the daemon hangs up, until stopped.
func (a *attack) guess(ctx context.Context, addr string, ip net.IP, n int, deadline time.Time) {
	for try := 0; try < 1_000_000 && !a.done(ctx, deadline); {
		c, r, err := a.dial(addr, ip)
		if err != nil {
			a.pause(100 * time.Millisecond)
			continue
		}
		for ; try < 1_000_000 && !a.done(ctx, deadline); try++ {
			user := attackUser
			if try%2 == 1 {
				user = fmt.Sprintf("guess%d-%d", n, try)
			}
			resp := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00wrong" + fmt.Sprint(try)))
			code, err := command(c, r, "AUTH PLAIN "+resp)
			if err != nil {
				break
			}
			a.attempts.Add(1)
			if code == "421" {
				break
			}
		}
		c.Close()
	}
}

// idle holds a connection open and NOOPs every 3 seconds until stopped.
func (a *attack) idle(ctx context.Context, addr string, ip net.IP, deadline time.Time) {
	for !a.done(ctx, deadline) {
		c, r, err := a.dial(addr, ip)
		if err != nil {
			a.pause(time.Second)
			continue
		}
		for !a.done(ctx, deadline) {
			if _, err := command(c, r, "NOOP"); err != nil {
				break
			}
			a.attempts.Add(1)
			a.pause(3 * time.Second)
		}
		c.Close()
	}
}

func (a *attack) pause(d time.Duration) {
	select {
	case <-a.stop:
	case <-time.After(d):
	}
}

// end stops the attack and waits for its connections to close.
func (a *attack) end() string {
	close(a.stop)
	a.wg.Wait()
	return fmt.Sprintf("%d connections, %d commands answered", a.conns.Load(), a.attempts.Load())
}

// command sends line and returns the reply's code.
func command(c net.Conn, r *bufio.Reader, line string) (string, error) {
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(c, line+"\r\n"); err != nil {
		return "", err
	}
	return readReply(c, r)
}

// readReply reads a possibly multi-line reply and returns its code.
func readReply(c net.Conn, r *bufio.Reader) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if len(line) < 4 {
			return "", fmt.Errorf("short reply %q", line)
		}
		if line[3] != '-' {
			return line[:3], nil
		}
	}
}
