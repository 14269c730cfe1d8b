package main

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// sockets are the daemon's bound listening sockets: one per SMTP/LMTP
// listener, in the order of smtp.listeners (and of smtpListeners), and the admin listener's (nil
// when admin.listen is off).
type sockets struct {
	smtp  []net.Listener
	admin net.Listener
}

func (s sockets) close() {
	for _, ln := range s.smtp {
		_ = ln.Close()
	}
	if s.admin != nil {
		_ = s.admin.Close()
	}
}

// bindAll binds the socket of every SMTP/LMTP listener and of the admin
// listener, or none: on the first that fails it closes the others and
// says which listener could not listen where. A daemon without its health
// checks would be restarted by whatever checks them, without saying why,
// so the admin listener is no exception.
func (a *app) bindAll(ctx context.Context) (sockets, error) {
	var s sockets
	var lc net.ListenConfig
	for i, l := range a.cfg.SMTP.Listeners {
		ln, err := lc.Listen(ctx, "tcp", l.Address)
		if err != nil {
			s.close()
			return sockets{}, fmt.Errorf("smtp listener %q (smtp.listeners[%d]) cannot listen on %s: %w", l.Name, i, l.Address, bindCause(err))
		}
		s.smtp = append(s.smtp, ln)
	}
	if addr := a.cfg.AdminAddress(); addr != "" {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			s.close()
			return sockets{}, fmt.Errorf("admin listener (admin.listen) cannot listen on %s: %w (choose another address, or off)", addr, bindCause(err))
		}
		s.admin = ln
	}
	return s, nil
}

// bindCause is the reason of a failed Listen without the "listen tcp
// ADDR:" the caller already says.
func bindCause(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
