package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/enneo/mailbridge/internal/safetext"
	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/mapper"
	"github.com/enneo/mailbridge/pipeline"
)

func parseCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("parse", "[-c config.yaml] [--subchannel N] [--ticket N] [--explain] FILE.eml|-", stderr)
	cfgPath := configFlag(fs)
	sub := fs.Int("subchannel", 0, "subchannel `id` (default: the first in the configuration)")
	ticket := fs.Int64("ticket", 0, "ticket `id` the message would be pinned to")
	explain := fs.Bool("explain", false, "explain routing, ticket decision and parser warnings on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usagef("parse takes one file (or - for standard input)")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	pc, err := pipelineConfig(cfg)
	if err != nil {
		return err
	}
	raw, err := readMessage(fs.Arg(0))
	if err != nil {
		return err
	}
	subID, why, err := pickSubchannel(cfg, *sub)
	if err != nil {
		return err
	}
	origin := mailbox.Origin{Source: "cli", ReceivedAt: receivedAt(fs.Arg(0)), File: fs.Arg(0)}
	// As the queue records it, so that the payload is the one delivery posts.
	originJSON, err := json.Marshal(origin)
	if err != nil {
		return err
	}
	res, err := mapper.Map(context.Background(), raw, pc.MapperOptions(subID, origin.ReceivedAt, originJSON))
	if err != nil {
		return err
	}
	if *explain {
		fmt.Fprintf(stderr, "subchannel: %d (%s)\n", subID, why)
		if *ticket != 0 {
			fmt.Fprintf(stderr, "ticket: %d (from --ticket)\n", *ticket)
		} else {
			fmt.Fprintf(stderr, "ticket: a new ticket through %s %s, externalTicketId %q (subchannel and thread key)\n",
				"POST", cfg.API.Ticket.Path, pipeline.TicketKey(subID, pipeline.ThreadKey(res)))
		}
		fired := pc.Rules.Match(raw, pc.Auth.For(origin))
		if len(fired) == 0 && len(pc.Rules) > 0 {
			fmt.Fprintf(stderr, "rules: none of %d fired\n", len(pc.Rules))
		}
		for _, f := range fired {
			fmt.Fprintf(stderr, "rule fired: %s (%s): %s\n", safetext.Line(f.Rule.Name),
				safetext.Line(strings.Join(f.Why, "; ")), f.Rule.Then)
		}
		fmt.Fprintf(stderr, "externalConversationId: %s\n", safetext.Line(res.Conversation.ExternalConversationID))
		for _, w := range res.Warnings {
			fmt.Fprintf(stderr, "warning: %s\n", safetext.Line(w))
		}
	}
	if err := res.Conversation.WriteJSON(stdout); err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout)
	return err
}

func readMessage(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	raw, err := os.ReadFile(name)
	if err != nil {
		return nil, usageError{err}
	}
	return raw, nil
}

// receivedAt is when a message file was received: its modification time, so
// that parsing the same file twice prints the same payload.
func receivedAt(name string) time.Time {
	if fi, err := os.Stat(name); err == nil && name != "-" {
		return fi.ModTime().UTC().Truncate(time.Second)
	}
	return time.Now().UTC().Truncate(time.Second)
}
