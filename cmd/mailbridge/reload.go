package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sync"

	"github.com/enneo/mailbridge/admin"
	"github.com/enneo/mailbridge/config"
	"github.com/enneo/mailbridge/mailbox/smtp"
	"github.com/enneo/mailbridge/store/lease"
)

// mailboxSet runs the IMAP pollers of the configured mailboxes and, on a
// reload, stops those of removed or changed mailboxes and starts those of
// new or changed ones. Unchanged mailboxes keep polling undisturbed.
type mailboxSet struct {
	a      *app
	ctx    context.Context // the daemon's: a poller ends with it
	failed func(error)     // a poller that cannot run takes the daemon down
	holder string          // this instance in the folders' leases

	mu      sync.Mutex
	running map[string]*mailboxRun // by mailbox name
	wg      sync.WaitGroup
}

// mailboxRun is one mailbox's pollers, one per folder.
type mailboxRun struct {
	cfg     config.Mailbox
	pollers []source
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

func newMailboxSet(ctx context.Context, a *app, failed func(error)) *mailboxSet {
	return &mailboxSet{a: a, ctx: ctx, failed: failed, holder: lease.Holder(), running: map[string]*mailboxRun{}}
}

// apply makes the running mailboxes those of list. The new pollers are
// all built before any running one is stopped, so a mailbox that cannot
// be built leaves everything as it was. Reloads call it one at a time;
// the lock only guards the map against statuses, which the admin
// listener calls while pollers stop.
func (s *mailboxSet) apply(list []config.Mailbox) error {
	s.mu.Lock()
	start := map[string]*mailboxRun{}
	for _, m := range list {
		if r, ok := s.running[m.Name]; ok && reflect.DeepEqual(r.cfg, m) {
			continue
		}
		ps, err := mailboxSources(s.a, m, s.holder)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		start[m.Name] = &mailboxRun{cfg: m, pollers: ps}
	}
	stop := map[string]*mailboxRun{}
	for name, r := range s.running {
		keep := slices.ContainsFunc(list, func(m config.Mailbox) bool { return m.Name == name })
		if _, replaced := start[name]; replaced || !keep {
			stop[name] = r
			delete(s.running, name)
		}
	}
	s.mu.Unlock()

	for name, r := range stop {
		// Stopping lets a message being queued finish and gives the
		// folders' leases back, as at shutdown.
		r.cancel()
		r.done.Wait()
		next, replaced := start[name]
		s.a.log.Info("mailbox stopped", "mailbox", name, "replaced", replaced)
		if r.cfg.Auth == "xoauth2" && (!replaced || next.cfg.Auth != "xoauth2") && s.a.metrics != nil {
			s.a.metrics.OAuth().Forget(name)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, r := range start {
		ctx, cancel := context.WithCancel(s.ctx)
		r.cancel = cancel
		for _, p := range r.pollers {
			r.done.Add(1)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer r.done.Done()
				if err := p.Run(ctx); err != nil {
					s.failed(fmt.Errorf("%s: %w", p.Name(), err))
				}
			}()
		}
		s.running[name] = r
	}
	return nil
}

// wait returns once every poller has stopped (the daemon's ctx is done).
func (s *mailboxSet) wait() { s.wg.Wait() }

// statuses are the pollers running now, for the admin listener.
func (s *mailboxSet) statuses() []admin.Mailbox {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.running))
	for name := range s.running {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []admin.Mailbox
	for _, name := range names {
		for _, p := range s.running[name].pollers {
			if m, ok := p.(admin.Mailbox); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

// reloader applies a changed config.yaml to the running daemon on SIGHUP:
// SMTP routes, AUTH users, allowed networks and AUTH throttling; the IMAP mailboxes; each
// subchannel's and mailbox's process and direction. Listeners and SMTP
// sessions stay up. Everything else is read at start only, and a reload
// that changes it says so.
type reloader struct {
	a    *app
	path string
	// cfg is the configuration in effect: the start's, with what reloads
	// applied replaced. Only onHangup's goroutine touches it.
	cfg       *config.Config
	listeners []*smtp.Server
	mailboxes *mailboxSet
}

// onHangup reloads the configuration on each SIGHUP until ctx ends.
func (r *reloader) onHangup(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := r.reload(ctx); err != nil {
				r.a.log.Error("reload refused; the running configuration stays", "path", r.path, "err", err)
			}
		}
	}
}

// reload reads and applies the configuration. A configuration that does
// not load, or whose subchannels the API contradicts, is refused as a
// whole: the daemon goes on with what it has.
func (r *reloader) reload(ctx context.Context) (err error) {
	cfg, err := loadConfig(r.path)
	if err != nil {
		return err
	}
	old := r.cfg
	// The new token first: the subchannel check below is the new
	// configuration's, and a refused reload puts the old one back.
	tokenChanged := cfg.API.Token.Value() != old.API.Token.Value()
	if ts, ok := r.a.api.(tokenSetter); ok && tokenChanged {
		ts.SetToken(cfg.API.Token.Value())
		defer func() {
			if err != nil {
				ts.SetToken(old.API.Token.Value())
			}
		}()
	}
	if !reflect.DeepEqual(cfg.Subchannels, old.Subchannels) && !cfg.DryRun() {
		err := verifySubchannels(ctx, cfg, r.a.api)
		if le := (listError{}); errors.As(err, &le) {
			r.a.log.Warn("reload: subchannels not verified, the API cannot be asked; applying anyway", "err", le.err)
		} else if err != nil {
			return err
		}
	}
	policy, err := newSMTPPolicy(cfg.SMTP)
	if err != nil {
		return err
	}
	pc, err := pipelineConfig(cfg)
	if err != nil {
		return err
	}
	// The settings first: the first mail of a new mailbox may be
	// delivered as soon as its poller runs, and must be mapped with them.
	r.a.pipeline.Reconfigure(pc.Subchannels, pc.Mailboxes)
	r.a.pipeline.SetRules(pc.Rules)
	for _, l := range r.listeners {
		if err := l.Reconfigure(policy.router, policy.networks, policy.users); err != nil {
			return err
		}
		l.AuthGuard().SetLimits(smtpAuthLimits(cfg.SMTP.Auth)) // shared: the same guard each time
	}
	if err := r.mailboxes.apply(cfg.Mailboxes); err != nil {
		// Nothing of the mailboxes changed; put the rest back too, so that
		// a refused reload leaves the daemon as it was.
		r.restore(old)
		return err
	}
	if _, ok := r.a.api.(tokenSetter); ok && tokenChanged {
		r.a.pipeline.TokenChanged()
		r.a.log.Info("reload: new API token in use; the API is asked at once whether it takes it")
	}
	if keys := restartOnly(old, cfg); len(keys) > 0 {
		r.a.log.Warn("reload: these settings take effect only at the next start", "keys", keys)
	}
	// The settings that need a restart keep running as they started, and
	// the next reload warns about them again.
	applied := *old
	applied.SMTP.Routes, applied.SMTP.Users, applied.SMTP.AllowedNetworks = cfg.SMTP.Routes, cfg.SMTP.Users, cfg.SMTP.AllowedNetworks
	applied.SMTP.LocalPartCaseSensitive = cfg.SMTP.LocalPartCaseSensitive
	applied.SMTP.Auth = cfg.SMTP.Auth
	applied.Mailboxes, applied.Subchannels, applied.Rules = cfg.Mailboxes, cfg.Subchannels, cfg.Rules
	applied.API.Token = cfg.API.Token
	r.cfg = &applied
	r.a.log.Info("configuration reloaded", "path", r.path, "mailboxes", len(cfg.Mailboxes),
		"routes", len(cfg.SMTP.Routes), "subchannels", len(cfg.Subchannels))
	logWarnings(r.a.log, cfg)
	return nil
}

// tokenSetter is an API client whose token a reload can replace.
type tokenSetter interface{ SetToken(string) }

// restore applies old's SMTP policy and subchannel settings again. old
// was in effect, so it builds.
func (r *reloader) restore(old *config.Config) {
	if pc, err := pipelineConfig(old); err == nil {
		r.a.pipeline.Reconfigure(pc.Subchannels, pc.Mailboxes)
		r.a.pipeline.SetRules(pc.Rules)
	}
	if pol, err := newSMTPPolicy(old.SMTP); err == nil {
		for _, l := range r.listeners {
			_ = l.Reconfigure(pol.router, pol.networks, pol.users)
			l.AuthGuard().SetLimits(smtpAuthLimits(old.SMTP.Auth))
		}
	}
}

// restartOnly names the top-level keys (smtp's by their own name) that
// differ between old and cfg but are not applied by a reload.
func restartOnly(old, cfg *config.Config) []string {
	var keys []string
	o, n := reflect.ValueOf(*old), reflect.ValueOf(*cfg)
	for i := range o.NumField() {
		f := o.Type().Field(i)
		switch f.Name {
		case "Subchannels", "Mailboxes", "SMTP", "Rules":
			continue
		case "API": // the token is applied
			oa, na := old.API, cfg.API
			oa.Token, na.Token = "", ""
			if !reflect.DeepEqual(oa, na) {
				keys = append(keys, yamlKey(f))
			}
			continue
		}
		if !reflect.DeepEqual(o.Field(i).Interface(), n.Field(i).Interface()) {
			keys = append(keys, yamlKey(f))
		}
	}
	os, ns := reflect.ValueOf(old.SMTP), reflect.ValueOf(cfg.SMTP)
	for i := range os.NumField() {
		f := os.Type().Field(i)
		switch f.Name {
		case "Routes", "Users", "AllowedNetworks", "LocalPartCaseSensitive", "Auth": // the policy
			continue
		}
		if !reflect.DeepEqual(os.Field(i).Interface(), ns.Field(i).Interface()) {
			keys = append(keys, "smtp."+yamlKey(f))
		}
	}
	return keys
}

func yamlKey(f reflect.StructField) string {
	if k := f.Tag.Get("yaml"); k != "" && k != "-" {
		return k
	}
	return f.Name
}
