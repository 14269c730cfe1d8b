package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/enneo/mailbridge/internal/safetext"
	"github.com/enneo/mailbridge/store"
)

func queueCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("queue", "[-c config.yaml] list [--state S] | show [--raw] ID | retry ID | release ID | drop ID", stderr)
	cfgPath := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usagef("queue needs an action: list, show, retry, release or drop")
	}
	action, rest := fs.Arg(0), fs.Args()[1:]
	ctx := context.Background()
	run := map[string]func(context.Context, store.Store, []string, io.Writer, io.Writer) error{
		"list": queueList, "show": queueShow, "retry": queueRetry, "release": queueRelease, "drop": queueDrop,
	}[action]
	if run == nil {
		return usagef("queue: unknown action %q (list, show, retry, release, drop)", action)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	return run(ctx, st, rest, stdout, stderr)
}

func queueList(ctx context.Context, st store.Store, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("queue list", "[--state queued|inflight|held|delivered|dead|dropped] [--limit N]", stderr)
	state := fs.String("state", "", "only messages in this `state`")
	limit := fs.Int("limit", 50, "at most `N` messages, newest first")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	f := store.Filter{Limit: *limit}
	if *state != "" {
		f.States = []store.State{store.State(*state)}
	}
	msgs, err := st.List(ctx, f)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSUB\tATTEMPTS\tRECEIVED\tFROM\tSUBJECT\tLAST ERROR")
	for _, m := range msgs {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", m.ID, m.State, m.SubchannelID, m.Attempts,
			m.ReceivedAt.UTC().Format(time.DateTime), cell(m.From, 30), cell(m.Subject, 40), cell(m.LastError, 60))
	}
	return tw.Flush()
}

func queueShow(ctx context.Context, st store.Store, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("queue show", "[--raw] ID", stderr)
	raw := fs.Bool("raw", false, "print the raw message instead of its record")
	id, err := idArg(fs, args)
	if err != nil {
		return err
	}
	m, body, err := st.Get(ctx, id)
	if err != nil {
		return err
	}
	if *raw {
		if len(body) == 0 && m.State == store.Delivered {
			return fmt.Errorf("message %d was delivered at %s; its raw bytes are kept for store.keepDelivered after delivery, and are gone",
				m.ID, stamp(m.DeliveredAt))
		}
		_, err = stdout.Write(body)
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 1, ' ', 0)
	for _, kv := range [][2]string{
		{"id", strconv.FormatInt(m.ID, 10)}, {"state", string(m.State)},
		{"subchannel", strconv.Itoa(m.SubchannelID)}, {"message id", m.ExternalID},
		{"from", m.From}, {"subject", m.Subject}, {"size", strconv.FormatInt(m.Size, 10)},
		{"received", stamp(m.ReceivedAt)}, {"attempts", strconv.Itoa(m.Attempts)},
		{"uncertain attempts", strconv.Itoa(m.Uncertain)}, {"next attempt", stamp(m.NextAttemptAt)},
		{"last error", m.LastError}, {"ticket", strconv.FormatInt(m.TicketID, 10)},
		{"conversation", strconv.FormatInt(m.ConversationID, 10)}, {"event", strconv.FormatInt(m.EventID, 10)},
		{"delivered", stamp(m.DeliveredAt)}, {"origin", string(m.Origin)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], safetext.Line(kv[1]))
	}
	return tw.Flush()
}

func queueRetry(ctx context.Context, st store.Store, args []string, stdout, stderr io.Writer) error {
	return queueAction(ctx, args, stdout, stderr, "retry", "queued for delivery now", st.Requeue)
}

// queueRelease delivers a held message: the policy that held it does not
// hold it again.
func queueRelease(ctx context.Context, st store.Store, args []string, stdout, stderr io.Writer) error {
	return queueAction(ctx, args, stdout, stderr, "release", "released for delivery now", st.Release)
}

func queueDrop(ctx context.Context, st store.Store, args []string, stdout, stderr io.Writer) error {
	return queueAction(ctx, args, stdout, stderr, "drop", "dropped", st.Drop)
}

func queueAction(ctx context.Context, args []string, stdout, stderr io.Writer, name, done string,
	act func(context.Context, int64) error) error {
	fs := newFlags("queue "+name, "ID", stderr)
	id, err := idArg(fs, args)
	if err != nil {
		return err
	}
	if err := act(ctx, id); err != nil {
		return fmt.Errorf("queue %s %d: %w", name, id, err)
	}
	fmt.Fprintf(stdout, "message %d %s\n", id, done)
	return nil
}

func idArg(fs *flag.FlagSet, args []string) (int64, error) {
	if err := parseFlags(fs, args); err != nil {
		return 0, err
	}
	if fs.NArg() != 1 {
		return 0, usagef("one message id expected")
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil {
		return 0, usagef("message id %q is not a number", fs.Arg(0))
	}
	return id, nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// cell is a table cell of text from a mail: clipped, then escaped, so that
// a control character in it can neither drive the terminal nor forge a row.
func cell(s string, n int) string { return safetext.Line(clip(s, n)) }

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
