package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/enneo/mailbridge/config"
	"github.com/enneo/mailbridge/internal/oauth"
	"github.com/enneo/mailbridge/internal/safetext"
	mbimap "github.com/enneo/mailbridge/mailbox/imap"
	"github.com/enneo/mailbridge/pipeline"
	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/lease"
)

// mailboxSources builds the pollers of one mailbox, one per folder;
// holder names this instance in the folders' leases on a shared store.
func mailboxSources(a *app, m config.Mailbox, holder string) ([]source, error) {
	after, err := mbimap.ParseAction(m.AfterProcess)
	if err != nil {
		return nil, usagef("mailboxes %s: %v", m.Name, err)
	}
	startAt, err := imapStartAt(m)
	if err != nil {
		return nil, err
	}
	// Each poller holds at most one connection and closes it before it
	// dials again; the semaphore makes that bound explicit.
	conns := make(chan struct{}, len(m.Folders))
	account, err := a.imapAccount(m) // one token source for all its folders
	if err != nil {
		return nil, err
	}
	var sources []source
	if src, ok := account.Token.(*oauth.Source); ok {
		sources = append(sources, &credentialWatch{m: m, tokens: src, log: a.log})
	}
	for _, folder := range m.Folders {
		p, err := mbimap.New(mbimap.Config{
			Account:         account,
			Folder:          folder,
			SubchannelID:    m.SubchannelID,
			IDLE:            m.IDLEEnabled(),
			IdleRestart:     time.Duration(m.IdleRestart),
			PollInterval:    time.Duration(m.PollInterval),
			StartAt:         startAt,
			After:           after,
			ErrorFolder:     m.ErrorFolder,
			BatchSize:       m.BatchSize,
			MaxMessageBytes: m.MaxMessageBytes,
			Ingester:        a.pipeline,
			Checkpoints:     a.store,
			Permanent:       func(err error) bool { return errors.Is(err, pipeline.ErrEmpty) },
			Connections:     conns,
			Log:             a.log,
		})
		if err != nil {
			return nil, usagef("mailboxes %s: %v", m.Name, err)
		}
		if leases, ok := a.store.(store.Leases); ok {
			sources = append(sources, leasedPoller{p, lease.Config{
				Leases: leases, Name: p.Name(), Holder: holder, Log: a.log,
			}})
			continue
		}
		sources = append(sources, p)
	}
	return sources, nil
}

// leasedPoller polls its folder only while this instance holds the
// folder's lease: of several instances sharing a PostgreSQL store, one
// polls each folder, and another takes over within 25 s when it dies.
type leasedPoller struct {
	*mbimap.Poller
	lease lease.Config
}

// Run shows the poller as standing by whenever another instance holds the
// lease: before this one first takes it, and after it loses it. Otherwise
// the status page and mailbridge_imap_connected would go on showing the
// last session as connected on two instances at once.
func (p leasedPoller) Run(ctx context.Context) error {
	p.Standby()
	return lease.Run(ctx, p.lease, func(ctx context.Context) error {
		defer p.Standby()
		return p.Poller.Run(ctx)
	})
}

// imapStartAt is the mailbox's startAt for its pollers.
func imapStartAt(m config.Mailbox) (mbimap.StartAt, error) {
	kind, since, err := config.ParseStartAt(m.StartAt)
	if err != nil {
		return mbimap.StartAt{}, usagef("mailboxes %s: startAt: %v", m.Name, err)
	}
	kinds := map[string]mbimap.StartKind{
		"unseen": mbimap.StartUnseen, "new": mbimap.StartNew, "all": mbimap.StartAll, "since": mbimap.StartSince,
	}
	return mbimap.StartAt{Kind: kinds[kind], Since: since}, nil
}

// imapAccount is where and as whom mailbox m logs in; with auth: xoauth2
// its token source (oauth.go).
func (a *app) imapAccount(m config.Mailbox) (mbimap.Account, error) {
	acc := mbimap.Account{
		Name:     m.Name,
		Addr:     net.JoinHostPort(m.Host, strconv.Itoa(m.Port)),
		Security: mbimap.Security(m.Security),
		Username: m.Username,
		Password: m.Password.Value(),
		Timeout:  time.Duration(m.Timeout),
	}
	if m.Auth == "xoauth2" {
		src, err := a.tokenSource(m)
		if err != nil {
			return mbimap.Account{}, err
		}
		acc.Token = src
	}
	return acc, nil
}

// checkMailboxes logs in to every mailbox, lists its folders and counts
// the messages of each watched folder and those its next start would read
// (by its checkpoint in the store, when a.store is set, and its startAt),
// writing a report to w. It returns an error naming every mailbox that
// failed; `mailbridge check` calls it after validating the configuration.
func checkMailboxes(ctx context.Context, a *app, w io.Writer) error {
	var errs []error
	for _, m := range a.cfg.Mailboxes {
		if err := checkMailbox(ctx, a, m, w); err != nil {
			fmt.Fprintf(w, "mailbox %s: FAILED: %s\n", safetext.Line(m.Name), safetext.Line(err.Error()))
			err = fmt.Errorf("mailbox %s: %w", m.Name, err)
			if errors.Is(err, mbimap.ErrTarget) {
				// A folder the server will not have: the configuration
				// must change (exit 2).
				err = usageError{err}
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkMailbox is checkMailboxes for one mailbox (`mailbridge mailbox test`).
func checkMailbox(ctx context.Context, a *app, m config.Mailbox, w io.Writer) error {
	startAt, err := imapStartAt(m)
	if err != nil {
		return err
	}
	after, err := mbimap.ParseAction(m.AfterProcess)
	if err != nil {
		return usagef("mailboxes %s: %v", m.Name, err)
	}
	acc, err := a.imapAccount(m)
	if err != nil {
		return err
	}
	for _, n := range secretNotices(m, time.Now()) {
		fmt.Fprintf(w, "warning: %s\n", safetext.Line(n.Msg))
	}
	var cp mbimap.Checkpoints
	if a.store != nil {
		cp = a.store
	}
	r, err := mbimap.Probe(ctx, acc, m.Folders, mbimap.ProbeOptions{
		StartAt: startAt, Checkpoints: cp, After: after, ErrorFolder: m.ErrorFolder,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "mailbox %s: logged in to %s as %s (%d folders)\n",
		safetext.Line(m.Name), safetext.Line(acc.Addr), safetext.Line(m.Username), len(r.Folders))
	for _, f := range r.Watched {
		fmt.Fprintf(w, "  watching %s: %s messages, %s unseen; %s\n", safetext.Line(f.Name),
			thousands(int(f.Messages)), thousands(int(f.Unseen)), nextStart(f, startAt, cp != nil))
	}
	return nil
}

// nextStart says what the next start reads of a folder.
func nextStart(f mbimap.FolderCount, startAt mbimap.StartAt, known bool) string {
	switch {
	case !known:
		return fmt.Sprintf("a first start imports %s (startAt: %s)", thousands(f.Pending), startAt)
	case f.FirstStart:
		return fmt.Sprintf("first start imports %s (startAt: %s)", thousands(f.Pending), startAt)
	}
	return fmt.Sprintf("%s pending above the checkpoint (UID %d)", thousands(f.Pending), f.LastUID)
}

// thousands writes n with a comma every three digits: 48,211.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func mailboxCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("mailbox", "[-c config.yaml] [-browser|-device] test|authorize NAME", stderr)
	cfgPath := configFlag(fs)
	browser := fs.Bool("browser", false, "authorize: sign in with the authorization code flow and a loopback redirect (default for Google)")
	device := fs.Bool("device", false, "authorize: sign in with the device flow (default otherwise)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 || (fs.Arg(0) != "test" && fs.Arg(0) != "authorize") {
		fs.Usage()
		return usagef("mailbox: usage: mailbox test|authorize NAME")
	}
	// The store too: an OAuth2 mailbox's newest token is there.
	ctx := context.Background()
	a, err := openApp(ctx, *cfgPath, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	for _, m := range a.cfg.Mailboxes {
		if m.Name != fs.Arg(1) {
			continue
		}
		if fs.Arg(0) == "authorize" {
			inBrowser := *browser || (m.OAuth2.Google() && !*device)
			return authorizeMailbox(ctx, a, m, inBrowser, os.Stdin, stdout)
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		return checkMailbox(ctx, a, m, stdout)
	}
	return usagef("mailbox %q: not in the configuration's mailboxes", fs.Arg(1))
}
