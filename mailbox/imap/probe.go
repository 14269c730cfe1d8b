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

// FolderCount counts the messages of one folder.
type FolderCount struct {
	Name             string
	Messages, Unseen uint32
}

// Probe logs in, lists the folders and counts the messages of each of
// watched with STATUS (which, unlike SELECT, changes nothing).
func Probe(ctx context.Context, a Account, watched []string) (*ProbeResult, error) {
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
	for _, f := range watched {
		var d *imap.StatusData
		if err := c.do(func() (err error) {
			d, err = c.Status(f, &imap.StatusOptions{NumMessages: true, NumUnseen: true}).Wait()
			return err
		}); err != nil {
			return nil, fmt.Errorf("%w %s: %v", errSelect, f, err)
		}
		fc := FolderCount{Name: f}
		if d.NumMessages != nil {
			fc.Messages = *d.NumMessages
		}
		if d.NumUnseen != nil {
			fc.Unseen = *d.NumUnseen
		}
		r.Watched = append(r.Watched, fc)
	}
	return r, nil
}
