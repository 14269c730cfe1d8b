// Package pipeline moves a message from its source to enneo:
//
//	source ─► Ingest ─► store (one commit) ─► ack at source
//	store ─► delivery worker ─► mapper.Map ─► ticket ─► api store call ─► store.Complete
//
// Ingest reads only the header facts needed to deduplicate and commits the
// raw bytes; the full parse happens at delivery, so a fixed mapper re-maps
// queued mail and ingest stays fast. Failed deliveries wait in the store
// (never in memory) until their next attempt, so a restart loses nothing.
package pipeline

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/mailbox"
	"github.com/enneo/mailbridge/mapper"
	"github.com/enneo/mailbridge/store"
)

// Conversations is the part of the enneo API the pipeline calls; *api.Client
// and *api.DryRun implement it.
type Conversations interface {
	StoreConversation(ctx context.Context, ticketID int64, c *api.Conversation) (*api.StoreResult, error)
	CreateTicket(ctx context.Context, t *api.NewTicket) (int64, error)
	FindConversation(ctx context.Context, ticketID int64, externalID string) (*api.StoreResult, bool, error)
}

// Config tunes ingest and delivery.
type Config struct {
	Workers     int
	MaxAttempts int
	// MaxAge is how long after receipt a message that keeps failing is
	// given up on (moved to the dead letters).
	MaxAge time.Duration
	// Lease is how long a worker holds a claimed message; it must exceed
	// the API timeout.
	Lease time.Duration
	// Poll is how often an idle worker looks for due messages that no
	// Ingest announced (retries coming due, another process's mail).
	Poll time.Duration
	// InflightBytes bounds the raw bytes of the messages all workers map
	// and post at once (default 32 MiB); see attempt.
	InflightBytes int64
	AuthRetry     time.Duration
	// CallTimeout is the API client's timeout per call: how long a request
	// that a process sent before it died may still be under way at the
	// API, which a takeover of its claims waits out (default 60s).
	CallTimeout    time.Duration
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	// KeepDelivered is how long a delivered message's raw bytes are kept
	// (Store.Prune); 0 keeps them.
	KeepDelivered time.Duration

	Location            *time.Location
	InlineImageMaxBytes int
	BodyMaxBytes        int // see mapper.Options
	// MapTimeout bounds the mapping of one message (default 60s): one
	// that takes longer is buried rather than holding a worker.
	MapTimeout  time.Duration
	Subchannels map[int]Subchannel
	// Mailboxes override a subchannel's settings for the mail of one IMAP
	// mailbox, by name; an empty field keeps the subchannel's.
	Mailboxes map[string]Subchannel
	// Sense is the treatment of machine mail, loops, priority and
	// direction; its zero value applies the default policies and no loop
	// breaker.
	Sense Sense
	// Threading is the rules that find an existing ticket; its zero value
	// opens a ticket per thread for every message.
	Threading Threading
	// TicketBody is what a ticket creation carries as its body.
	TicketBody TicketBody
	// Auth reads and applies sender authentication.
	Auth Auth
	// Rules route, tag, drop and hold mail by its header (rules:).
	Rules Rules
	// Observer is told of each message's progress (metrics); nil ignores.
	Observer Observer
}

// Subchannel holds the per-subchannel payload settings.
type Subchannel struct {
	Process   string
	Direction string
	// Unauthenticated is the policy for mail whose sender is not
	// authenticated (default tag).
	Unauthenticated Unauthenticated
}

// DefaultCallTimeout is Config.CallTimeout unless set: the API client's
// default timeout.
const DefaultCallTimeout = 60 * time.Second

// Pipeline is the ingest and delivery path of one mailbridge process.
type Pipeline struct {
	store  store.Store
	api    Conversations
	cfg    Config
	log    *slog.Logger
	ticket TicketResolver
	sense  senseRules
	loops  *loopBreaker
	obs    Observer
	// mapping is cfg with the subchannel and mailbox settings a reload
	// has replaced; MapperOptions reads it.
	mapping atomic.Pointer[Config]
	// storeDown is set while claims fail, so that an outage is logged
	// once, not by every worker at every poll.
	storeDown atomic.Bool
	storeBack atomic.Int64 // when it last answered again, unix ns
	// pruneFailing is how pruning last failed, while it does (see
	// pruneRound).
	pruneFailing atomic.Int32
	// limit is the API's pace: how many calls may be under way; paced
	// is api within it, for the calls of deliveries.
	limit *apiLimit
	paced Conversations
	// budget holds the raw bytes of the attempts under way.
	budget *semaphore.Weighted
	// wake tells an idle worker that Ingest queued something, so delivery
	// does not wait for the next poll.
	wake chan struct{}
	now  func() time.Time
	// health follows the API's answers, for the log and the observer.
	health *apiHealth
	// probeNow asks the probe to ask the API at once (TokenChanged).
	probeNow chan struct{}
	// pilots is how many claims the workers may make while the API is
	// down or refuses the token (0 or 1; see probe): then the workers
	// wait, and only the probe's pilot tries the API.
	pilots atomic.Int32
	// probeAnswered is set while the API is in trouble and the probe's
	// last question was answered (see holdingBack).
	probeAnswered atomic.Bool
	// aliveUntil is when this instance's claims may be taken over by
	// others (unix ns; see announce); 0 on a store of one instance.
	aliveUntil atomic.Int64
	// lapsedAt is when this instance last announced itself again after
	// its announcement ran out (unix ns), 0 if it never did.
	lapsedAt atomic.Int64
	// releasedAt is when release last made the waiting mail due (unix
	// ns), 0 if it never did: the failures of attempts under way then are
	// due at once too (retry).
	releasedAt atomic.Int64
	// bg tracks the releases under way, which Run waits for.
	bg sync.WaitGroup
	// noListing is set once an API without the conversation listing has
	// been reported, so that it is a warning once, not one per message.
	noListing atomic.Bool
	// rules is cfg.Rules, or what a reload replaced them with.
	rules atomic.Pointer[Rules]
	// held keeps the raw bytes sources handed over, for the claims of
	// this process; nil where the store cannot use them.
	held *heldRaws
	// handed, handedCount and handedBytes give the messages Ingest
	// queues already claimed to the workers (see handOff); running is
	// set while Run's workers run.
	handed      chan *store.Claim
	handedCount atomic.Int32
	handedBytes atomic.Int64
	running     atomic.Bool
	// queuedSeq counts the messages put in the queue for a claim (not
	// claimed at enqueue), and drainedSeq is the count a claim that came
	// back short had seen when it began: while drainedSeq is behind,
	// due mail waits in the queue, and a new mail queued claimed would
	// overtake it (see reserveHandOff).
	queuedSeq, drainedSeq atomic.Int64
}

// New returns a pipeline over st that delivers through c.
func New(st store.Store, c Conversations, cfg Config, log *slog.Logger) *Pipeline {
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Observer == nil {
		cfg.Observer = NopObserver{}
	}
	if cfg.InflightBytes <= 0 {
		cfg.InflightBytes = DefaultInflightBytes
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.MapTimeout <= 0 {
		cfg.MapTimeout = DefaultMapTimeout
	}
	p := &Pipeline{
		budget:   semaphore.NewWeighted(cfg.InflightBytes),
		store:    st,
		api:      c,
		cfg:      cfg,
		log:      log,
		sense:    newSenseRules(cfg.Sense),
		loops:    newLoopBreaker(cfg.Sense.LoopMax, cfg.Sense.LoopWindow),
		obs:      cfg.Observer,
		wake:     make(chan struct{}, 1),
		handed:   make(chan *store.Claim, handOffPerWorker*cfg.Workers),
		probeNow: make(chan struct{}, 1),
		now:      time.Now,
	}
	// Every call to the API keeps to its pace (limit.go).
	p.limit = newAPILimit(cfg.Workers, time.Now, log)
	p.paced = limitAPI(func() Conversations { return p.api }, p.limit)
	p.ticket = NewThreadResolver(st, cfg.Threading, cfg.Sense.OwnAddresses, searcher(p.paced), NewTicketPerThread(p.paced, cfg.TicketBody), log)
	p.health = newAPIHealth(log, cfg.Observer, func() time.Time { return p.now() })
	p.health.recovered = func() { p.bg.Go(func() { p.release(context.Background(), "the API answers again") }) }
	if _, ok := st.(heldClaimer); ok {
		// Half the attempts' budget: a backlog's bytes wait in the queue.
		p.held = newHeldRaws(cfg.InflightBytes / 2)
	}
	p.mapping.Store(&cfg)
	p.SetRules(cfg.Rules)
	// The queue may hold mail from before the start: nothing is claimed
	// at enqueue until a claim finds the queue drained.
	p.queuedSeq.Store(1)
	return p
}

// SetRules replaces the rules (a SIGHUP reload); mail queued and
// delivered from now on meets them.
func (p *Pipeline) SetRules(r Rules) { p.rules.Store(&r) }

// Reconfigure replaces the settings of each subchannel and mailbox (a
// SIGHUP reload). Messages mapped from now on get them, queued ones
// included, since mapping happens at delivery.
func (p *Pipeline) Reconfigure(subchannels map[int]Subchannel, mailboxes map[string]Subchannel) {
	c := *p.mapping.Load()
	c.Subchannels, c.Mailboxes = subchannels, mailboxes
	p.mapping.Store(&c)
}

// searcher is c's ticket search, nil if it has none: an API without
// search (the dry run) leaves the search rule off.
func searcher(c Conversations) TicketSearcher {
	s, _ := c.(TicketSearcher)
	return s
}

// MapperOptions are the mapper settings for a message of subchannel sub,
// received at receivedAt from origin, the JSON of its mailbox.Origin as the
// queue keeps it (nil when unknown). A subchannel no longer in the
// configuration gets enneo's defaults (batch, in).
func (c Config) MapperOptions(sub int, receivedAt time.Time, origin json.RawMessage) mapper.Options {
	return c.mapperOptions(sub, receivedAt, origin, decodeOrigin(origin))
}

// mapperOptions is MapperOptions with the origin decoded already (src).
func (c Config) mapperOptions(sub int, receivedAt time.Time, origin json.RawMessage, src mailbox.Origin) mapper.Options {
	s, ok := c.Subchannels[sub]
	if !ok {
		s = Subchannel{Process: "batch", Direction: "in"}
	}
	from := imapSource(src)
	if m, ok := c.Mailboxes[from.Mailbox]; ok {
		s.Process = cmp.Or(m.Process, s.Process)
		s.Direction = cmp.Or(m.Direction, s.Direction)
	}
	s.Direction = cmp.Or(from.Direction, s.Direction)
	if from.Archive {
		s.Process = "false"
	}
	o := mapper.Options{
		SubchannelID:        sub,
		Process:             s.Process,
		Direction:           s.Direction,
		Location:            c.Location,
		ReceivedAt:          receivedAt,
		InlineImageMaxBytes: c.InlineImageMaxBytes,
		BodyMaxBytes:        c.BodyMaxBytes,
		EnvelopeFrom:        envelopeFrom(src),
	}
	if len(origin) > 0 {
		o.Source = origin // reported as rawData.source, exactly as recorded
	}
	return o
}
