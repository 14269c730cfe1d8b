package imap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// ImportOptions say what Import reads of a folder and how.
type ImportOptions struct {
	// Since and Until bound the mail read by INTERNALDATE: on or after
	// Since, before Until (zero: no bound). Only the dates count.
	Since, Until time.Time
	// Direction is the direction of the folder's conversations: "" takes
	// it from the folder (out for a Sent folder, else in).
	Direction string
	// Throttle, if not nil, is called before each batch is read and
	// returns once it may be queued: it keeps the archive from crowding
	// out live mail.
	Throttle func(ctx context.Context) error
	// Progress, if not nil, is told how many of the messages to read are
	// done, after each batch.
	Progress func(done, total int)
	// Live is true when the live poller reads the folder (it is one of
	// the mailbox's folders): the mail the poller is to read is left to
	// it (see liveShare), so that it is posted with AI processing.
	Live bool
}

// ImportResult is what Import did.
type ImportResult struct {
	Direction string
	// Total is the number of messages left to read at the start (those
	// a previous run read are not counted); Done of them are queued or
	// were duplicates, SetAside could not be queued (empty, or over
	// maxMessageBytes) and are skipped.
	Total, Done, SetAside int
	// Resumed is true when a previous run of the same import had read part
	// of the folder.
	Resumed bool
}

// importKey is the checkpoint key of an import of a folder with a date
// range: apart from the live checkpoint, and one per range, so that an
// import of another range starts afresh (the queue's dedup keeps what was
// imported before from being posted again).
func importKey(mailbox, folder string, since, until time.Time) (string, string) {
	date := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.DateOnly)
	}
	return mailbox + "\x1fimport", folder + "\x1f" + date(since) + "\x1f" + date(until)
}

// Import reads the old mail of cfg.Folder into the queue as archive mail
// (posted with process "false"). It never changes the folder: it is
// opened read-only (EXAMINE) and read with BODY.PEEK[], and no flag is
// set and nothing moved. It keeps a checkpoint of its own, so that a run
// that is killed resumes where it stopped; what was queued twice is a
// duplicate in the queue. cfg.After and cfg.ErrorFolder do not apply;
// cfg.StartAt says, with opts.Live, what is left to the live poller.
func Import(ctx context.Context, cfg Config, opts ImportOptions) (ImportResult, error) {
	var res ImportResult
	cfg.archive = true
	p, err := New(cfg)
	if err != nil {
		return res, err
	}
	s := &session{p: p, log: p.log.With("import", true), exists: make(chan struct{}, 1)}
	if s.c, err = dial(ctx, p.cfg.Account, nil); err != nil {
		return res, err
	}
	defer s.close()
	if res.Direction = opts.Direction; res.Direction == "" {
		if res.Direction, err = s.c.folderDirection(cfg.Folder); err != nil {
			return res, err
		}
	}
	p.cfg.direction = res.Direction
	var data *imap.SelectData
	if err := s.c.do(func() (err error) {
		data, err = s.c.Select(cfg.Folder, &imap.SelectOptions{ReadOnly: true}).Wait()
		return err
	}); err != nil {
		return res, fmt.Errorf("%w %s: %v", errSelect, cfg.Folder, err)
	}
	s.uidValidity = data.UIDValidity
	mb, folder := importKey(cfg.Name, cfg.Folder, opts.Since, opts.Until)
	uv, last, err := cfg.Checkpoints.Checkpoint(ctx, mb, folder)
	if err != nil {
		return res, fmt.Errorf("read import checkpoint: %w", err)
	}
	if uv != data.UIDValidity {
		last = 0
	}
	res.Resumed = last > 0
	var upTo uint32
	var live []imap.UID
	if opts.Live {
		if upTo, live, err = s.liveShare(ctx, data); err != nil {
			return res, err
		}
	}
	var uids []imap.UID
	if !opts.Live || upTo > 0 {
		uids, err = s.c.searchRange(&imap.SearchCriteria{Since: opts.Since, Before: opts.Until}, last, upTo)
		if err != nil {
			return res, err
		}
		uids = slices.DeleteFunc(uids, func(u imap.UID) bool { _, found := slices.BinarySearch(live, u); return found })
	}
	res.Total = len(uids)
	s.log.Info("imap import", "messages", res.Total, "direction", res.Direction, "resumed_after_uid", last,
		"since", opts.Since, "until", opts.Until)
	if opts.Progress != nil {
		opts.Progress(0, res.Total)
	}
	for batch := range slices.Chunk(uids, p.cfg.BatchSize) {
		if opts.Throttle != nil {
			if err := s.throttle(ctx, opts.Throttle); err != nil {
				return res, err
			}
		}
		results, fetchErr := s.fetch(ctx, batch)
		next := last
		for _, r := range results {
			if r.outcome == pending {
				break
			}
			if r.outcome == permanent {
				res.SetAside++
				s.log.Warn("imap import: message not queued; skipped", "uid", uint32(r.uid))
			}
			res.Done++
			next = uint32(r.uid)
		}
		if next != last {
			if err := cfg.Checkpoints.SetCheckpoint(ctx, mb, folder, data.UIDValidity, next); err != nil {
				return res, fmt.Errorf("write import checkpoint: %w", err)
			}
			last = next
		}
		if opts.Progress != nil {
			opts.Progress(res.Done, res.Total)
		}
		if fetchErr != nil {
			return res, fetchErr
		}
	}
	return res, nil
}

// liveShare finds what of a folder the live poller reads, for Import to
// leave alone: everything above upTo, and the UIDs in picked (sorted), the
// mail startAt picks between the live checkpoint and the first start's
// boundary. upTo 0 means the poller reads the whole folder. A folder the
// poller has not opened yet gets its first-start decision recorded here,
// as the poller would record it, so that both agree on the boundary.
func (s *session) liveShare(ctx context.Context, data *imap.SelectData) (upTo uint32, picked []imap.UID, err error) {
	cfg := &s.p.cfg
	uv, last, err := cfg.Checkpoints.Checkpoint(ctx, cfg.Name, cfg.Folder)
	if err != nil {
		return 0, nil, fmt.Errorf("read checkpoint: %w", err)
	}
	s.lastUID = last
	switch {
	case uv == 0:
		if err := s.decideStart(ctx, data); err != nil {
			return 0, nil, err
		}
	case uv != data.UIDValidity:
		// The poller reads the renumbered folder whole.
		s.log.Warn("imap import: the folder was renumbered and the live poller reads it whole; nothing imported",
			"old_uid_validity", uv, "uid_validity", data.UIDValidity)
		return 0, nil, nil
	default:
		if err := s.loadStart(ctx, uv); err != nil {
			return 0, nil, err
		}
	}
	upTo = s.lastUID
	if s.boundary > s.lastUID {
		if picked, err = s.c.searchRange(cfg.StartAt.criteria(), s.lastUID, s.boundary); err != nil {
			return 0, nil, err
		}
		upTo = s.boundary
	}
	s.log.Info("imap import: leaving the mail the live poller reads", "live_checkpoint", s.lastUID,
		"first_start_until", s.boundary, "start_at", cfg.StartAt.String(), "left_to_live", len(picked))
	return upTo, picked, nil
}

// throttle waits for wait, with a NOOP every few minutes meanwhile: a
// server logs out a client that says nothing for 30 minutes, and an API
// outage can hold the import for longer.
func (s *session) throttle(ctx context.Context, wait func(context.Context) error) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, freshEvery)
		err := wait(wctx)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if err := s.c.do(func() error { return s.c.Noop().Wait() }); err != nil {
			return fmt.Errorf("NOOP: %w", err)
		}
	}
}

// sentNames are the names of Sent folders of servers without SPECIAL-USE
// (lower case, the last level of the folder's name).
var sentNames = []string{"sent", "sent items", "sent messages", "sent mail", "gesendet",
	"gesendete elemente", "gesendete objekte", "envoyés", "elementos enviados", "posta inviata"}

// folderDirection is out for a Sent folder (SPECIAL-USE \Sent, or by its
// name), else in.
func (c *conn) folderDirection(folder string) (string, error) {
	var list []*imap.ListData
	if err := c.do(func() (err error) {
		list, err = c.List("", folder, nil).Collect()
		return err
	}); err != nil {
		return "", fmt.Errorf("LIST %s: %w", folder, err)
	}
	for _, l := range list {
		if l.Mailbox != folder {
			continue
		}
		if hasAttr(l.Attrs, imap.MailboxAttrSent) {
			return "out", nil
		}
		name := folder
		if l.Delim != 0 {
			name = name[strings.LastIndexByte(name, byte(l.Delim))+1:]
		}
		if slices.Contains(sentNames, strings.ToLower(name)) {
			return "out", nil
		}
	}
	return "in", nil
}
