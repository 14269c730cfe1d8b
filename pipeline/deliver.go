package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/mapper"
	"github.com/enneo/mailbridge/store"
)

// Run delivers queued messages with cfg.Workers workers until ctx is done.
// A delivery under way when ctx ends is finished (bounded by the API
// timeout and the lease), so a shutdown does not turn a sent request into
// an unknown outcome.
func (p *Pipeline) Run(ctx context.Context) error {
	var wg, workers sync.WaitGroup
	defer p.bg.Wait()
	wg.Go(func() { p.probe(ctx) })
	if p.cfg.KeepDelivered > 0 {
		wg.Go(func() { p.prune(ctx) })
	}
	// The announcement outlives the workers: the attempts a shutdown lets
	// finish are still this instance's, and no other may take them over.
	alive, endAnnouncement := context.WithCancel(context.WithoutCancel(ctx))
	defer endAnnouncement()
	if in, ok := p.store.(store.Instances); ok {
		// Not alive until the first announcement: an instance that cannot
		// announce itself must not claim (see mayClaim).
		p.aliveUntil.Store(1)
		ready := make(chan struct{})
		wg.Go(func() { p.announce(alive, in, ready) })
		<-ready
	}
	p.running.Store(true)
	for range p.cfg.Workers {
		workers.Go(func() { p.work(ctx) })
	}
	workers.Wait()
	p.running.Store(false)
	p.returnHanded(ctx)
	endAnnouncement()
	wg.Wait()
	return nil
}

// maxClaimBatch bounds the messages a worker claims at once. Under a
// backlog, claiming several at a time saves the queue commits per message,
// which is what lets delivery keep up with the SMTP benchmark's offered
// rate (docs/benchmarks.md). More would hold mail behind a slow API call:
// where the API's limit, not the workers, sets the pace, the messages of a
// larger claim wait in one worker for their turn at the limit while
// others' calls go, and delivery falls below the API's capacity.
const maxClaimBatch = 4

// maxFastClaimBatch bounds the messages a worker claims at once while its
// last claim was delivered within fastClaim: then the CPU, not the API,
// sets the pace (an IMAP mailbox's backlog drained into a fast API), and
// a claim of many costs the queue about what a claim of one does, while
// the last message of a claim waits in memory for a moment only.
const (
	maxFastClaimBatch = 16
	fastClaim         = 250 * time.Millisecond
)

// nextBatch is the number of messages a worker claims next after a claim
// of limit that took n messages of size raw bytes and elapsed to deliver.
// A full claim means a backlog: claim more at a time, so that one commit
// serves several messages. A short one means the queue is nearly drained,
// where one at a time spreads mail over all workers and keeps latency low.
func nextBatch(limit, n, size int, elapsed time.Duration) int {
	if n < limit || size > largeClaim {
		return 1
	}
	most := maxClaimBatch
	if elapsed < fastClaim {
		most = maxFastClaimBatch
	}
	return min(2*limit, most)
}

// largeClaim is the raw size of a claim above which a worker goes back to
// claiming one message at a time: the messages of a claim wait in memory
// for their turn, and large ones are better left in the queue, where
// another worker can take them.
const largeClaim = 1 << 20

// DefaultInflightBytes is Config.InflightBytes unless set. Mapping and
// posting a message takes several times its size (the parse, body,
// bodyPlain and bodyClean, the JSON payload), so workers left unbounded
// on a backlog of large mail hold gigabytes at once. 32 MiB keeps the live
// heap to a few hundred MB, which the daemon's memory limit
// (cmd/mailbridge) keeps GOGC from multiplying (docs/benchmarks.md,
// "Memory").
const DefaultInflightBytes = 32 << 20

// DefaultMapTimeout is Config.MapTimeout unless set. The mapper's work is
// linear in a message's size and a 50 MB message maps in about a second,
// so a mapping that takes a minute is a crafted mail or a parser bug.
const DefaultMapTimeout = 60 * time.Second

// claimFailed logs a failed claim that began at started. Every worker
// fails at every poll while the store is down (a PostgreSQL restart), so
// only the first failure is an error line; the rest are debug, until a
// claim works again. A claim that began before the store came back and
// failed after it is no new outage.
func (p *Pipeline) claimFailed(started time.Time, err error) {
	if started.UnixNano() > p.storeBack.Load() && p.storeDown.CompareAndSwap(false, true) {
		p.log.Error("claiming queued messages failed: delivery paused until the store answers", "err", err)
		return
	}
	p.log.Debug("claiming queued messages failed", "err", err)
}

func (p *Pipeline) claimSucceeded() {
	if p.storeDown.CompareAndSwap(true, false) {
		p.storeBack.Store(time.Now().UnixNano())
		p.log.Info("store answers again: delivery resumed")
	}
}

func (p *Pipeline) work(ctx context.Context) {
	idle := time.NewTimer(0)
	defer idle.Stop()
	// The records of the claims made at enqueue that this worker ran:
	// written while it waits for and runs the next ones.
	var handed records
	defer handed.wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-idle.C:
		case <-p.wake:
		case c := <-p.handed:
			// A message claimed at enqueue (see handOff).
			p.unreserve(len(c.Raw))
			if ctx.Err() != nil {
				// A shutdown: back to the queue (see returnHanded).
				p.starved(context.WithoutCancel(ctx), c, errShutdown)
				return
			}
			p.deliverHanded(ctx, c, &handed)
			continue
		}
		// A claim from the queue finds the deliveries before it
		// recorded, as one claim's next mail does.
		handed.wg.Wait()
		batch := 1
		for ctx.Err() == nil {
			// The messages claimed at enqueue first, those waiting
			// now: they were queued before any mail the queue holds
			// for a claim (reserveHandOff), which must not overtake
			// them. Those handed over meanwhile wait for the next
			// round, so that a claim from the queue waits for at most
			// the places in handed; a shutdown leaves them to
			// returnHanded.
			for range len(p.handed) {
				if ctx.Err() != nil {
					break
				}
				c := p.takeHanded()
				if c == nil {
					break
				}
				p.deliverHanded(ctx, c, &handed)
			}
			handed.wg.Wait()
			limit, pilot := batch, false
			if p.holdingBack() {
				// The API is down or refuses the token: every attempt
				// would fail alike. Only the pilot goes, one message.
				if !p.takePilot() {
					break
				}
				limit, pilot = 1, true
			}
			started := time.Now()
			n, size, err := p.deliverDue(ctx, limit)
			if pilot && n == 0 {
				p.pilots.Store(1) // nothing was due: the next poll takes it
			}
			if err != nil {
				if ctx.Err() == nil { // not the shutdown cutting a claim short
					p.claimFailed(started, err)
				}
				break
			}
			p.claimSucceeded()
			if n == 0 {
				break
			}
			batch = nextBatch(limit, n, size, time.Since(started))
		}
		idle.Reset(p.cfg.Poll)
	}
}

// DeliverDue claims up to limit due messages and makes one delivery attempt
// on each. It returns how many it attempted.
func (p *Pipeline) DeliverDue(ctx context.Context, limit int) (int, error) {
	n, _, err := p.deliverDue(ctx, limit)
	return n, err
}

// deliverDue is DeliverDue, also returning the raw bytes it claimed.
func (p *Pipeline) deliverDue(ctx context.Context, limit int) (n, size int, err error) {
	if !p.mayClaim() {
		return 0, 0, errNotAnnounced
	}
	seen := p.queuedSeq.Load()
	claims, err := p.claim(ctx, limit)
	if err != nil {
		return 0, 0, err
	}
	if len(claims) < limit {
		// The queue held no more due mail than this claim took, as of
		// the mail queued before it began.
		storeMax(&p.drainedSeq, seen)
	}
	for i := range claims {
		size += int(claimSize(&claims[i]))
	}
	if size > largeClaim {
		// The messages after the first wait their turn: in the queue,
		// not in memory. attempt reads them again.
		for i := 1; i < len(claims); i++ {
			claims[i].Raw = nil
		}
	}
	// Each delivery's record is committed while the next message is
	// mapped and posted; the claim ends once all are.
	var reports records
	for i := range claims {
		p.attempt(ctx, &claims[i], &reports)
		claims[i].Raw = nil // the next attempt's memory
	}
	reports.wg.Wait()
	return len(claims), size, nil
}

// errNotAnnounced stops the claims of an instance whose announcement on a
// shared store is about to run out: others may take its claims over soon.
var errNotAnnounced = errors.New("this instance could not announce itself in the store lately")

// claimSize is the raw size of a claimed message.
func claimSize(c *store.Claim) int64 { return max(c.Size, int64(len(c.Raw))) }

// attempt runs one delivery attempt. Once started it is finished even if
// ctx ends (the request may already be at the API, and its answer must be
// recorded), but never beyond the claim's lease: past it another worker may
// take the message over, and two workers must not post it at once.
//
// It starts once the message's raw size fits in the InflightBytes budget
// that the attempts under way hold; a message larger than the budget waits
// until it is alone. The budget is first come, first served, so a large
// message is not overtaken by small ones for ever. The wait ends while half
// the lease is left, so that the attempt keeps time for its API calls; a
// claim that waited longer, or whose wait a shutdown ended, goes back to
// the queue (starved). So does a claim whose turn comes with less than
// half its lease left, before any wait.
//
// The record of a delivery is left to reports (see complete).
func (p *Pipeline) attempt(ctx context.Context, c *store.Claim, reports *records) {
	if time.Until(c.LeaseUntil) < p.cfg.Lease/2 {
		// The claim waited past half its lease: behind the earlier
		// messages of its claim, or in handed for a busy worker. Its
		// attempt might not finish before the lease runs out, or not
		// start at all (its deadline passed), and would count all the
		// same; back in the queue, it keeps its turn.
		p.starved(context.WithoutCancel(ctx), c, errLeaseSpent)
		return
	}
	margin := p.cfg.Lease / 10
	actx, cancel := context.WithDeadline(context.WithoutCancel(ctx), c.LeaseUntil.Add(-margin))
	defer cancel()
	held := min(claimSize(c), p.cfg.InflightBytes)
	if !p.budget.TryAcquire(held) {
		// Waiting, the message would hold its raw bytes all the same:
		// under a backlog of large mail every worker would, whatever the
		// budget. So it lets them go and reads them again once it fits.
		c.Raw = nil
		wctx, wcancel := context.WithDeadline(ctx, c.LeaseUntil.Add(-p.cfg.Lease/2))
		err := p.budget.Acquire(wctx, held)
		wcancel()
		if err != nil {
			p.starved(actx, c, err)
			return
		}
	}
	defer p.budget.Release(held)
	if c.Raw == nil {
		m, raw, err := p.store.Get(actx, c.ID)
		if err != nil {
			p.starved(actx, c, fmt.Errorf("read the message again: %w", err))
			return
		}
		if m.State != store.Inflight {
			// Another claim took it over and finished it meanwhile; a
			// delivered message's raw bytes may even be gone (Prune).
			p.claimLog(c, decodeOrigin(c.Origin)).Warn("claim lost to another worker before its attempt; nothing posted", "state", m.State)
			return
		}
		c.Raw = raw
	}
	p.deliver(actx, c, reports)
}

// errLeaseSpent is why a claim that waited past half its lease goes back
// to the queue before its attempt.
var errLeaseSpent = errors.New("the claim waited past half its lease")

// starved gives back a claim whose attempt never started (it waited too
// long for its turn or the budget, a shutdown came, or its raw bytes could
// not be read again), so the attempt does not count.
func (p *Pipeline) starved(ctx context.Context, c *store.Claim, err error) {
	log := p.claimLog(c, decodeOrigin(c.Origin))
	log.Warn("delivery did not start: back in the queue", "err", err, "inflight_bytes", p.cfg.InflightBytes)
	ctx, cancel := context.WithTimeout(ctx, storeReportTimeout)
	defer cancel()
	// The message keeps its place in the queue, and its last error.
	p.queuedSeq.Add(1)
	at := p.now()
	if !c.NextAttemptAt.IsZero() && c.NextAttemptAt.Before(at) {
		at = c.NextAttemptAt
	}
	f := store.Failure{At: at, Error: c.LastError, TicketID: c.TicketID, GoneTicketID: c.GoneTicketID}
	if serr := p.store.Postpone(ctx, c.ID, c.Attempt, f); serr != nil {
		p.reportFailed(log, "record postponement", serr)
	}
}

// claimLog is the logger of the lines about claim c, which came from
// origin.
func (p *Pipeline) claimLog(c *store.Claim, origin mailbox.Origin) *slog.Logger {
	return p.log.With("message_id", c.ExternalID, "subchannel", c.SubchannelID,
		"source", origin.Source, "queue_id", c.ID, "attempt", c.Attempts)
}

// stillOurs reports whether this instance may make the next API call of
// the attempt on claim c: on a shared store, only while its announcement
// is fresh, and has been since c was claimed (c.UpdatedAt, the claim's
// write). Past it, another instance may take the claim over, and two must
// not post one message; the claim is left to it. A claim that waited in
// memory (for the budget, behind the earlier messages of its claim, in
// handed) while the announcement ran out may have been taken over and
// delivered meanwhile, however long its own lease.
func (p *Pipeline) stillOurs(log *slog.Logger, c *store.Claim) bool {
	if !p.mayClaim() {
		log.Warn("this instance could not announce itself in the store lately: the attempt stops, and another instance takes the message over")
		return false
	}
	if lapsed := p.lapsedAt.Load(); lapsed != 0 && c.UpdatedAt.UnixNano() < lapsed {
		log.Warn("this instance's announcement ran out after the message was claimed, and another instance may have taken it over: the attempt stops, and the message is attempted again after its lease")
		return false
	}
	return true
}

// storeReportTimeout bounds the report of an attempt that never started.
const storeReportTimeout = 10 * time.Second

// deliver makes one attempt at one claimed message and records the outcome;
// a delivery's record is left to reports (see complete).
func (p *Pipeline) deliver(ctx context.Context, c *store.Claim, reports *records) {
	origin := decodeOrigin(c.Origin)
	log := p.claimLog(c, origin)
	if c.Reclaimed {
		// All the store knows is that the previous claim's lease ran out
		// without a report: the process died, the attempt outran its
		// lease, or its outcome could not be written.
		log.Warn("previous attempt left no recorded outcome; the API may already hold this conversation, which is checked before posting")
		// An attempt that kills the process (a hostile message exhausting
		// memory, say) never reports a failure, so the limits are checked
		// here too, or the message would crash the daemon forever.
		if p.exhausted(c.Attempts-1, c) {
			p.bury(ctx, log, c, DeadExhausted, fmt.Sprintf("gave up after %d attempts that ended without a report", c.Attempts-1))
			return
		}
	}
	mapCtx, cancel := context.WithTimeout(ctx, p.cfg.MapTimeout)
	res, err := safeMap(mapCtx, c.Raw, p.mapping.Load().mapperOptions(c.SubchannelID, c.ReceivedAt, originJSON(c.Origin), origin))
	cancel()
	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down: the message is attempted again after its lease.
		log.Info("mapping interrupted by shutdown; the message stays queued")
		return
	case errors.Is(err, context.DeadlineExceeded):
		p.bury(ctx, log, c, DeadUnparseable, fmt.Sprintf("mapping took longer than %s (mapper.timeout): given up", p.cfg.MapTimeout))
		return
	case err != nil:
		p.bury(ctx, log, c, DeadUnparseable, fmt.Sprintf("unparseable message: %v", err))
		return
	}
	for _, w := range res.Warnings {
		log.Warn("parser warning", "warning", w)
	}
	// The id the message is queued under is the one it is known by, even
	// if a newer mapper would derive another.
	res.Conversation.ExternalConversationID = c.ExternalID
	if !p.screen(ctx, log, c, origin, res) {
		return
	}

	if !p.stillOurs(log, c) {
		return
	}
	thread := Resolution{TicketID: c.TicketID, Rule: RuleRecorded}
	if c.TicketID == 0 {
		// The thread map knows a delivered mail by its queue row, which
		// its record writes: a reply claimed with the mail it answers
		// waits for that record.
		reports.await(c.SubchannelID, res.Header.InReplyTo, res.Header.References)
		thread, err = p.ticket.Resolve(ctx, &Mail{
			SubchannelID: c.SubchannelID, Result: res, Raw: c.Raw, Origin: origin,
			Attempt: c.Attempts, GoneTicket: c.GoneTicketID,
			awaitParticipants: func(ticketID int64) { reports.awaitParticipants(c.SubchannelID, ticketID) },
		})
		if err != nil {
			p.health.observe(err, c)
			p.failed(ctx, log, c, "ticket resolution", err)
			return
		}
		// The attempt ends once the participants are recorded too, and
		// a delivered message is never attempted again: they are durable
		// before its record as delivered, or in the same transaction
		// (withRecord below).
		defer thread.recorded()
		// The claim carries the ticket from here on, and a failure report
		// records it for the next attempt (store.Failure.TicketID).
		c.TicketID = thread.TicketID
		if log.Enabled(ctx, slog.LevelInfo) {
			log.Info("ticket resolved", "ticket_id", thread.TicketID, "decision", thread.Decision(), "rule", thread.Rule)
		}
	}
	if res.Conversation.RawData == nil {
		res.Conversation.RawData = map[string]any{}
	}
	res.Conversation.RawData["thread"] = thread.rawData()
	ticketID := c.TicketID
	// A mail whose ticket was deleted lands on another; agents can follow
	// the link back.
	if gone := c.GoneTicketID; gone != 0 && gone != ticketID {
		res.Conversation.RawData["replacesTicket"] = gone
	}
	log = log.With("ticket_id", ticketID)

	if !p.stillOurs(log, c) {
		return
	}
	if c.Uncertain > 0 {
		out, found, handled := p.storedEarlier(ctx, log, c, ticketID)
		if handled {
			return
		}
		if found {
			p.complete(ctx, log, c, out, "an earlier attempt had stored the conversation; not posted again", reports, p.withRecord(thread))
			return
		}
	}
	if !p.stillOurs(log, c) {
		return
	}
	out, err := p.paced.StoreConversation(ctx, ticketID, res.Conversation)
	p.health.observe(err, c)
	if stored(err) {
		// The API said 2xx, so the conversation exists; only its ids are
		// unknown. Posting again would duplicate it.
		log.Warn("API stored the conversation but its answer was unreadable; ids not recorded", "err", err)
		out, err = &api.StoreResult{TicketID: ticketID}, nil
	}
	if err != nil {
		if api.Classify(err) == api.TicketNotFound {
			p.ticketGone(ctx, log, c, ticketID, err)
			return
		}
		p.failed(ctx, log, c, "store conversation", err)
		return
	}
	parts := p.withRecord(thread)
	if c.Uncertain > 0 {
		p.complete(ctx, log, c, out, "delivered after an uncertain attempt, whose conversation the API did not hold", reports, parts)
		return
	}
	p.complete(ctx, log, c, out, "", reports, parts)
}

// withRecord is the participants of thread's mail for the delivery's
// record to write, where the store can; otherwise, or if they are written
// already, nil, once they are recorded.
func (p *Pipeline) withRecord(thread Resolution) *participants {
	if _, ok := p.store.(participantsCompleter); ok {
		return thread.withRecord()
	}
	thread.recorded()
	return nil
}

// storedEarlier asks the API whether an earlier attempt whose outcome is
// unknown (no answer, a 5xx, no report) stored the conversation after all.
// The ticket is the one recorded before, or the one resolved again now:
// ticket creation is an upsert on the thread key, so it is the same ticket
// the earlier attempt used.
//
// Only the API's "not there" lets the message be posted again. A check
// that fails is retried as the message's next attempt, with backoff,
// never followed by a blind post: a duplicate conversation may have
// enneo's AI answer a customer twice. Only the message's last attempt
// posts unchecked, with a warning, since a possible duplicate beats a
// dead-lettered mail. An API without the listing cannot be asked: the
// message is posted, as it would be without the check. handled means the
// attempt has been recorded here.
func (p *Pipeline) storedEarlier(ctx context.Context, log *slog.Logger, c *store.Claim, ticketID int64) (out *api.StoreResult, found, handled bool) {
	out, found, err := p.paced.FindConversation(ctx, ticketID, c.ExternalID)
	if api.Classify(err) == api.Auth {
		// Only a refused token tells of the API as a whole: a read that
		// works says nothing of the writes, and one that fails may be the
		// listing's own trouble, which must not hold the writes back.
		p.health.observe(err, c)
	}
	switch {
	case err == nil:
		return out, found, false
	case errors.Is(err, api.ErrNoConversationList):
		if p.noListing.CompareAndSwap(false, true) {
			log.Warn("the API does not list a ticket's conversations: a message whose attempt failed uncertainly (5xx, timeout) is posted again unchecked and may be stored twice",
				append(errAttrs(err), "err", err)...)
		} else {
			log.Debug("no conversation listing at the API: posting again unchecked", "err", err)
		}
		return nil, false, false
	case api.Classify(err) == api.TicketNotFound:
		// The ticket is gone, and with it anything stored on it.
		p.ticketGone(ctx, log, c, ticketID, err)
		return nil, false, true
	case api.Classify(err) == api.Auth:
		p.failed(ctx, log, c, "check for an earlier store", err)
		return nil, false, true
	}
	// The message's last attempt posts: a failed check must not make a
	// dead letter of mail the API may well not hold.
	n := failedChecks(c.LastError) + 1
	if p.exhausted(c.Attempts, c) {
		log.Warn("could not check whether an earlier attempt stored the conversation; posting it, which may store it twice",
			append(errAttrs(err), "failed_checks", n, "err", err)...)
		return nil, false, false
	}
	msg := fmt.Sprintf(checkFailedError, n, err)
	wait := p.retryWait(c, err)
	level := slog.LevelWarn
	if p.health.quiet(err) {
		level = slog.LevelDebug
	}
	log.Log(ctx, level, "could not check whether an earlier attempt stored the conversation; will check again before posting",
		append(errAttrs(err), "failed_checks", n, "err", err, "retry_in", wait)...)
	// The check is a read: it adds no uncertainty of its own.
	p.retry(ctx, log, c, retryFailure(p.now().Add(wait), msg, err), !p.health.quiet(err))
	return nil, false, true
}

// checkFailedError is the queue's last error after a failed check; the
// next attempt reads the count back from it (failedChecks). Any other
// last error (the store call's) starts the count afresh.
const checkFailedError = "check for an earlier store failed (%d in a row): %v"

// failedChecks is how many checks in a row failed before this attempt.
func failedChecks(lastError string) int {
	var n int
	if _, err := fmt.Sscanf(lastError, "check for an earlier store failed (%d in a row)", &n); err != nil {
		return 0
	}
	return n
}

// complete records the delivery of c with the API's answer out, and
// parts, if not nil, in the same write. With
// reports, the record is written in the background, which reports tracks:
// the conversation is at the API already, so the worker need not wait for
// the commit (an fsync) to map and post the next message. A record that
// fails is as if the process had died after the post: the message is
// attempted again after its lease, and its earlier store found before any
// second post.
func (p *Pipeline) complete(ctx context.Context, log *slog.Logger, c *store.Claim, out *api.StoreResult, note string, reports *records, parts *participants) {
	id, attempt, sub, uncertain := c.ID, c.Attempt, c.SubchannelID, c.Uncertain
	mine := claimMark{c.Attempts, c.ReleasedAt}
	record := func(ctx context.Context) {
		o := store.Outcome{TicketID: out.TicketID, ConversationID: out.ConversationID, EventID: out.EventID}
		err := p.record(ctx, log, id, mine, func() error {
			if pc, ok := p.store.(participantsCompleter); ok && parts != nil {
				return pc.CompleteWithParticipants(ctx, id, attempt, o, parts.sub, parts.ticket, parts.addrs)
			}
			return p.store.Complete(ctx, id, attempt, o)
		}, o)
		if err != nil {
			p.reportFailed(log, "record delivery", err)
			return
		}
		p.obs.Delivered(sub)
		attrs := []any{"conversation_id", out.ConversationID, "event_id", out.EventID, "trace_id", out.TraceID}
		if note != "" {
			attrs = append(attrs, "note", note, "uncertain_attempts", uncertain)
		}
		log.Info("delivered", attrs...)
	}
	if reports == nil {
		record(ctx)
		return
	}
	// The attempt's context ends when it returns; the record has a bound
	// of its own, as a report after an attempt that never started does.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeReportTimeout)
	reports.started(sub, c.ExternalID, parts)
	reports.pending.Add(1)
	reports.wg.Go(func() {
		defer reports.pending.Add(-1)
		defer cancel()
		record(rctx)
	})
}

// recordRetryFor is how long a delivery's record is tried again after a
// failed write; a variable for the tests of the record that never lands.
var recordRetryFor = storeReportTimeout

// record writes the record of message id's delivery, outcome o, by
// write, and tries again while ctx and recordRetryFor allow: a store that
// restarts (a PostgreSQL failover) is back within seconds, and a message
// whose record failed would wait out its lease, and a check at the API,
// before it counts as delivered. A try whose answer was lost may have
// committed all the same; a try then finds the claim gone (the
// PostgreSQL store's own retry of a failed batch does on the first), and
// the message's row tells whether it holds this delivery.
func (p *Pipeline) record(ctx context.Context, log *slog.Logger, id int64, mine claimMark, write func() error, o store.Outcome) error {
	err := p.written(ctx, id, mine, o, write())
	if err == nil || errors.Is(err, store.ErrLeaseLost) {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, recordRetryFor)
	defer cancel()
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		log.Debug("recording the delivery failed; trying again", "err", err, "retry_in", wait)
		select {
		case <-rctx.Done():
			return err
		case <-time.After(wait):
		}
		err = p.written(ctx, id, mine, o, write())
		if err == nil || errors.Is(err, store.ErrLeaseLost) {
			return err
		}
	}
}

// claimMark is what a message's row says of the claim that made its
// last attempt: the attempts counted, and when an operator last gave the
// message a fresh count.
type claimMark struct {
	attempts int
	released time.Time
}

// written is err, the answer to a write of message id's delivery with
// outcome o by claim mine, or nil where err is store.ErrLeaseLost and the
// row holds that delivery. The ids alone could be another claim's record:
// one that took the message over after this claim's lease and found the
// conversation at the API, or posted it again with an unreadable answer
// (no ids). Each claim counts an attempt, and one that ends delivered
// keeps it; only an operator's requeue or release resets the count, and
// stamps the row. So a later claim's record differs in one or the other.
func (p *Pipeline) written(ctx context.Context, id int64, mine claimMark, o store.Outcome, err error) error {
	if !errors.Is(err, store.ErrLeaseLost) {
		return err
	}
	m, gerr := p.message(ctx, id)
	if gerr == nil && m.State == store.Delivered && m.Attempts == mine.attempts && m.ReleasedAt.Equal(mine.released) &&
		m.TicketID == o.TicketID && m.ConversationID == o.ConversationID && m.EventID == o.EventID {
		return nil
	}
	return err
}

// messageReader is a store that reads a message's row without its raw
// bytes (both stores).
type messageReader interface {
	Message(ctx context.Context, id int64) (store.Message, error)
}

// message returns message id's row. A record asks after its attempt, its
// raw bytes no longer in the budget, and a store that lost the answers of
// a batch has all of the batch's records ask at once: only the row is read
// where the store can.
func (p *Pipeline) message(ctx context.Context, id int64) (store.Message, error) {
	if mr, ok := p.store.(messageReader); ok {
		return mr.Message(ctx, id)
	}
	m, _, err := p.store.Get(ctx, id)
	return m, err
}

// failed records a failed attempt: a retry with backoff, a slow retry for an
// authentication problem, or a dead letter for a permanent error or a
// message out of attempts or age.
func (p *Pipeline) failed(ctx context.Context, log *slog.Logger, c *store.Claim, op string, err error) {
	log = log.With(errAttrs(err)...)
	msg := fmt.Sprintf("%s: %v", op, err)
	// While the API is down or refuses the token, every attempt fails
	// alike: health logs the change and a summary, each message's line is
	// for debugging.
	level := slog.LevelWarn
	if p.health.quiet(err) {
		level = slog.LevelDebug
	}
	switch api.Classify(err) {
	case api.Permanent:
		p.bury(ctx, log, c, DeadRejected, msg)
		return
	case api.Auth:
		// Every message would fail the same way until an admin fixes the
		// token: wait long (the probe releases it sooner), never give up
		// on the message. The attempt does not count against its limits.
		log.Debug("token refused; the message stays queued", "err", err, "retry_in", p.cfg.AuthRetry)
		p.retry(ctx, log, c, store.Failure{At: p.now().Add(p.cfg.AuthRetry), Error: msg}, false)
		return
	}
	if throttled(err) {
		p.heldBack(ctx, log, c, msg, err)
		return
	}
	// An attempt failed by the API's outage is not the message's failure:
	// it waits with backoff like any other, but does not count, so that
	// an outage makes no dead letters before delivery.maxAge.
	counted := !p.health.quiet(err)
	if counted && p.exhausted(c.Attempts, c) || !counted && p.exhausted(0, c) {
		p.bury(ctx, log, c, DeadExhausted, fmt.Sprintf("gave up after %d attempts over %s: %s",
			c.Attempts, p.now().Sub(c.CreatedAt).Round(time.Second), msg))
		return
	}
	wait := p.retryWait(c, err)
	log.Log(ctx, level, "delivery failed; will retry", "err", err, "retry_in", wait)
	f := retryFailure(p.now().Add(wait), msg, err)
	f.Uncertain = isUncertain(err)
	p.retry(ctx, log, c, f, counted)
}

// retryFailure is a failure after err whose next attempt is at; where
// err carries the API's Retry-After, at is the API's own wait, which no
// release brings forward.
func retryFailure(at time.Time, msg string, err error) store.Failure {
	f := store.Failure{At: at, Error: msg}
	if ae, ok := errors.AsType[*api.Error](err); ok && ae.RetryAfter > 0 {
		f.NotBefore = at
	}
	return f
}

// retryWait is the backoff before c's next attempt after err, never less
// than the API's Retry-After.
func (p *Pipeline) retryWait(c *store.Claim, err error) time.Duration {
	wait := p.backoff(c.Attempts)
	var ae *api.Error
	if errors.As(err, &ae) && ae.RetryAfter > wait {
		wait = ae.RetryAfter
	}
	return wait
}

// ticketGone handles a 404 on store: the ticket was deleted (or never
// existed). The message forgets it and resolves a ticket afresh on its next
// attempt, right away.
func (p *Pipeline) ticketGone(ctx context.Context, log *slog.Logger, c *store.Claim, ticketID int64, err error) {
	log.Warn("ticket not found at the API; resolving a new ticket", append(errAttrs(err), "err", err)...)
	if p.exhausted(c.Attempts, c) {
		p.bury(ctx, log, c, DeadExhausted, fmt.Sprintf("gave up after %d attempts: ticket %d not found", c.Attempts, ticketID))
		return
	}
	c.TicketID, c.GoneTicketID = 0, ticketID
	// The first 404 is retried at once; a ticket that keeps vanishing (an
	// upsert landing on a deleted ticket) backs off like any failure.
	f := store.Failure{At: p.now(), Error: fmt.Sprintf(ticketGoneError, ticketID)}
	if c.Attempts > 1 {
		f.At = f.At.Add(p.backoff(c.Attempts))
		f.NotBefore = f.At // the message's own wait, not an outage's
	}
	p.retry(ctx, log, c, f, true)
}

// ticketGoneError is the queue's last error after a 404 on store.
const ticketGoneError = "ticket %d not found"

// retry puts c back in the queue after failure f, which counts against
// the message's attempts if counted. The claim's tickets go with it.
//
// An attempt under way when release made the waiting mail due (an outage
// or a refused token ended) failed, most likely, by what ended: it is due
// at once like the mail released, unless the API itself told it to wait.
// A release that comes between that look and the record cannot see the
// message, which is not waiting yet: the record then makes the waiting
// mail due again.
func (p *Pipeline) retry(ctx context.Context, log *slog.Logger, c *store.Claim, f store.Failure, counted bool) {
	f.TicketID, f.GoneTicketID = c.TicketID, c.GoneTicketID
	report, op := p.store.Retry, "record retry"
	if !counted {
		report, op = p.store.Postpone, "record postponement"
	}
	// A release stamped ahead of the wall clock means the clock stepped
	// back since: the claims made after the release carry earlier stamps,
	// and their own failures would come due at once, attempt after attempt.
	released := p.releasedAt.Load()
	if f.NotBefore.IsZero() && released != 0 && released >= c.UpdatedAt.UnixNano() && released <= time.Now().UnixNano() && f.At.After(p.now()) {
		f.At = p.now()
	}
	if serr := report(ctx, c.ID, c.Attempt, f); serr != nil {
		p.reportFailed(log, op, serr)
		return
	}
	if p.releasedAt.Load() != released && f.NotBefore.IsZero() {
		p.hasten(ctx, "an attempt under way at the release failed")
	}
	p.obs.Retried(c.SubchannelID)
}

func (p *Pipeline) bury(ctx context.Context, log *slog.Logger, c *store.Claim, why DeadReason, reason string) {
	log.Error("message moved to dead letters", "reason", reason)
	p.buryQuietly(ctx, log, c, why, reason)
}

// buryQuietly records a dead letter that the caller has logged.
func (p *Pipeline) buryQuietly(ctx context.Context, log *slog.Logger, c *store.Claim, why DeadReason, reason string) {
	if err := p.store.Bury(ctx, c.ID, c.Attempt, reason); err != nil {
		p.reportFailed(log, "record dead letter", err)
		return
	}
	p.obs.DeadLettered(c.SubchannelID, why)
}

// reportFailed logs a store write that failed after an attempt. The claim's
// lease runs out and the message is attempted again; ErrLeaseLost means
// another worker took it over meanwhile, which is expected after a stall.
func (p *Pipeline) reportFailed(log *slog.Logger, op string, err error) {
	if errors.Is(err, store.ErrLeaseLost) {
		log.Warn("claim lost to another worker; result discarded", "op", op)
		return
	}
	log.Error("store write failed; the message will be attempted again after its lease", "op", op, "err", err)
}

// exhausted reports whether c, after attempts counted attempts, has used up
// its attempts or its time. Age runs from when mailbridge queued the
// message, not from its Date or the server's INTERNALDATE, so old mail
// fetched for the first time gets its full chance; for a message an
// operator released or requeued, from then, so mail held for weeks gets
// its full chance too.
func (p *Pipeline) exhausted(attempts int, c *store.Claim) bool {
	since := c.CreatedAt
	if c.ReleasedAt.After(since) {
		since = c.ReleasedAt
	}
	return attempts >= p.cfg.MaxAttempts || p.now().Sub(since) > p.cfg.MaxAge
}

// backoff is capped exponential backoff with equal jitter: half the step is
// fixed, half random, so retries spread out but never come early.
func (p *Pipeline) backoff(attempt int) time.Duration {
	d := p.cfg.BackoffInitial
	for i := 1; i < attempt && d < p.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, p.cfg.BackoffMax)
	return d/2 + rand.N(d/2+1)
}

// stored reports whether err comes with a 2xx status: the API acted on the
// request, whatever went wrong with its answer.
func stored(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Status >= 200 && ae.Status < 300
}

func isUncertain(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Uncertain()
}

func errAttrs(err error) []any {
	var ae *api.Error
	if !errors.As(err, &ae) {
		return nil
	}
	return []any{"status", ae.Status, "tx_id", ae.TxID, "trace_id", ae.TraceID}
}

// safeMap keeps a parser bug on one hostile message from taking the daemon
// (and every other queued message) down with it: the message is buried
// with the panic as its reason instead.
func safeMap(ctx context.Context, raw []byte, o mapper.Options) (res *mapper.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("mapper panicked: %v", r)
		}
	}()
	return mapper.Map(ctx, raw, o)
}

// records tracks the records of a claim's deliveries that are written in
// the background (see complete). Only the worker of the claim uses it.
type records struct {
	wg sync.WaitGroup
	// pending counts the records under way.
	pending atomic.Int32
	// ids are the keys (TicketKey) of the messages whose record was
	// started.
	ids map[string]bool
	// tickets are the tickets whose participants a record under way
	// writes.
	tickets map[ticketOf]bool
}

// ticketOf is a ticket of a subchannel.
type ticketOf struct {
	sub    int
	ticket int64
}

// started notes that the record of message externalID of subchannel sub
// is under way, with parts if not nil.
func (r *records) started(sub int, externalID string, parts *participants) {
	if r.ids == nil {
		r.ids = make(map[string]bool)
	}
	r.ids[TicketKey(sub, externalID)] = true
	if parts != nil {
		if r.tickets == nil {
			r.tickets = make(map[ticketOf]bool)
		}
		r.tickets[ticketOf{parts.sub, parts.ticket}] = true
	}
}

// awaitParticipants waits for the records under way if one of them writes
// participants of ticketID: a sender check of a later mail of the claim
// reads them.
func (r *records) awaitParticipants(sub int, ticketID int64) {
	if r != nil && r.tickets[ticketOf{sub, ticketID}] {
		r.wg.Wait()
	}
}

// await waits for the records under way if one of them is of a message
// that inReplyTo or references name: the thread map finds it by its
// record.
func (r *records) await(sub int, inReplyTo, references []string) {
	if r == nil || len(r.ids) == 0 {
		return
	}
	for _, id := range slices.Concat(inReplyTo, references) {
		if r.ids[TicketKey(sub, id)] {
			r.wg.Wait()
			return
		}
	}
}
