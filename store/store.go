// Package store is mailbridge's durable queue: every message a source hands
// over is committed here before the source acknowledges it, and stays here
// (with the API's answer) after it is delivered, which is what makes
// re-polls, restarts and retries deliver each message once.
//
// The package knows nothing of mail or HTTP. Implementations live in
// sub-packages (store/sqlite; store/postgres later) and all pass the shared
// suite in store/storetest.
package store

import (
	"context"
	"encoding/hex"
	"errors"
	"strconv"
	"time"
)

// State is where a queued message stands.
type State string

const (
	// Queued messages wait for a delivery worker (NextAttemptAt says when).
	Queued State = "queued"
	// Inflight messages are claimed by a worker until LeaseUntil; a lease that
	// runs out (the worker died) makes the message claimable again.
	Inflight State = "inflight"
	// Delivered messages were stored at the API; the row stays as the dedup
	// record and carries the API's answer.
	Delivered State = "delivered"
	// Dead messages failed permanently or ran out of attempts or age; an
	// operator can retry or drop them.
	Dead State = "dead"
	// Dropped messages were discarded by an operator. The row stays so that
	// the same message arriving again is still recognised as a duplicate.
	Dropped State = "dropped"
	// Held messages were kept back by a policy (a sender not
	// authenticated) until an operator releases or drops them.
	Held State = "held"
)

// ErrNotFound is returned for an unknown message id.
var ErrNotFound = errors.New("store: no such message")

// ErrLeaseLost is returned when a worker reports on a message whose claim it
// no longer holds (its lease ran out and another worker took it over, or an
// operator changed it). The worker must drop its result silently.
var ErrLeaseLost = errors.New("store: claim no longer held")

// ErrWrongState is returned by operator actions that do not apply to the
// message's current state (e.g. retrying a delivered message).
var ErrWrongState = errors.New("store: not allowed in the message's state")

// NewMessage is a message to enqueue.
type NewMessage struct {
	SubchannelID int
	// ExternalID is the dedup key within the subchannel (the Message-ID
	// without brackets, or a stable hash).
	ExternalID string
	// Digest identifies the message's content (a hash the caller chose).
	// Under a key already taken, an equal digest makes the message a
	// duplicate and a different one a message of its own (see Enqueue).
	// Empty means unknown: the message is a duplicate of the first one
	// under its key, as is any message under the key of a row without one.
	Digest []byte
	// MessageID is the Message-ID header as found (may be empty).
	MessageID  string
	Subject    string
	From       string
	TicketID   int64  // pinned ticket, 0 if ticket resolution decides
	Origin     []byte // JSON of mailbox.Origin
	Raw        []byte
	ReceivedAt time.Time
	// Claim, if not nil, asks for the message to be queued already
	// claimed by the caller, in the enqueue's own transaction: a worker
	// waits for it, and a claim statement of its own would cost another
	// write. A store that cannot do so ignores it.
	Claim *ClaimRequest
}

// ClaimRequest asks Enqueue to leave a new message as Claim(ctx, Now,
// Lease, 1) would leave it: inflight until Now+Lease, its first attempt
// counted, and on a store shared by instances carrying this one's name.
// A duplicate is never claimed.
type ClaimRequest struct {
	Now   time.Time
	Lease time.Duration
}

// Claimed is the claim of message m queued as id under externalID at
// created with claim request r, as Enqueue returns it: the message's first
// attempt, its Raw m's.
func (m *NewMessage) Claimed(id int64, externalID string, created time.Time) *Claim {
	r := m.Claim
	return &Claim{
		Message: Message{
			ID: id, SubchannelID: m.SubchannelID, ExternalID: externalID, MessageID: m.MessageID,
			Subject: m.Subject, From: m.From, State: Inflight, Size: int64(len(m.Raw)),
			Attempts: 1, TicketID: m.TicketID, Origin: m.Origin, ReceivedAt: m.ReceivedAt,
			CreatedAt: created, UpdatedAt: created, NextAttemptAt: r.Now, LeaseUntil: r.Now.Add(r.Lease).UTC(),
		},
		Raw:     m.Raw,
		Attempt: 1,
	}
}

// Message is a queued message without its raw bytes.
type Message struct {
	ID           int64
	SubchannelID int
	ExternalID   string
	MessageID    string
	Subject      string
	From         string
	State        State
	Size         int64
	// Attempts counts the attempts that count against the message's limit:
	// Postpone takes one back, Requeue starts again from 0.
	Attempts int
	// Uncertain counts attempts whose outcome is unknown: the request may
	// have reached the API but no answer came back (timeout, reset, crash).
	// A later success after such an attempt may have stored the
	// conversation twice.
	Uncertain int
	LastError string
	TicketID  int64
	// GoneTicketID is a ticket an earlier attempt found deleted (a 404 on
	// store); the message is delivered to another and its payload names
	// the deleted one. 0 when none.
	GoneTicketID   int64
	ConversationID int64
	EventID        int64
	Origin         []byte
	ReceivedAt     time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
	NextAttemptAt  time.Time
	LeaseUntil     time.Time
	DeliveredAt    time.Time
	// ReleasedAt is when an operator last brought the message back
	// (Release from held, Requeue from dead or dropped): the policies
	// that held, dropped or dead-lettered it yield to that decision, and
	// its age counts from then. Zero if never.
	ReleasedAt time.Time
}

// ClaimRaw bounds the raw bytes one Claim reads beyond its first
// message. A claim of many large messages would otherwise hold them all
// in memory at once, before any budget of the caller's sees them.
const ClaimRaw = 1 << 20

// Claim is a message a worker holds until its lease runs out.
type Claim struct {
	Message
	Raw []byte
	// Attempt numbers the message's claims (1 for the first). Unlike
	// Attempts it is never reset or taken back, so it identifies this claim:
	// reports pass it back, and it fences off a worker whose lease ran out.
	// Limits on attempts use Message.Attempts.
	Attempt int
	// Reclaimed is true when the previous attempt's lease ran out without a
	// report: the previous worker died, maybe after the API stored the
	// conversation. The store has counted it in Uncertain already.
	Reclaimed bool
}

// Outcome is the API's answer to a successful store call.
type Outcome struct {
	TicketID       int64
	ConversationID int64
	EventID        int64
}

// Failure reports an attempt that did not deliver its message, which is
// to be attempted again.
type Failure struct {
	At    time.Time // when the message is next due
	Error string
	// Uncertain says the attempt may have reached the API: the request
	// was sent but no answer came back.
	Uncertain bool
	// TicketID is the ticket the attempt stored on, which the next attempt
	// uses instead of resolving one again; 0 makes it resolve afresh. The
	// ticket is recorded here rather than when it is chosen, which saves
	// a commit per message: ticket creation is idempotent by thread key,
	// so an attempt that dies before its report finds the same ticket
	// again.
	TicketID int64
	// GoneTicketID is recorded as the message's GoneTicketID (0 clears it).
	GoneTicketID int64
	// NotBefore is the earliest the message may be attempted again whatever
	// Hasten says: the wait is the API's (Retry-After) or the message's own,
	// not an outage's. Zero: Hasten may bring it forward.
	NotBefore time.Time
}

// EnqueueResult says what Enqueue did.
type EnqueueResult struct {
	ID int64
	// ExternalID is the id the message is queued under (the earlier
	// message's for a duplicate): NewMessage.ExternalID, or a derived one
	// for a different mail under a key already taken.
	ExternalID string
	// Duplicate is true when the message was already known; nothing was
	// written and ID is the earlier message's.
	Duplicate bool
	State     State
	// FirstID is, for a message queued or known under a derived id, the
	// queue id of the message queued first under its key; 0 otherwise.
	FirstID int64
	// Claim is the message's claim when NewMessage.Claim asked for one
	// and the store queued it so; nil otherwise (a duplicate, or a store
	// that does not claim at enqueue).
	Claim *Claim
}

// VariantID is the id of the nth message (n >= 2) with different content
// under the dedup key key: key#n. It is the message's externalConversationId,
// and so part of what the API holds: it never changes.
func VariantID(key string, n int) string {
	return key + "#" + strconv.Itoa(n)
}

// OverflowID is the id of a message with different content under a key
// that has a thousand already (see sqlrow.MaxVariants): key# and the first
// 16 hex digits of its digest, so that its re-sends find it.
func OverflowID(key string, digest []byte) string {
	return key + "#" + hex.EncodeToString(digest[:min(len(digest), 8)])
}

// ThreadHit is a delivered message that a new message refers to.
type ThreadHit struct {
	MessageID      string // its ExternalID
	TicketID       int64
	ConversationID int64
}

// Filter selects messages for List.
type Filter struct {
	States []State // empty: all
	Limit  int     // 0: a default of 100
}

// Stats summarises the queue.
type Stats struct {
	Counts map[State]int
	// OldestPending is the ReceivedAt of the oldest queued or inflight
	// message (zero when none).
	OldestPending time.Time
}

// Store is the durable queue. All methods are safe for concurrent use.
type Store interface {
	// Enqueue commits a message durably, or reports it as a duplicate.
	// Messages are told apart by (SubchannelID, ExternalID) and Digest:
	//   - a new key: the message is queued under it;
	//   - a key taken by a message with the same digest, or where either
	//     digest is unknown: a duplicate of that message (the one queued
	//     under the key itself where the new digest is unknown);
	//   - a key taken only by messages with other digests: a different
	//     mail, queued under VariantID(key, n), n the next number after
	//     the highest its key holds (from 2), whose own re-sends are
	//     duplicates of it.
	// Concurrent Enqueues, of this process or another sharing the store,
	// decide the same way: one message per digest, one id per message.
	Enqueue(ctx context.Context, m NewMessage) (EnqueueResult, error)
	// Claim leases up to limit due messages (queued with NextAttemptAt <= now,
	// or inflight with an expired lease), oldest first, and counts an
	// attempt on each. A claim after the first comes without Raw where
	// its size and those of the claims before it add up to more than
	// ClaimRaw: Get reads it when its turn comes.
	Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Claim, error)
	// Complete marks a claimed message delivered with the API's answer.
	Complete(ctx context.Context, id int64, attempt int, o Outcome) error
	// Retry puts a claimed message back in the queue until f.At.
	Retry(ctx context.Context, id int64, attempt int, f Failure) error
	// Postpone puts a claimed message back in the queue until f.At without
	// counting the attempt against the message: the failure was not the
	// message's (the API rejected mailbridge's credentials).
	Postpone(ctx context.Context, id int64, attempt int, f Failure) error
	// Bury moves a claimed message to the dead-letter state.
	Bury(ctx context.Context, id int64, attempt int, lastErr string) error
	// Hold moves a claimed message to the held state, with reason as its
	// last error; the attempt does not count.
	Hold(ctx context.Context, id int64, attempt int, reason string) error
	// Discard moves a claimed message to the dropped state, with reason
	// as its last error: a rule dropped it. The row stays as a dedup
	// record.
	Discard(ctx context.Context, id int64, attempt int, reason string) error

	// Prune removes the raw bytes of up to limit messages delivered before
	// before and returns how many it removed. Their rows stay, as the
	// dedup record (key and digest) and the thread map; Get returns such a
	// message with no raw bytes. An error may come with a count above
	// zero: those messages' raw bytes are gone from the queue, though not
	// all from the disk yet.
	Prune(ctx context.Context, before time.Time, limit int) (int, error)

	// Get returns one message and its raw bytes (none for a delivered
	// message that Prune reached).
	Get(ctx context.Context, id int64) (Message, []byte, error)
	// List returns messages, newest first.
	List(ctx context.Context, f Filter) ([]Message, error)
	// Requeue makes a dead or dropped message due now with a fresh attempt
	// count (operator action).
	Requeue(ctx context.Context, id int64) error
	// Drop discards a queued, dead or held message (operator action); the
	// row stays as a dedup record.
	Drop(ctx context.Context, id int64) error
	// Release makes a held message due now with a fresh attempt count
	// (operator action), like Requeue.
	Release(ctx context.Context, id int64) error
	Stats(ctx context.Context) (Stats, error)
	// Thread returns the first of messageIDs, in the order given, that
	// was delivered on subchannelID with a ticket (state delivered,
	// TicketID != 0) or was linked by LinkThread: the thread map of ticket
	// resolution. It only reads, so that threading costs delivery no extra
	// write. A delivered message wins over a link for the same id.
	Thread(ctx context.Context, subchannelID int, messageIDs []string) (ThreadHit, bool, error)
	// LinkThread records that messageID, a mail mailbridge never delivered
	// itself (found through the API's ticket search), belongs to ticketID
	// on subchannelID, so that the next reply is threaded without asking
	// the API again. A second link for the same id replaces the first.
	LinkThread(ctx context.Context, subchannelID int, messageID string, ticketID int64) error
	// Hasten makes queued messages whose next attempt lies after now due
	// at now, oldest first, up to limit of them (0: all), and returns how
	// many it moved: the failures that scheduled those attempts (an
	// outage, a refused token) are over. A message whose Failure.NotBefore
	// is still ahead keeps waiting.
	Hasten(ctx context.Context, now time.Time, limit int) (int, error)
	// AddParticipants records addresses (lower case) as seen on ticketID
	// of subchannelID: the senders and recipients of its mail.
	AddParticipants(ctx context.Context, subchannelID int, ticketID int64, addresses []string) error
	// Participants returns up to MaxParticipants addresses recorded for
	// ticketID on subchannelID, oldest first.
	Participants(ctx context.Context, subchannelID int, ticketID int64) ([]string, error)
	// Ping checks the store is reachable.
	Ping(ctx context.Context) error
	Close() error
}

// MaxParticipants bounds the addresses Participants returns.
const MaxParticipants = 1000

// Checkpoints records how far an IMAP folder has been read: its UIDVALIDITY
// and the highest UID whose message is committed to the queue (and
// acknowledged on the server). It is separate from Store so that stores
// without IMAP sources need not implement it.
type Checkpoints interface {
	// Checkpoint returns the folder's checkpoint, or zeros when there is
	// none yet.
	Checkpoint(ctx context.Context, mailbox, folder string) (uidValidity, lastUID uint32, err error)
	// SetCheckpoint records the folder's checkpoint durably.
	SetCheckpoint(ctx context.Context, mailbox, folder string, uidValidity, lastUID uint32) error
}

// Leases give a named piece of work (an IMAP folder) to one of several
// instances sharing a store at a time. A lease lasts until it expires,
// by the store's clock, unless its holder renews it; a holder that dies
// loses it that way. Stores shared by several processes implement it.
type Leases interface {
	// TakeLease takes the lease on name for holder until ttl from now, or
	// renews it if holder has it already. It reports whether holder holds
	// it now; false means another holder's lease has not expired yet.
	TakeLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// DropLease gives up holder's lease on name, if holder has it, so that
	// another instance can take it at once.
	DropLease(ctx context.Context, name, holder string) error
}

// Instances lets instances that share a store take over the claims of one
// that died within seconds, instead of waiting for its leases to run out.
// Each instance announces itself while it lives; claims carry their
// instance.
type Instances interface {
	// Announce records that this instance is alive for ttl from now, by
	// the store's clock.
	Announce(ctx context.Context, ttl time.Duration) error
	// Withdraw ends this instance's announcement (a clean shutdown).
	Withdraw(ctx context.Context) error
	// TakeOverDead shortens to grace from now the leases of inflight
	// messages whose instance is not alive, so that a claim then takes
	// them over (an uncertain attempt, as for any lease that ran out). The
	// grace covers a request the dead instance sent last, which the API
	// may still be processing. It returns how many leases it shortened.
	// Claims made without an announcement are left to their leases.
	TakeOverDead(ctx context.Context, grace time.Duration) (int, error)
}

// OAuthToken is a mailbox's OAuth2 token as the store keeps it: sealed by
// the caller (the store never sees it in clear), with a version that every
// write moves on.
type OAuthToken struct {
	// Version is 0 while no token was ever stored for the mailbox.
	Version int64
	// Token is the sealed token; nil when none is stored.
	Token []byte
	// SeedHash identifies the configured refresh token the stored one
	// descends from, so that a new one pasted into the configuration wins.
	SeedHash  []byte
	UpdatedAt time.Time
}

// OAuthTokens keeps each mailbox's OAuth2 token for all the instances
// sharing the store. A provider that rotates refresh tokens accepts each
// one once, so one instance at a time refreshes: it takes the mailbox's
// refresh lock, spends the stored refresh token and stores the new one.
type OAuthTokens interface {
	// OAuthToken returns the mailbox's stored token (Version 0 if none).
	OAuthToken(ctx context.Context, mailbox string) (OAuthToken, error)
	// LockOAuthToken gives holder the mailbox's refresh lock for ttl (by
	// the store's clock), or renews it, and returns the stored token as of
	// then. It reports false, and takes nothing, while another holder's
	// lock has not expired.
	LockOAuthToken(ctx context.Context, mailbox, holder string, ttl time.Duration) (OAuthToken, bool, error)
	// PutOAuthToken stores token and seedHash as the mailbox's token at
	// version+1 if the stored version is still version (0: none stored),
	// and releases holder's lock. It reports false, writing nothing, when
	// another writer was first.
	PutOAuthToken(ctx context.Context, mailbox string, version int64, token, seedHash []byte, holder string) (bool, error)
	// UnlockOAuthToken releases holder's refresh lock, if it has it.
	UnlockOAuthToken(ctx context.Context, mailbox, holder string) error
}
