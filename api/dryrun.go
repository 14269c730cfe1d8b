package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// ErrDryRun is returned by the DryRun calls that need an answer only the
// API can give.
var ErrDryRun = errors.New("api: dry run: there is no API to ask")

// DryRun stands in for Client when no API is configured: it writes each
// body it would have sent to a file in Dir and answers with made-up ids.
// Nothing it returns refers to anything in enneo.
type DryRun struct {
	Dir    string
	Ticket TicketOptions // shapes ticket bodies as for Client
}

// dryRunSeq numbers the fake conversations of this process.
var dryRunSeq atomic.Int64

// StoreConversation writes the body Client would send to
// Dir/<time>-ticket<id>-<externalConversationId>.json. The result's
// ConversationID and EventID are fake: a counter that restarts with the
// process.
func (d DryRun) StoreConversation(ctx context.Context, ticketID int64, conv *Conversation) (*StoreResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s-ticket%d-%s.json", stamp(), ticketID, sanitize(conv.ExternalConversationID))
	if err := d.write(name, conv.WriteJSON); err != nil {
		return nil, err
	}
	seq := dryRunSeq.Add(1)
	return &StoreResult{Success: true, ConversationID: seq, TicketID: ticketID, EventID: seq}, nil
}

// CreateTicket writes the body Client would send to
// Dir/<time>-<externalTicketId>-new-ticket.json and returns a fake id
// derived from ExternalTicketID, so that a rerun over the same mail gives
// the same ids.
// FindConversation finds nothing: dry run keeps no conversations.
func (DryRun) FindConversation(context.Context, int64, string) (*StoreResult, bool, error) {
	return nil, false, nil
}

func (d DryRun) CreateTicket(ctx context.Context, t *NewTicket) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	body, err := ticketBody(d.Ticket, t)
	if err != nil {
		return 0, err
	}
	name := fmt.Sprintf("%s-%s-new-ticket.json", stamp(), sanitize(t.ExternalTicketID))
	err = d.write(name, func(w io.Writer) error {
		_, err := w.Write(body)
		return err
	})
	if err != nil {
		return 0, err
	}
	h := fnv.New64a()
	h.Write([]byte(t.ExternalTicketID))
	// 53 bits keep the id exact for tools that read JSON numbers as floats.
	return max(int64(h.Sum64()>>11), 1), nil
}

// Ping answers nil: the dry-run writer is always there.
func (DryRun) Ping(context.Context) error { return nil }

// Subchannels returns ErrDryRun.
func (DryRun) Subchannels(context.Context) ([]Subchannel, error) {
	return nil, ErrDryRun
}

// write puts what body writes into Dir/name atomically: a reader of Dir
// sees the whole file or none of it.
func (d DryRun) write(name string, body func(io.Writer) error) (err error) {
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return fmt.Errorf("api: dry run: %w", err)
	}
	f, err := os.CreateTemp(d.Dir, ".partial-*") // mode 0600
	if err != nil {
		return fmt.Errorf("api: dry run: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("api: dry run: %s: %w", name, err)
		}
	}()
	w := bufio.NewWriter(f)
	if err := body(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(d.Dir, name))
}

// stamp names files so that they sort in the order they were written.
func stamp() string {
	return time.Now().UTC().Format("20060102-150405.000000000")
}

// sanitize turns an id such as a Message-ID into a file name part.
func sanitize(id string) string {
	s := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, id)
	s = strings.Trim(s, "._-")
	if len(s) > 100 {
		s = s[:100]
	}
	if s == "" {
		return "none"
	}
	return s
}
