package pipeline

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/store"
)

// The rules of ticket resolution, as rawData.thread.rule names them.
const (
	RuleInReplyTo   = "in-reply-to"
	RuleReferences  = "references"
	RuleSubject     = "subject"
	RulePlusAddress = "plus-address"
	// RuleSearch is a ticket the API's search found by externalTicketId
	// for a Message-ID the local thread map does not know.
	RuleSearch    = "search"
	RuleNewTicket = "new-ticket"
	// RuleRecorded is a ticket the message came with: pinned (deliver
	// --ticket) or chosen by an earlier attempt.
	RuleRecorded = "recorded"
)

// maxThreadIDs bounds the Message-IDs one lookup asks about: the newest
// References name the nearest delivered messages, and a thread of more
// than this many mails has its newest ones among them anyway.
const maxThreadIDs = 20

// Threading configures the rules that find an existing ticket before a new
// one is opened. Its zero value turns every rule off.
type Threading struct {
	// MessageIDs looks In-Reply-To, then References newest first, up among
	// the messages delivered on the subchannel.
	MessageIDs bool
	// Subject, if set, finds a ticket number in the subject: its one
	// capture group is the number.
	Subject *regexp.Regexp
	// Minimum is the smallest ticket number Subject accepts.
	Minimum int64
	// PlusAddress takes the ticket number from a recipient such as
	// support+123@example.com.
	PlusAddress bool
	// Search, if set, asks the API for a ticket whose externalTicketId is
	// one of the mail's In-Reply-To and References when the thread map
	// has none of them.
	Search *Search
	// CheckSender lets a mail join a ticket by Subject or PlusAddress
	// only if its sender is a participant of the ticket (an address seen
	// on its mail) or authenticated (DMARC) for a participant's domain.
	CheckSender bool
	// SameDomain lets CheckSender also admit a sender authenticated
	// (DMARC) for the domain of a participant's address.
	SameDomain bool
}

// Search is the thread fallback through the API's ticket search.
type Search struct {
	// Key and Comparator make the filter: Comparator "in" sends all the
	// Message-IDs as its values in one call, any other one call per id
	// (at most maxSearchCalls) with the id as value.
	Key, Comparator string
}

// maxSearchCalls bounds the calls one mail's search makes with a
// single-value comparator: the nearest Message-IDs are the likely ones.
const maxSearchCalls = 3

// TicketSearcher is the part of the API the search rule needs.
type TicketSearcher interface {
	SearchTickets(ctx context.Context, s api.TicketSearch) ([]api.FoundTicket, error)
}

// ThreadMap is what threading needs of the store: the thread map of
// delivered messages, the links the ticket search adds to it, and the
// addresses seen on each ticket.
// store.Store implements it.
type ThreadMap interface {
	Thread(ctx context.Context, subchannelID int, messageIDs []string) (store.ThreadHit, bool, error)
	LinkThread(ctx context.Context, subchannelID int, messageID string, ticketID int64) error
	AddParticipants(ctx context.Context, subchannelID int, ticketID int64, addresses []string) error
	Participants(ctx context.Context, subchannelID int, ticketID int64) ([]string, error)
}

// threadResolver applies the threading rules in order and falls back to a
// new ticket per thread.
type threadResolver struct {
	store    ThreadMap
	cfg      Threading
	own      map[string]bool // own addresses, lower case
	fallback TicketResolver
	locks    keyedLock
	searcher TicketSearcher // nil: no search rule
	// searchOff is set once the API answered that it cannot search by
	// cfg.Search's filter: asking again for every mail would only fail
	// again.
	searchOff atomic.Bool
	// subjectNeeds are bytes every match of cfg.Subject contains
	// (requiredBytes).
	subjectNeeds string
	log          *slog.Logger
}

// NewThreadResolver returns the resolver that consults the thread map in
// st, the API's ticket search (through searcher, when cfg.Search is set),
// the subject and the recipients before it opens a ticket with fallback.
// own are the addresses mailbridge receives for: a plus address in To or
// Cc counts only on one of them.
func NewThreadResolver(st ThreadMap, cfg Threading, own []string, searcher TicketSearcher, fallback TicketResolver, log *slog.Logger) TicketResolver {
	r := &threadResolver{store: st, cfg: cfg, fallback: fallback, own: map[string]bool{}, log: log}
	if cfg.Search != nil {
		r.searcher = searcher
	}
	if cfg.Subject != nil {
		r.subjectNeeds = requiredBytes(cfg.Subject)
	}
	for _, a := range own {
		r.own[strings.ToLower(a)] = true
	}
	return r
}

func (r *threadResolver) Resolve(ctx context.Context, m *Mail) (Resolution, error) {
	// Two mails of one new thread resolved at once would both miss the
	// thread map and both create the ticket; enneo's upsert should merge
	// them, but one at a time per thread does not depend on it.
	unlock, err := r.locks.lock(ctx, TicketKey(m.SubchannelID, ThreadKey(m.Result)))
	if err != nil {
		return Resolution{}, err
	}
	defer unlock()
	res, found, err := r.existing(ctx, m)
	if err != nil {
		return res, err
	}
	if !found {
		refused := res.Refused
		res, err = r.fallback.Resolve(ctx, m)
		if err != nil {
			return res, err
		}
		res.Refused = refused
	}
	res.participants = r.recordParticipants(ctx, m, res.TicketID)
	return res, nil
}

// existing applies the rules that find a ticket already there. Where it
// finds none, the Resolution it returns may say why a ticket the subject
// or a plus address named was not joined.
func (r *threadResolver) existing(ctx context.Context, m *Mail) (Resolution, bool, error) {
	usable := func(id int64) bool { return id > 0 && id != m.GoneTicket }
	if r.cfg.MessageIDs {
		h := m.Result.Header
		ids := threadIDs(h.InReplyTo, h.References)
		hit, found, err := r.store.Thread(ctx, m.SubchannelID, ids)
		if err != nil {
			return Resolution{}, false, err
		}
		if found && usable(hit.TicketID) {
			rule := RuleReferences
			if slices.Contains(h.InReplyTo, hit.MessageID) {
				rule = RuleInReplyTo
			}
			return Resolution{TicketID: hit.TicketID, Rule: rule, Matched: hit.MessageID}, true, nil
		}
		if res, found, err := r.search(ctx, m, ids, usable); err != nil || found {
			return res, found, err
		}
	}
	var refused *Refusal
	// join checks the sender of a mail that names ticket id by rule; the
	// first refusal is the one reported.
	join := func(rule string, id int64) (bool, error) {
		why, err := r.refuseSender(ctx, m, id)
		if err != nil || why == "" {
			return err == nil, err
		}
		if refused == nil {
			refused = &Refusal{Rule: rule, TicketID: id, Reason: why}
		}
		return false, nil
	}
	// A subject without the bytes every match needs is not searched.
	if subject := m.Result.Header.Subject; r.cfg.Subject != nil && mayMatch(r.subjectNeeds, subject) {
		if id, ok := subjectTicket(r.cfg.Subject, r.cfg.Minimum, subject, usable); ok {
			if ok, err := join(RuleSubject, id); err != nil || ok {
				return Resolution{TicketID: id, Rule: RuleSubject, Matched: subject}, ok, err
			}
		}
	}
	if r.cfg.PlusAddress {
		for _, a := range r.recipients(m) {
			if id, ok := plusTicket(a); ok && usable(id) {
				if ok, err := join(RulePlusAddress, id); err != nil || ok {
					return Resolution{TicketID: id, Rule: RulePlusAddress, Matched: a}, ok, err
				}
			}
		}
	}
	return Resolution{Refused: refused}, false, nil
}

// search asks the API for a ticket whose externalTicketId is one of ids,
// scoped to the mail's subchannel (TicketKey) or, for a ticket opened
// before tickets were scoped, bare; it prefers them in the order given,
// the scoped form first, and records what it finds in the thread map. Only a failure worth retrying the mail for (the API down,
// the token refused) is returned: an API that cannot search this way
// turns the rule off, and an answer it cannot use passes the rule over.
func (r *threadResolver) search(ctx context.Context, m *Mail, ids []string, usable func(int64) bool) (Resolution, bool, error) {
	if r.searcher == nil || r.searchOff.Load() || len(ids) == 0 {
		return Resolution{}, false, nil
	}
	var filters [][]api.TicketFilter
	key, cmp := r.cfg.Search.Key, r.cfg.Search.Comparator
	if cmp == "in" {
		values := make([]any, 0, 2*len(ids))
		for _, id := range ids {
			values = append(values, TicketKey(m.SubchannelID, id), id)
		}
		filters = append(filters, []api.TicketFilter{{Key: key, Comparator: cmp, Values: values}})
	} else {
		for _, id := range ids[:min(len(ids), maxSearchCalls)] {
			for _, v := range []string{TicketKey(m.SubchannelID, id), id} {
				filters = append(filters, []api.TicketFilter{{Key: key, Comparator: cmp, Value: v}})
			}
		}
	}
	byExternal := map[string]int64{}
	// The filters come in order of preference: the first that finds a
	// ticket ends the search.
	for _, f := range filters {
		if len(byExternal) > 0 {
			break
		}
		found, err := r.searcher.SearchTickets(ctx, api.TicketSearch{Filters: f, Limit: maxThreadIDs})
		if err != nil {
			return Resolution{}, false, r.searchFailed(err, m)
		}
		for _, t := range found {
			if _, seen := byExternal[t.ExternalTicketID]; !seen && usable(t.ID) {
				byExternal[t.ExternalTicketID] = t.ID
			}
		}
	}
	for _, id := range ids {
		ticket, ok := byExternal[TicketKey(m.SubchannelID, id)]
		if !ok {
			ticket, ok = byExternal[id]
		}
		if !ok {
			continue
		}
		// The link spares the next mail of the thread the call; failing to
		// write it costs only that, so the mail goes on.
		if err := r.store.LinkThread(ctx, m.SubchannelID, id, ticket); err != nil {
			r.log.Warn("thread link not recorded", "message_id", m.Result.Conversation.ExternalConversationID,
				"subchannel", m.SubchannelID, "matched", id, "ticket", ticket, "err", err)
		}
		return Resolution{TicketID: ticket, Rule: RuleSearch, Matched: id}, true, nil
	}
	return Resolution{}, false, nil
}

// searchRetries is how many attempts of one mail a failing search may
// hold back. A search that keeps failing (enneo's search down, an answer
// it cannot give for one odd Message-ID) must not dead-letter the mail:
// after these attempts the mail goes on without it, to the next rules and
// at worst a ticket keyed by the thread root, which enneo's upsert
// usually merges with the thread's ticket anyway.
const searchRetries = 3

// searchFailed decides what a failed search means for the mail: an error
// to retry the mail with, or nil to go on without the search.
func (r *threadResolver) searchFailed(err error, m *Mail) error {
	log := r.log.With("message_id", m.Result.Conversation.ExternalConversationID, "subchannel", m.SubchannelID)
	ae, _ := errors.AsType[*api.Error](err)
	status := 0
	if ae != nil {
		status = ae.Status
	}
	switch {
	case status == http.StatusBadRequest || status == http.StatusForbidden ||
		status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		// The API does not search this way, or not for this token (which
		// stores conversations all the same): asking again for every
		// mail would only fail again.
		if r.searchOff.CompareAndSwap(false, true) {
			log.Warn("ticket search turned off: the API refused it; threading goes on without it until restart",
				"key", r.cfg.Search.Key, "comparator", r.cfg.Search.Comparator, "err", err)
		}
		return nil
	case api.Classify(err) == api.Retryable || status == http.StatusUnauthorized:
		if m.Attempt <= searchRetries {
			// Opening a new ticket now could split the thread; the mail
			// waits for the API like any other call would make it.
			return err
		}
		log.Warn("ticket search passed over: it failed on every attempt so far", "attempt", m.Attempt, "err", err)
		return nil
	}
	log.Warn("ticket search passed over: unusable answer", "err", err)
	return nil
}

// threadIDs lists the ids to look up in the order they are preferred:
// what the mail answers, then its References newest first, each once.
func threadIDs(inReplyTo, references []string) []string {
	ids := make([]string, 0, min(len(inReplyTo)+len(references), maxThreadIDs))
	add := func(id string) {
		if id != "" && len(ids) < maxThreadIDs && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, id := range inReplyTo {
		add(id)
	}
	for i := len(references) - 1; i >= 0; i-- {
		add(references[i])
	}
	return ids
}

// subjectTicket returns the first number pattern finds in subject that is
// at least minimum and usable.
func subjectTicket(pattern *regexp.Regexp, minimum int64, subject string, usable func(int64) bool) (int64, bool) {
	for _, sm := range pattern.FindAllStringSubmatch(subject, -1) {
		id, err := strconv.ParseInt(sm[1], 10, 64)
		if err == nil && id >= minimum && usable(id) {
			return id, true
		}
	}
	return 0, false
}

// plusTicket reads the ticket number of support+123@example.com: the whole
// subaddress (RFC 5233, after the first +) must be the number.
func plusTicket(addr string) (int64, bool) {
	local, _, ok := strings.Cut(addr, "@")
	if !ok {
		return 0, false
	}
	_, tag, ok := strings.Cut(local, "+")
	if !ok || tag == "" || strings.Trim(tag, "0123456789") != "" {
		return 0, false
	}
	id, err := strconv.ParseInt(tag, 10, 64)
	return id, err == nil && id > 0
}

// recipients are the addresses a plus address is looked for in. The SMTP
// envelope says exactly whom mailbridge received the mail for. Without one
// (IMAP, deliver), Delivered-To is what the receiving server added, and To
// and Cc count only where they name one of mailbridge's own addresses: a
// customer copying bob+5@gmail.com must not pick ticket 5.
func (r *threadResolver) recipients(m *Mail) []string {
	if o := m.Origin; o.SMTP != nil {
		return o.SMTP.RcptTo
	}
	var out []string
	if msg, err := mail.ReadMessage(bytes.NewReader(m.Raw)); err == nil {
		for _, v := range msg.Header["Delivered-To"] {
			if a, err := mail.ParseAddress(v); err == nil {
				out = append(out, a.Address)
			}
		}
	}
	c := m.Result.Conversation
	for _, a := range slices.Concat(c.To, c.CCEmails) {
		if r.own[strings.ToLower(basePlusAddress(a))] {
			out = append(out, a)
		}
	}
	return out
}

// basePlusAddress is addr without its +tag.
func basePlusAddress(addr string) string {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok {
		return addr
	}
	if i := strings.IndexByte(local, '+'); i >= 0 {
		local = local[:i]
	}
	return local + "@" + domain
}

// keyedLock is a mutex per key. An entry lives only while someone holds or
// waits for its key, so memory stays bounded by the resolutions under way.
type keyedLock struct {
	mu   sync.Mutex
	keys map[string]*keyEntry
}

type keyEntry struct {
	ch    chan struct{} // holds a token while the key is locked
	users int           // holders and waiters
}

// lock waits for key, or for ctx to end.
func (k *keyedLock) lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	if k.keys == nil {
		k.keys = map[string]*keyEntry{}
	}
	e := k.keys[key]
	if e == nil {
		e = &keyEntry{ch: make(chan struct{}, 1)}
		k.keys[key] = e
	}
	e.users++
	k.mu.Unlock()

	select {
	case e.ch <- struct{}{}:
		return func() {
			<-e.ch
			k.release(key, e)
		}, nil
	case <-ctx.Done():
		k.release(key, e)
		return nil, ctx.Err()
	}
}

func (k *keyedLock) release(key string, e *keyEntry) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e.users--; e.users == 0 {
		delete(k.keys, key)
	}
}

// size is the number of keys held or waited for.
func (k *keyedLock) size() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.keys)
}
