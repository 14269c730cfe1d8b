package main

import "context"

// source is a mail source the daemon runs beside the delivery workers: an
// SMTP listener or an IMAP folder poller. Run returns when ctx is done and
// the source has finished what it accepted (an SMTP DATA under way, an IMAP
// message being queued).
type source interface {
	Name() string
	Run(ctx context.Context) error
}
