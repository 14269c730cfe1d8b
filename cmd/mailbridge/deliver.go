package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/enneo/mailbridge/internal/safetext"
	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/store"
)

func deliverCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("deliver", "[-c config.yaml] [--subchannel N] [--ticket N] [--enqueue-only] FILE.eml|-", stderr)
	cfgPath := configFlag(fs)
	sub := fs.Int("subchannel", 0, "subchannel `id` (default: the first in the configuration)")
	ticket := fs.Int64("ticket", 0, "store on this ticket `id` instead of resolving one")
	enqueueOnly := fs.Bool("enqueue-only", false, "only queue the message; a running daemon delivers it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usagef("deliver takes one file (or - for standard input)")
	}
	raw, err := readMessage(fs.Arg(0))
	if err != nil {
		return err
	}
	ctx := context.Background()
	a, err := openApp(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	subID, _, err := pickSubchannel(a.cfg, *sub)
	if err != nil {
		return err
	}
	rcpt, err := a.pipeline.Ingest(ctx, mailbox.Message{
		Raw:          raw,
		SubchannelID: subID,
		TicketID:     *ticket,
		Origin:       mailbox.Origin{Source: "cli", ReceivedAt: time.Now().UTC(), File: fs.Arg(0)},
	})
	if err != nil {
		return err
	}
	if rcpt.Duplicate {
		return report(ctx, a.store, rcpt.QueueID, stdout, "duplicate of an earlier message")
	}
	if !*enqueueOnly {
		// One pass over what is due: this message, and any other due one
		// (oldest first), each attempted once. One claim at a time, so that
		// no claim waits out its lease behind the others.
		for {
			n, err := a.pipeline.DeliverDue(ctx, 1)
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
		}
	}
	return report(ctx, a.store, rcpt.QueueID, stdout, "")
}

// report prints where a message stands; a message that did not reach the
// API is a failure (exit 1) even though it stays safely queued.
func report(ctx context.Context, st store.Store, id int64, w io.Writer, note string) error {
	m, _, err := st.Get(ctx, id)
	if err != nil {
		return err
	}
	if note != "" {
		note = " (" + note + ")"
	}
	fmt.Fprintf(w, "queue id %d: %s%s\nmessage id: %s\n", m.ID, m.State, safetext.Line(note), safetext.Line(m.ExternalID))
	switch m.State {
	case store.Delivered:
		fmt.Fprintf(w, "ticket %d, conversation %d\n", m.TicketID, m.ConversationID)
		return nil
	case store.Queued, store.Inflight:
		if m.LastError == "" {
			return nil // --enqueue-only
		}
		return fmt.Errorf("not delivered yet (%s); it stays queued, next attempt at %s",
			m.LastError, m.NextAttemptAt.Format(time.RFC3339))
	default:
		return fmt.Errorf("message is %s: %s", m.State, m.LastError)
	}
}
