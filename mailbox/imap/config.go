package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/enneo/mailbridge/mailbox"
)

// Checkpoints is the part of the store a Poller needs (store.Checkpoints).
type Checkpoints interface {
	Checkpoint(ctx context.Context, mailbox, folder string) (uidValidity, lastUID uint32, err error)
	SetCheckpoint(ctx context.Context, mailbox, folder string, uidValidity, lastUID uint32) error
}

// Security is how the connection is protected.
type Security string

const (
	TLS      Security = "tls"      // implicit TLS (port 993)
	StartTLS Security = "starttls" // STARTTLS on the plain port
	Insecure Security = "none"     // clear text; the caller must have opted in
)

// Account is where and as whom to log in.
type Account struct {
	Name     string // mailboxes[].name, used in logs and as the checkpoint key
	Addr     string // host:port
	Security Security
	// TLSConfig, if set, is used for TLS and STARTTLS (tests pin a CA here).
	TLSConfig *tls.Config
	Username  string
	Password  string
	// Token, when set, logs in with AUTHENTICATE XOAUTH2 instead of LOGIN.
	Token TokenSource
	// Timeout bounds dialling and each command; a server that does not
	// answer a NOOP within it is taken for dead and the connection replaced.
	Timeout time.Duration
}

// Config is one Poller's configuration.
type Config struct {
	Account
	Folder       string
	SubchannelID int

	// IDLE waits in IMAP IDLE when the server offers it; otherwise the folder
	// is polled every PollInterval.
	IDLE         bool
	IdleRestart  time.Duration // re-issue IDLE (and NOOP) this often
	PollInterval time.Duration

	// StartAt is what the first start of a folder reads of the mail
	// already there (zero value: the unseen mail).
	StartAt StartAt

	After       Action
	ErrorFolder string // where permanently failing messages go; "" flags them
	BatchSize   int    // UIDs per UID FETCH

	// MaxMessageBytes is the largest message read into memory and queued
	// (default 64 MiB); larger ones are streamed past and set aside like
	// messages the queue rejects for good.
	MaxMessageBytes int64
	// InflightBytes bounds the message bytes held between FETCH and
	// commit (default 32 MiB). A message larger than that is read only
	// once it is the sole one in flight.
	InflightBytes int64

	// Ingester commits messages; Checkpoints records progress.
	Ingester    mailbox.Ingester
	Checkpoints Checkpoints
	// Permanent reports whether an Ingest error will never go away for this
	// message (e.g. pipeline.ErrEmpty); nil means none is.
	Permanent func(error) bool
	// Connections, if not nil, bounds the connections open at once across
	// the pollers sharing it: a slot is taken before dialling.
	Connections chan struct{}
	// MinBackoff and MaxBackoff bound the wait before reconnecting
	// (defaults 1s and 5m).
	MinBackoff, MaxBackoff time.Duration
	Log                    *slog.Logger

	// archive and direction are set by Import: the origin of each message
	// marks it as archive mail, with the folder's direction.
	archive   bool
	direction string
}

// ActionKind is what is done to a message on the server once it is queued.
type ActionKind int

const (
	ActionSeen ActionKind = iota
	ActionFlag
	ActionMove
	ActionDelete
	ActionNone
)

// Action is an after-action: its kind and, for flag and move, the keyword
// or folder.
type Action struct {
	Kind ActionKind
	Arg  string
}

// ParseAction parses an afterProcess value: seen | flag:KEYWORD |
// move:FOLDER | delete | none.
func ParseAction(s string) (Action, error) {
	verb, arg, _ := strings.Cut(s, ":")
	switch {
	case s == "seen" || s == "":
		return Action{Kind: ActionSeen}, nil
	case s == "delete":
		return Action{Kind: ActionDelete}, nil
	case s == "none":
		return Action{Kind: ActionNone}, nil
	case verb == "flag" && arg != "":
		return Action{Kind: ActionFlag, Arg: arg}, nil
	case verb == "move" && arg != "":
		return Action{Kind: ActionMove, Arg: arg}, nil
	}
	return Action{}, fmt.Errorf("imap: bad afterProcess %q", s)
}

func (a Action) String() string {
	switch a.Kind {
	case ActionSeen:
		return "seen"
	case ActionFlag:
		return "flag:" + a.Arg
	case ActionMove:
		return "move:" + a.Arg
	case ActionDelete:
		return "delete"
	}
	return "none"
}

// errorKeyword marks a message that failed for good when there is no error
// folder to move it to.
const errorKeyword imap.Flag = "$MailbridgeError"

// notMovedKeyword marks a queued message the server refused to move to
// the afterProcess folder: the checkpoint passes it all the same.
const notMovedKeyword imap.Flag = "$MailbridgeNotMoved"

func (c *Config) check() error {
	switch {
	case c.Name == "" || c.Addr == "" || c.Folder == "":
		return errors.New("imap: name, address and folder are required")
	case c.Ingester == nil || c.Checkpoints == nil:
		return errors.New("imap: an Ingester and Checkpoints are required")
	}
	return nil
}

const defaultTimeout = 60 * time.Second

func (c *Config) setDefaults() {
	def := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&c.Timeout, defaultTimeout)
	def(&c.IdleRestart, 25*time.Minute)
	def(&c.PollInterval, time.Minute)
	def(&c.MinBackoff, time.Second)
	def(&c.MaxBackoff, 5*time.Minute)
	if c.BatchSize <= 0 {
		// A batch ends with the commit of its last messages, its
		// after-action and a checkpoint write, while nothing is fetched:
		// tens of milliseconds, which a batch of 400 from a fast server
		// makes a few per cent of the fetching time.
		c.BatchSize = 400
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 64 << 20
	}
	if c.InflightBytes <= 0 {
		c.InflightBytes = 32 << 20
	}
	if c.Security == "" {
		c.Security = TLS
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}
