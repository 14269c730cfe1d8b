package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/enneo/mailbridge/admin"
	"github.com/enneo/mailbridge/api"
	"github.com/enneo/mailbridge/config"
	"github.com/enneo/mailbridge/mapper/autoreply"
	"github.com/enneo/mailbridge/pipeline"
	"github.com/enneo/mailbridge/store"
	"github.com/enneo/mailbridge/store/postgres"
	"github.com/enneo/mailbridge/store/sqlite"
)

// configFlag adds the -c flag every command that reads config.yaml takes.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("c", "config.yaml", "configuration `file`")
}

func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, usageError{err}
	}
	return cfg, nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// queue is what the commands need of a store: the durable queue and the
// IMAP checkpoints. Both drivers provide it.
type queue interface {
	store.Store
	store.Checkpoints
}

// openStore opens the store config selects.
func openStore(ctx context.Context, c config.Store) (queue, error) {
	if c.Driver == "postgres" {
		st, err := postgres.Open(ctx, c.DSN.Value())
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", postgres.Describe(c.DSN.Value()), err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, c.Path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", c.Path, err)
	}
	return st, nil
}

// storeName names the store for logs and messages, without secrets.
func storeName(c config.Store) string {
	if c.Driver == "postgres" {
		return "postgres " + postgres.Describe(c.DSN.Value())
	}
	return "sqlite " + c.Path
}

// apiClient is what the commands call on the enneo API: what delivery
// needs, and the subchannel listing the checks read. *api.Client and
// api.DryRun implement it.
type apiClient interface {
	pipeline.Conversations
	subchannelLister
}

// newAPI returns the live client, or the dry-run writer when no API is
// configured.
func newAPI(cfg *config.Config) apiClient { return newObservedAPI(cfg, nil) }

// newObservedAPI is newAPI reporting every call to observe (metrics);
// observe may be nil.
func newObservedAPI(cfg *config.Config, observe func(op string, status int, took time.Duration, err error)) apiClient {
	t := cfg.API.Ticket
	fields := t.Fields
	if t.TicketBody != string(pipeline.TicketBodyNone) {
		fields = append(slices.Clone(fields), "body")
	}
	ticket := api.TicketOptions{Path: t.Path, IDField: t.IDField, Process: t.Process, Fields: fields, Static: t.Static}
	if cfg.DryRun() {
		return &api.DryRun{Dir: cfg.API.DryRunDir, Ticket: ticket}
	}
	return api.New(api.Options{
		BaseURL:   strings.TrimRight(cfg.API.BaseURL, "/"),
		Token:     cfg.API.Token.Value(),
		Timeout:   cfg.API.Timeout.D(),
		UserAgent: "mailbridge/" + currentVersion().String(),
		// Each worker has one request under way at a time.
		Connections: cfg.Delivery.Workers,
		Ticket:      ticket,
		Observe:     observe,
	})
}

func pipelineConfig(cfg *config.Config) (pipeline.Config, error) {
	loc, err := time.LoadLocation(cfg.Mapper.Timezone)
	if err != nil {
		return pipeline.Config{}, usagef("mapper.timezone: %v", err)
	}
	d := cfg.Delivery
	pc := pipeline.Config{
		Workers:        d.Workers,
		MaxAttempts:    d.MaxAttempts,
		MaxAge:         d.MaxAge.D(),
		Lease:          d.Lease.D(),
		Poll:           d.Poll.D(),
		InflightBytes:  d.InflightBytes,
		AuthRetry:      d.AuthRetry.D(),
		CallTimeout:    cfg.API.Timeout.D(),
		BackoffInitial: d.Backoff.Initial.D(),
		BackoffMax:     d.Backoff.Max.D(),
		KeepDelivered:  cfg.Store.KeepDelivered.D(),
		Location:       loc,
		Subchannels:    map[int]pipeline.Subchannel{},
	}
	if cfg.Mapper.InlineImageMaxBytes != nil {
		pc.InlineImageMaxBytes = *cfg.Mapper.InlineImageMaxBytes
	}
	pc.BodyMaxBytes = cfg.Mapper.BodyMaxBytes
	pc.MapTimeout = cfg.Mapper.Timeout.D()
	for _, s := range cfg.Subchannels {
		pc.Subchannels[s.ID] = pipeline.Subchannel{Process: s.Process, Direction: s.Direction,
			Unauthenticated: pipeline.Unauthenticated(s.Unauthenticated)}
	}
	for _, m := range cfg.Mailboxes {
		if m.Process != "" || m.Direction != "" {
			if pc.Mailboxes == nil {
				pc.Mailboxes = map[string]pipeline.Subchannel{}
			}
			pc.Mailboxes[m.Name] = pipeline.Subchannel{Process: m.Process, Direction: m.Direction}
		}
	}
	pc.Sense = senseConfig(cfg)
	th := cfg.Threading
	pc.Threading = pipeline.Threading{
		MessageIDs:  th.MessageIDs == nil || *th.MessageIDs,
		Subject:     th.SubjectRegexp(),
		Minimum:     th.Subject.Minimum,
		PlusAddress: th.PlusAddress.Enabled,
		CheckSender: th.CheckSender == nil || *th.CheckSender,
		SameDomain:  th.SameDomain,
	}
	if th.SearchOn() {
		pc.Threading.Search = &pipeline.Search{Key: th.Search.Key, Comparator: th.Search.Comparator}
	}
	pc.TicketBody = pipeline.TicketBody(cfg.API.Ticket.TicketBody)
	pc.Auth = pipelineAuth(cfg)
	pc.Rules = pipelineRules(cfg.Rules)
	return pc, nil
}

// pipelineAuth is which Authentication-Results headers delivery believes,
// per source.
func pipelineAuth(cfg *config.Config) pipeline.Auth {
	a := pipeline.Auth{Trusted: cfg.Auth.TrustedAuthservIDs, ProcessRejected: cfg.Auth.ProcessRejected}
	if cfg.Auth.Verify {
		a.OwnID = authservID(cfg)
	}
	for _, l := range cfg.SMTP.Listeners {
		if l.TrustedAuthservIDs != nil {
			if a.Listeners == nil {
				a.Listeners = map[string][]string{}
			}
			a.Listeners[l.Name] = l.TrustedAuthservIDs
		}
	}
	for _, m := range cfg.Mailboxes {
		if len(m.TrustedAuthservIDs) > 0 {
			if a.Mailboxes == nil {
				a.Mailboxes = map[string][]string{}
			}
			a.Mailboxes[m.Name] = m.TrustedAuthservIDs
		}
	}
	return a
}

// pipelineRules compiles rules: (config.Validate has checked the regexps).
func pipelineRules(rules []config.Rule) pipeline.Rules {
	out := make(pipeline.Rules, len(rules))
	re := func(s string) *regexp.Regexp {
		if s == "" {
			return nil
		}
		return regexp.MustCompile(s)
	}
	for i, r := range rules {
		m, a := r.Match, r.Then
		pr := pipeline.Rule{
			Name: config.RuleName(rules, i), From: re(m.From), To: re(m.To), Subject: re(m.Subject),
			SizeAbove: m.SizeAbove, Auth: m.Auth, SpamFlag: m.SpamFlag, SpamScoreAbove: m.SpamScoreAbove, SCLAbove: m.SCLAbove,
			Then: pipeline.RuleAction{Subchannel: a.Subchannel, Priority: a.Priority, Direction: a.Direction,
				Process: a.Process, Tags: a.Tags, Drop: a.Drop, Hold: a.Hold},
		}
		if len(m.Header) > 0 {
			pr.Header = map[string]*regexp.Regexp{}
			for k, v := range m.Header {
				pr.Header[k] = re(v)
			}
		}
		out[i] = pr
	}
	return out
}

func senseConfig(cfg *config.Config) pipeline.Sense {
	ms := cfg.MailSense
	s := pipeline.Sense{
		Policies: map[autoreply.Class]pipeline.Policy{
			autoreply.AutoReply: pipeline.Policy(ms.Policies.AutoReply),
			autoreply.Bounce:    pipeline.Policy(ms.Policies.Bounce),
			autoreply.List:      pipeline.Policy(ms.Policies.List),
		},
		LoopWindow:      ms.LoopBreaker.Window.D(),
		UrgentPriority:  ms.UrgentPriority,
		InternalDomains: ms.InternalDomains,
		OwnAddresses:    cfg.OwnAddresses(),
	}
	if ms.LoopBreaker.Max != nil {
		s.LoopMax = *ms.LoopBreaker.Max
	}
	return s
}

// pickSubchannel resolves a --subchannel flag: a configured subchannel, or
// the first one when the flag is unset. It also says why, for --explain.
func pickSubchannel(cfg *config.Config, flagID int) (id int, why string, err error) {
	if flagID == 0 {
		return cfg.Subchannels[0].ID, "first subchannel in the configuration", nil
	}
	for _, s := range cfg.Subchannels {
		if s.ID == flagID {
			return flagID, "from --subchannel", nil
		}
	}
	return 0, "", usagef("--subchannel %d: not in the configuration's subchannels", flagID)
}

// app is a configured mailbridge: what every command that touches the queue
// needs.
type app struct {
	cfg      *config.Config
	log      *slog.Logger
	store    queue
	api      apiClient
	pipeline *pipeline.Pipeline
	// metrics count what the pipeline, the API client and the SMTP
	// listeners do; the daemon serves them (admin.listen).
	metrics *admin.Metrics
}

func openApp(ctx context.Context, configPath string, logTo io.Writer) (*app, error) {
	cfg, err := loadConfig(configPath)
	if err != nil {
		return nil, err
	}
	return openAppConfig(ctx, cfg, logTo)
}

// openAppConfig is openApp for a configuration already loaded.
func openAppConfig(ctx context.Context, cfg *config.Config, logTo io.Writer) (*app, error) {
	pc, err := pipelineConfig(cfg)
	if err != nil {
		return nil, err
	}
	log := newLogger(cfg.Log, logTo)
	st, err := openStore(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	// The SQLite store logs what it finds about its spool files itself.
	if l, ok := st.(interface{ SetLogger(*slog.Logger) }); ok {
		l.SetLogger(log)
	}
	m := admin.NewMetrics(currentVersion().String(), subchannelIDs(cfg))
	pc.Observer = m
	gw := newObservedAPI(cfg, m.ObserveAPI)
	return &app{cfg: cfg, log: log, store: st, api: gw, pipeline: pipeline.New(st, gw, pc, log), metrics: m}, nil
}

func (a *app) Close() error { return a.store.Close() }

// logWarnings logs the settings config.Warnings finds legal but dangerous;
// `mailbridge check` prints the same.
func logWarnings(log *slog.Logger, cfg *config.Config) {
	for _, w := range cfg.Warnings() {
		log.Warn("configuration: "+w.Msg, "key", w.Path)
	}
}
