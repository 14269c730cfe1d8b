package imap

import (
	"context"
	"fmt"

	"github.com/emersion/go-imap/v2"
)

// ProbeResult is what Probe found in a mailbox.
type ProbeResult struct {
	Folders []string      // every folder LIST shows
	Watched []FolderCount // the folders asked about
}

// FolderCount counts the messages of one folder and says what the next
// start would read of it.
type FolderCount struct {
	Name             string
	Messages, Unseen uint32
	// FirstStart is true when the folder has no checkpoint: the next
	// start reads what StartAt picks. A folder the server renumbered
	// since its checkpoint is read whole.
	FirstStart bool
	// LastUID is the checkpoint, when there is one.
	LastUID uint32
	// Pending is the number of messages the next start reads: at a first
	// start those StartAt picks, otherwise those above the checkpoint.
	Pending int
}

// ProbeOptions say what Probe is to find out beyond the counts.
type ProbeOptions struct {
	// StartAt is the mailbox's startAt, for what a first start reads.
	StartAt StartAt
	// Checkpoints, if not nil, are read (never written) to tell a first
	// start from a folder already being read. Account.Name is the key.
	Checkpoints Checkpoints
	// After and ErrorFolder are the mailbox's afterProcess and
	// errorFolder: a move target or error folder that does not exist is
	// created, as a start would, and one the server refuses is an error
	// (ErrTarget).
	After       Action
	ErrorFolder string
}

// Probe logs in, lists the folders, makes sure the move target and error
// folder exist, and counts the messages of each of watched with STATUS,
// and, opened read-only (EXAMINE), those the next start would read.
// Nothing else on the server changes.
func Probe(ctx context.Context, a Account, watched []string, opts ProbeOptions) (*ProbeResult, error) {
	if a.Timeout <= 0 {
		a.Timeout = defaultTimeout
	}
	c, err := dial(ctx, a, nil)
	if err != nil {
		return nil, err
	}
	defer c.logout()
	r := &ProbeResult{}
	var list []*imap.ListData
	if err := c.do(func() (err error) {
		list, err = c.List("", "*", nil).Collect()
		return err
	}); err != nil {
		return nil, fmt.Errorf("LIST: %w", err)
	}
	for _, l := range list {
		r.Folders = append(r.Folders, l.Mailbox)
	}
	for _, t := range targets(opts.After, opts.ErrorFolder) {
		if err := c.ensureFolder(t[0], t[1]); err != nil {
			return nil, err
		}
	}
	for _, f := range watched {
		fc, err := probeFolder(ctx, c, a.Name, f, opts)
		if err != nil {
			return nil, err
		}
		r.Watched = append(r.Watched, fc)
	}
	return r, nil
}

func probeFolder(ctx context.Context, c *conn, mailbox, f string, opts ProbeOptions) (FolderCount, error) {
	var d *imap.StatusData
	if err := c.do(func() (err error) {
		d, err = c.Status(f, &imap.StatusOptions{NumMessages: true, NumUnseen: true, UIDValidity: true}).Wait()
		return err
	}); err != nil {
		return FolderCount{}, fmt.Errorf("%w %s: %v", errSelect, f, err)
	}
	fc := FolderCount{Name: f, FirstStart: true}
	if d.NumMessages != nil {
		fc.Messages = *d.NumMessages
	}
	if d.NumUnseen != nil {
		fc.Unseen = *d.NumUnseen
	}
	var uv, boundary uint32
	if opts.Checkpoints != nil {
		var err error
		if uv, fc.LastUID, err = opts.Checkpoints.Checkpoint(ctx, mailbox, f); err != nil {
			return fc, fmt.Errorf("read checkpoint: %w", err)
		}
		fuv, b, err := opts.Checkpoints.Checkpoint(ctx, firstKey(mailbox), f)
		if err != nil {
			return fc, fmt.Errorf("read first-start checkpoint: %w", err)
		}
		if fuv == uv && b > fc.LastUID {
			boundary = b
		}
		fc.FirstStart = uv == 0
		if uv != 0 && uv != d.UIDValidity {
			// The server renumbered the folder: the next start reads it whole.
			fc.LastUID, fc.Pending = 0, int(fc.Messages)
			return fc, nil
		}
	}
	switch {
	case fc.FirstStart && opts.StartAt.Kind == StartNew:
		fc.LastUID = 0
		return fc, nil
	case fc.FirstStart && opts.StartAt.Kind == StartAll:
		fc.LastUID, fc.Pending = 0, int(fc.Messages)
		return fc, nil
	case fc.FirstStart && opts.StartAt.Kind == StartUnseen:
		fc.LastUID, fc.Pending = 0, int(fc.Unseen)
		return fc, nil
	}
	// A search: since a date, or above a checkpoint.
	if err := c.do(func() error {
		_, err := c.Select(f, &imap.SelectOptions{ReadOnly: true}).Wait()
		return err
	}); err != nil {
		return fc, fmt.Errorf("%w %s: %v", errSelect, f, err)
	}
	if fc.FirstStart {
		fc.LastUID = 0
		uids, err := c.searchRange(opts.StartAt.criteria(), 0, 0)
		fc.Pending = len(uids)
		return fc, err
	}
	after := fc.LastUID
	if boundary > 0 {
		uids, err := c.searchRange(opts.StartAt.criteria(), after, boundary)
		if err != nil {
			return fc, err
		}
		fc.Pending, after = len(uids), boundary
	}
	uids, err := c.searchRange(nil, after, 0)
	fc.Pending += len(uids)
	return fc, err
}
