// Command mailbridge connects mailboxes to the enneo ticketing API.
//
// The path of one email: a source (SMTP, IMAP, or `mailbridge deliver`)
// hands the raw message to pipeline.Ingest, which commits it to the store;
// the source acknowledges it; pipeline.Run's workers claim it, map it
// (mapper.Map), resolve its ticket and store it at the API (api.Client),
// then record the answer in the store. wire.go builds those parts from
// config.yaml; run.go starts them.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/enneo/mailbridge/internal/safetext"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure
	exitUsage   = 2 // usage or configuration error
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"run", "run the daemon", runCmd},
		{"check", "validate the configuration, reach the store, verify subchannels at the API", checkCmd},
		{"subchannels", "list the API's subchannels", subchannelsCmd},
		{"parse", "print the JSON payload a message maps to", parseCmd},
		{"deliver", "queue a message file and deliver it now", deliverCmd},
		{"queue", "list, show, retry or drop queued and dead-letter messages", queueCmd},
		{"mailbox", "test NAME: log in to one IMAP mailbox and say what its next start reads; authorize NAME: OAuth2 sign-in (device flow)", mailboxCmd},
		{"import", "post a mailbox's old mail as archive (no AI), resumable", importCmd},
		{"health", "exit 0 if a running daemon's admin listener answers /healthz", healthCmd},
		{"version", "print the version, the VCS revision and the Go toolchain", versionCmd},
	}
}

func main() {
	os.Exit(mainArgs(os.Args[1:], os.Stdout, os.Stderr))
}

func mainArgs(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return exitCode(c.run(args[1:], stdout, stderr), stderr)
		}
	}
	fmt.Fprintf(stderr, "mailbridge: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: mailbridge <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'mailbridge <command> --help' for a command's flags.")
}

// usageError is a wrong invocation or configuration: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	// An error may quote what a server or a mail said; its lines stay
	// lines, its control characters are shown.
	fmt.Fprintln(stderr, "mailbridge:", safetext.Text(err.Error()))
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}

// newFlags returns a flag set that reports errors instead of exiting, so
// that exit codes stay in one place.
func newFlags(name, args string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: mailbridge %s %s\n\nflags:\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, turning a flag error into a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	return nil
}

func versionCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	currentVersion().write(stdout)
	return nil
}
