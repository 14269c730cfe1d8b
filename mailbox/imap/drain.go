package imap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/sync/semaphore"

	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/mapper"
)

// ingestParallel is how many messages of a batch are committed at once.
// The queue commits concurrent writes together (one fsync for many), so a
// few in flight multiply throughput; order in the queue within a batch is
// then not UID order, but acknowledgement and checkpoints still are.
const ingestParallel = 16

// outcome is what became of one fetched message.
type outcome int

const (
	pending   outcome = iota // not (yet) queued: stop before it
	queued                   // committed (or a duplicate): acknowledge
	permanent                // rejected for good: to the error folder
	gone                     // expunged before it was fetched: nothing to do
)

// result is one message of a batch.
type result struct {
	uid     imap.UID
	outcome outcome
}

// drain processes every message above the checkpoint, batch by batch.
func (s *session) drain(ctx context.Context) error {
	for {
		uids, err := s.search(ctx)
		if err != nil {
			return err
		}
		if len(uids) == 0 {
			return nil
		}
		for batch := range slices.Chunk(uids, s.p.cfg.BatchSize) {
			if err := s.batch(ctx, batch); err != nil {
				return err
			}
		}
		// Mail that arrived meanwhile is picked up by the next search.
	}
}

// search returns the UIDs above the checkpoint, ascending. During a first
// start, up to its boundary only those StartAt picks; once none of those
// is left the checkpoint moves to the boundary.
//
// The mail above the boundary comes with those picked: a message the
// server does not return is counted, and at last set aside, only in a
// FETCH that returns mail behind it, and the last one picked may have
// none behind it but the new mail.
func (s *session) search(ctx context.Context) ([]imap.UID, error) {
	if s.boundary > s.lastUID {
		uids, err := s.c.searchRange(s.p.cfg.StartAt.criteria(), s.lastUID, s.boundary)
		if err != nil {
			return nil, err
		}
		if len(uids) > 0 {
			newer, err := s.c.searchRange(nil, s.boundary, 0)
			return append(uids, newer...), err
		}
		cfg := &s.p.cfg
		if err := cfg.Checkpoints.SetCheckpoint(ctx, cfg.Name, cfg.Folder, s.uidValidity, s.boundary); err != nil {
			return nil, fmt.Errorf("write checkpoint: %w", err)
		}
		s.log.Info("imap first start read", "start_at", cfg.StartAt.String(), "last_uid", s.boundary)
		s.lastUID = s.boundary
	}
	return s.c.searchRange(nil, s.lastUID, 0)
}

// batch fetches uids, queues each, acknowledges the queued ones and moves
// the checkpoint over the unbroken run of settled UIDs.
func (s *session) batch(ctx context.Context, uids []imap.UID) error {
	results, fetchErr := s.fetch(ctx, uids)

	var ack, failed []imap.UID
	for _, r := range results {
		switch r.outcome {
		case queued:
			ack = append(ack, r.uid)
		case permanent:
			failed = append(failed, r.uid)
		}
	}
	// Acknowledge what is queued even when the batch broke off: it is
	// committed, and acknowledging it now saves a re-fetch. A move the
	// server refuses is a configuration error (ErrTarget): the messages
	// are flagged instead and the checkpoint passes them, so that they are
	// not fetched again and again; the session then ends with the error.
	var refused error
	if len(ack) > 0 {
		if err := inChunks(ack, s.acknowledge); err != nil {
			set := imap.UIDSetNum(ack...)
			if !errors.Is(err, errMoveRefused) {
				return fmt.Errorf("after-action %s on %v: %w", s.p.cfg.After, set, err)
			}
			refused = targetRefused{fmt.Errorf("afterProcess %s on %v: %w", s.p.cfg.After, set, err)}
			s.flagRefused(ack, notMovedKeyword, err)
		}
	}
	if len(failed) > 0 {
		if err := inChunks(failed, s.reject); err != nil {
			set := imap.UIDSetNum(failed...)
			if !errors.Is(err, errMoveRefused) {
				return fmt.Errorf("error handling of %v: %w", set, err)
			}
			refused = errors.Join(refused, targetRefused{fmt.Errorf("errorFolder on %v: %w", set, err)})
			s.flagRefused(failed, errorKeyword, err)
		}
		n := 0
		for _, r := range results {
			if r.outcome == permanent {
				n++
			}
		}
		s.p.status.update(func(st *Status) { st.SetAside += n })
	}
	last := s.lastUID
	for _, r := range results {
		if r.outcome == pending {
			break
		}
		last = uint32(r.uid)
	}
	if last != s.lastUID {
		if err := s.p.cfg.Checkpoints.SetCheckpoint(ctx, s.p.cfg.Name, s.p.cfg.Folder, s.uidValidity, last); err != nil {
			return fmt.Errorf("write checkpoint: %w", err)
		}
		if s.boundary > s.lastUID && last >= s.boundary {
			s.log.Info("imap first start read", "start_at", s.p.cfg.StartAt.String(), "last_uid", last)
		}
		s.lastUID = last
		maps.DeleteFunc(s.p.unreadable, func(u imap.UID, _ int) bool { return uint32(u) <= last })
	}
	if refused != nil {
		return refused
	}
	return fetchErr
}

// flagRefused marks messages the server refused to move with flag
// instead; they stay in the folder. A failing STORE is only logged: the
// checkpoint passes them either way.
func (s *session) flagRefused(uids []imap.UID, flag imap.Flag, moveErr error) {
	err := inChunks(uids, func(set imap.UIDSet) error { return s.addFlag(set, flag) })
	s.log.Error("imap move refused; messages stay in the folder, flagged", "uids", imap.UIDSetNum(uids...).String(),
		"flag", string(flag), "err", moveErr, "flag_err", err)
}

// fetch streams uids with BODY.PEEK[] (never setting \Seen) and queues each
// message as it arrives. The results are in UID order, one per UID asked
// for; a UID the server did not return (expunged meanwhile) counts as
// settled, since there is nothing left to process.
//
// Memory is bounded by bytes, not only by messages: a message is read only
// once its size fits in the InflightBytes budget, which the ingests under
// way hold until they return, and one over MaxMessageBytes is never read
// into memory at all.
func (s *session) fetch(ctx context.Context, uids []imap.UID) ([]result, error) {
	results := make([]result, len(uids))
	index := make(map[imap.UID]int, len(uids))
	for i, u := range uids {
		results[i] = result{uid: u}
		index[u] = i
	}
	seen := make([]bool, len(uids))
	// bodiless marks a UID whose FETCH response came without its body.
	bodiless := make([]bool, len(uids))

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		budget   = semaphore.NewWeighted(s.p.cfg.InflightBytes)
		// jobs feeds the ingest workers, at most ingestParallel, started
		// as the batch needs them: a goroutine per message would grow a
		// fresh stack for each.
		jobs    = make(chan ingestJob)
		workers = 0
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	worker := func() {
		defer wg.Done()
		for j := range jobs {
			out, err := s.ingest(ctx, j.uid, j.raw)
			budget.Release(j.held)
			if err != nil {
				fail(err)
			}
			results[j.index].outcome = out
		}
	}

	body := &imap.FetchItemBodySection{Peek: true}
	s.c.arm()
	cmd := s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{body},
	})
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		s.c.arm() // the bound is on silence, not on the whole batch
		m, err := s.readMessage(ctx, msg, budget)
		if err != nil {
			fail(fmt.Errorf("read message: %w", err))
			break
		}
		i, ok := index[m.uid]
		if !ok || m.uid == 0 {
			budget.Release(m.held)
			continue
		}
		seen[i] = true
		if !m.body {
			// A FETCH response without the body (an unsolicited flags
			// update, say) is no verdict on the message: it stays pending,
			// and the session is retried after a backoff rather than
			// looping on it. Dovecot answers so for a file it cannot
			// read, before ending the FETCH with NO.
			bodiless[i] = true
			continue
		}
		if m.oversize {
			s.log.Error("imap message larger than maxMessageBytes; setting it aside unread",
				"uid", uint32(m.uid), "subchannel", s.p.cfg.SubchannelID, "message_id", m.head.MessageID,
				"from", m.head.From, "subject", m.head.Subject,
				"size", m.size, "max_message_bytes", s.p.cfg.MaxMessageBytes, "error_folder", s.p.cfg.ErrorFolder)
			results[i].outcome = permanent
			continue
		}
		if ctx.Err() != nil {
			budget.Release(m.held)
			fail(ctx.Err())
			break
		}
		j := ingestJob{uid: m.uid, raw: m.raw, held: m.held, index: i}
		select {
		case jobs <- j: // a worker was idle
			continue
		default:
		}
		if workers < ingestParallel {
			workers++
			wg.Add(1)
			go worker()
		}
		sent := false
		s.c.waitOurs(func() {
			select {
			case jobs <- j:
				sent = true
			case <-ctx.Done():
			}
		})
		if !sent {
			budget.Release(m.held)
			fail(ctx.Err())
			break
		}
	}
	close(jobs)
	err := cmd.Close()
	s.c.disarm()
	wg.Wait()
	returned := slices.Clone(seen)
	for i := range bodiless {
		if bodiless[i] {
			returned[i] = false
		}
	}
	if err != nil {
		var imapErr *imap.Error
		if firstErr == nil && errors.As(err, &imapErr) && imapErr.Type == imap.StatusResponseTypeNo {
			s.unreadable(results, returned, err)
		}
		fail(fmt.Errorf("UID FETCH: %w", err))
	}
	if i := slices.Index(bodiless, true); i >= 0 {
		fail(fmt.Errorf("UID FETCH: uid %d came without its body", results[i].uid))
	}
	if firstErr != nil {
		return results, firstErr
	}
	for i := range results {
		if !seen[i] {
			// Gone between SEARCH and FETCH: nothing to process.
			s.log.Debug("imap message vanished before fetch", "uid", uint32(results[i].uid))
			results[i].outcome = gone
		}
	}
	return results, nil
}

// unreadableAttempts is how many FETCHes the server may answer NO while
// passing over a message before it is set aside: a message the server
// cannot read (a damaged file) would otherwise hold the checkpoint for
// good, and with it all mail more than a batch behind it. With the
// reconnect backoff, ten attempts span about a quarter of an hour.
const unreadableAttempts = 10

// unreadable counts the attempts on the messages of a FETCH that the
// server ended with NO, passing over them (or returning them without
// their body) while it returned mail behind them, and marks those out of
// attempts permanent; the others stay pending. Only a message passed over
// counts: a NO that returned nothing, or nothing after the message (the
// server out of service, over a limit, stopping half-way), says nothing
// about it, and setting a batch aside for that would take good mail out
// of the folder.
func (s *session) unreadable(results []result, returned []bool, fetchErr error) {
	p := s.p
	if p.unreadable == nil || p.unreadableUV != s.uidValidity {
		p.unreadable, p.unreadableUV = map[imap.UID]int{}, s.uidValidity
	}
	// results are in UID order; a message passed over is before the last
	// one returned.
	last := -1
	for i := range results {
		if returned[i] {
			last = i
		}
	}
	for i := range last {
		uid := results[i].uid
		if returned[i] {
			delete(p.unreadable, uid)
			continue
		}
		p.unreadable[uid]++
		if p.unreadable[uid] < unreadableAttempts {
			continue
		}
		delete(p.unreadable, uid)
		s.log.Error("imap message the server does not return; setting it aside", "uid", uint32(uid),
			"subchannel", p.cfg.SubchannelID, "attempts", unreadableAttempts, "err", fetchErr,
			"error_folder", p.cfg.ErrorFolder)
		results[i].outcome = permanent
	}
}

// ingestJob is a fetched message handed to an ingest worker: results[index]
// gets its outcome, and held goes back to the budget once it is queued.
type ingestJob struct {
	uid   imap.UID
	raw   []byte
	held  int64
	index int
}

// fetched is one FETCH response, read.
type fetched struct {
	uid      imap.UID
	raw      []byte
	size     int64 // of the message on the server
	held     int64 // of the budget, to release once raw is let go
	body     bool  // the response held the body (raw, or oversize)
	oversize bool  // over MaxMessageBytes: raw is nil
	// head is an oversize message's header, for the log.
	head mapper.Header
}

// headBytes is how much of an oversize message is kept, for what its
// header says in the log (Message-ID, From, Subject).
const headBytes = 64 << 10

// readMessage reads the UID and the whole body of one FETCH response,
// after taking the body's size from budget. A body over MaxMessageBytes is
// read past, keeping only what its start shows of the header. The watchdog
// is re-armed as the body's bytes arrive: its bound is on the server's
// silence, and a large body on a slow link takes longer than that.
func (s *session) readMessage(ctx context.Context, msg *imapclient.FetchMessageData, budget *semaphore.Weighted) (fetched, error) {
	var m fetched
	for {
		item := msg.Next()
		if item == nil {
			return m, nil
		}
		switch item := item.(type) {
		case imapclient.FetchItemDataUID:
			m.uid = item.UID
		case imapclient.FetchItemDataBodySection:
			if item.Literal == nil {
				continue
			}
			m.body = true
			m.size = item.Literal.Size()
			lit := armingReader{r: item.Literal, c: s.c}
			if m.size > s.p.cfg.MaxMessageBytes {
				m.oversize = true
				var err error
				if m.head, err = skipMessage(lit); err != nil {
					return m, err
				}
				continue
			}
			// A message larger than the whole budget waits until it is
			// the only one in flight.
			held := min(m.size, s.p.cfg.InflightBytes)
			if !budget.TryAcquire(held) {
				var err error
				s.c.waitOurs(func() { err = budget.Acquire(ctx, held) })
				if err != nil {
					return m, err
				}
			}
			m.held = held
			// The literal's size is exact: one buffer of it holds the
			// message, and reading on to EOF ends the literal.
			raw := make([]byte, m.size)
			_, err := io.ReadFull(lit, raw)
			if err == nil {
				_, err = io.Copy(io.Discard, lit)
			}
			if err != nil {
				budget.Release(m.held)
				m.held = 0
				return m, err
			}
			m.raw = raw
		}
	}
}

// armingReader re-arms c's watchdog whenever bytes arrive.
type armingReader struct {
	r io.Reader
	c *conn
}

func (a armingReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.c.arm()
	}
	return n, err
}

// skipMessage reads a message past, returning what its first headBytes
// show of its header.
func skipMessage(r io.Reader) (mapper.Header, error) {
	head := make([]byte, headBytes)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return mapper.Header{}, err
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return mapper.Header{}, err
	}
	return mapper.ParseHeader(head[:n]), nil
}

// ingest queues one message and says what to do with it on the server.
func (s *session) ingest(ctx context.Context, uid imap.UID, raw []byte) (outcome, error) {
	cfg := &s.p.cfg
	// The lines' common fields, given to each call rather than to With,
	// which would format them for lines the log level drops; made only
	// for a line that is written.
	attrs := func(more ...any) []any {
		return append([]any{"uid", uint32(uid), "subchannel", cfg.SubchannelID}, more...)
	}
	rcpt, err := cfg.Ingester.Ingest(ctx, mailbox.Message{
		Raw:          raw,
		Handover:     true, // readMessage made raw for this message alone
		SubchannelID: cfg.SubchannelID,
		Origin: mailbox.Origin{
			Source:     "imap",
			ReceivedAt: time.Now().UTC(),
			IMAP: &mailbox.IMAPOrigin{
				Mailbox: cfg.Name, Folder: cfg.Folder,
				UIDValidity: s.uidValidity, UID: uint32(uid),
				Archive: cfg.archive, Direction: cfg.direction,
			},
		},
	})
	switch {
	case err == nil:
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.Debug("imap message queued", attrs("message_id", rcpt.ExternalID,
				"queue_id", rcpt.QueueID, "duplicate", rcpt.Duplicate)...)
		}
		return queued, nil
	case len(raw) == 0 || (cfg.Permanent != nil && cfg.Permanent(err)):
		s.log.Error("imap message rejected for good; setting it aside", attrs("err", err,
			"size", len(raw), "error_folder", cfg.ErrorFolder)...)
		return permanent, nil
	case errors.Is(err, context.Canceled):
		return pending, err
	default:
		s.log.Error("imap message not queued; it stays on the server", attrs("err", err)...)
		return pending, fmt.Errorf("queue uid %d: %w", uid, err)
	}
}

// ackChunk is the most UIDs one after-action command (STORE, MOVE, COPY,
// EXPUNGE) names. The timeout bounds each such command as a whole, and the
// server's work on it grows with the messages it touches: the batch size
// must not decide whether it fits, since a batch whose acknowledgement
// times out is fetched and acknowledged again, and times out again.
const ackChunk = 100

// inChunks runs fn on uids, ackChunk at a time, stopping at the first
// error.
func inChunks(uids []imap.UID, fn func(imap.UIDSet) error) error {
	for chunk := range slices.Chunk(uids, ackChunk) {
		if err := fn(imap.UIDSetNum(chunk...)); err != nil {
			return err
		}
	}
	return nil
}

// acknowledge applies the after-action to queued messages.
func (s *session) acknowledge(uids imap.UIDSet) error {
	a := s.p.cfg.After
	switch a.Kind {
	case ActionSeen:
		return s.addFlag(uids, imap.FlagSeen)
	case ActionFlag:
		return s.addFlag(uids, imap.Flag(a.Arg))
	case ActionMove:
		return s.move(uids, a.Arg)
	case ActionDelete:
		return s.delete(uids)
	}
	return nil
}

// reject sets aside messages that failed for good: into the error folder,
// or flagged $MailbridgeError when there is none. Either way the
// checkpoint passes them.
func (s *session) reject(uids imap.UIDSet) error {
	if f := s.p.cfg.ErrorFolder; f != "" {
		return s.move(uids, f)
	}
	return s.addFlag(uids, errorKeyword)
}

func (s *session) addFlag(uids imap.UIDSet, flag imap.Flag) error {
	return s.c.do(func() error {
		return s.c.Store(uids, &imap.StoreFlags{
			Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{flag},
		}, nil).Close()
	})
}

// move uses MOVE where the server has it (IMAP4rev2 implies it).
// Otherwise it copies and waits for COPY's answer before marking the
// messages \Deleted and expunging them: imapclient's own fallback
// pipelines the three commands, so a refused COPY would still delete.
// A MOVE or COPY the server answers NO to is errMoveRefused.
func (s *session) move(uids imap.UIDSet, folder string) error {
	var err error
	if s.c.Caps().Has(imap.CapMove) {
		err = s.c.do(func() error {
			_, err := s.c.Move(uids, folder).Wait()
			return err
		})
	} else {
		err = s.c.do(func() error {
			_, err := s.c.Copy(uids, folder).Wait()
			return err
		})
		if err == nil {
			return s.delete(uids)
		}
	}
	var imapErr *imap.Error
	if errors.As(err, &imapErr) && imapErr.Type == imap.StatusResponseTypeNo {
		return fmt.Errorf("%w to %q: %v", errMoveRefused, folder, err)
	}
	return err
}

// errMoveRefused is a move the server refused (NO: no right to insert,
// over quota, no such folder).
var errMoveRefused = errors.New("the server refuses the move")

// delete marks the messages \Deleted and expunges them. Without UIDPLUS
// only a plain EXPUNGE exists, which also removes other messages someone
// marked \Deleted in the folder.
func (s *session) delete(uids imap.UIDSet) error {
	if err := s.addFlag(uids, imap.FlagDeleted); err != nil {
		return err
	}
	return s.c.do(func() error {
		if s.c.Caps().Has(imap.CapUIDPlus) {
			return s.c.UIDExpunge(uids).Close()
		}
		return s.c.Expunge().Close()
	})
}
