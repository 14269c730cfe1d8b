package imap

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
)

// StartKind is what a folder's first start reads of the mail already in
// it.
type StartKind int

const (
	// StartUnseen reads the unseen mail, whatever its age, then
	// everything new. The zero value, and mailbridge's default.
	StartUnseen StartKind = iota
	// StartNew reads only mail that arrives after the first connection.
	StartNew
	// StartAll reads the whole folder.
	StartAll
	// StartSince reads the mail whose INTERNALDATE is on or after a date.
	StartSince
)

// StartAt is what a folder with no checkpoint reads first. Once the
// folder has a checkpoint it no longer matters: everything above the
// checkpoint is read.
type StartAt struct {
	Kind  StartKind
	Since time.Time // for StartSince; only the date counts
}

func (s StartAt) String() string {
	switch s.Kind {
	case StartNew:
		return "new"
	case StartAll:
		return "all"
	case StartSince:
		return "since:" + s.Since.Format(time.DateOnly)
	}
	return "unseen"
}

// criteria is the SEARCH key that picks the mail a first start reads
// among the messages already there; nil means all of them.
func (s StartAt) criteria() *imap.SearchCriteria {
	switch s.Kind {
	case StartUnseen:
		return &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}
	case StartSince:
		return &imap.SearchCriteria{Since: s.Since}
	}
	return nil
}

// firstKey is the checkpoint key under which a folder's first start
// records its boundary: the highest UID the folder held at the first
// connection. Up to it only the mail StartAt picks is read; above it
// everything. The boundary is decided once, so that a restart in the
// middle of the first drain does not decide again (mail a first start
// read and marked \Seen is not taken for old mail; seen mail is never
// read later).
func firstKey(mailbox string) string { return mailbox + "\x1fstartAt" }

// decideStart is the first start of a folder: it records what will be read and sets
// s.lastUID and s.boundary accordingly.
func (s *session) decideStart(ctx context.Context, data *imap.SelectData) error {
	cfg := &s.p.cfg
	highest, err := s.highestUID(data)
	if err != nil {
		return err
	}
	s.lastUID, s.boundary = 0, 0
	switch cfg.StartAt.Kind {
	case StartNew:
		s.lastUID = highest
	case StartUnseen, StartSince:
		s.boundary = highest
	}
	// The boundary first: a crash before the checkpoint below decides
	// again, which is right since nothing was read yet.
	if err := cfg.Checkpoints.SetCheckpoint(ctx, firstKey(cfg.Name), cfg.Folder, data.UIDValidity, s.boundary); err != nil {
		return fmt.Errorf("write first-start checkpoint: %w", err)
	}
	if err := cfg.Checkpoints.SetCheckpoint(ctx, cfg.Name, cfg.Folder, data.UIDValidity, s.lastUID); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	s.log.Info("imap folder opened for the first time", "start_at", cfg.StartAt.String(),
		"uid_validity", data.UIDValidity, "messages", data.NumMessages, "highest_uid", highest)
	return nil
}

// restart is the start of a folder the server renumbered: it is read
// whole (no boundary), and the checkpoints are recorded under the new
// UIDVALIDITY.
func (s *session) restart(ctx context.Context, uidValidity uint32) error {
	cfg := &s.p.cfg
	s.lastUID, s.boundary = 0, 0
	if err := cfg.Checkpoints.SetCheckpoint(ctx, firstKey(cfg.Name), cfg.Folder, uidValidity, 0); err != nil {
		return fmt.Errorf("write first-start checkpoint: %w", err)
	}
	if err := cfg.Checkpoints.SetCheckpoint(ctx, cfg.Name, cfg.Folder, uidValidity, 0); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return nil
}

// loadStart reads the boundary of a first start still under way.
func (s *session) loadStart(ctx context.Context, uidValidity uint32) error {
	cfg := &s.p.cfg
	uv, boundary, err := cfg.Checkpoints.Checkpoint(ctx, firstKey(cfg.Name), cfg.Folder)
	if err != nil {
		return fmt.Errorf("read first-start checkpoint: %w", err)
	}
	if uv == uidValidity && boundary > s.lastUID {
		s.boundary = boundary
	}
	return nil
}

// highestUID is the highest UID the selected folder holds: UIDNEXT-1,
// or, from a server that does not say UIDNEXT, the highest UID a SEARCH
// finds.
func (s *session) highestUID(data *imap.SelectData) (uint32, error) {
	if data.UIDNext > 0 {
		return uint32(data.UIDNext) - 1, nil
	}
	if data.NumMessages == 0 {
		return 0, nil
	}
	var found *imap.SearchData
	err := s.c.do(func() (err error) {
		found, err = s.c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("UID SEARCH ALL: %w", err)
	}
	uids := found.AllUIDs()
	if len(uids) == 0 {
		return 0, nil
	}
	return uint32(slices.Max(uids)), nil
}
