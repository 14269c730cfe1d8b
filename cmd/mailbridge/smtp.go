package main

import (
	"crypto/tls"
	"net/netip"
	"os"
	"time"

	"github.com/enneo/mailbridge/config"
	"github.com/enneo/mailbridge/mailauth"
	"github.com/enneo/mailbridge/mailbox/smtp"
)

// smtpPolicy is what smtp.routes, smtp.allowedNetworks and smtp.users
// make of the listeners' policy: the part a reload may change.
type smtpPolicy struct {
	router   *smtp.Router
	networks []netip.Prefix
	users    []smtp.User
}

func newSMTPPolicy(c config.SMTP) (smtpPolicy, error) {
	routes := make([]smtp.Route, len(c.Routes))
	for i, r := range c.Routes {
		routes[i] = smtp.Route{Address: r.Address, SubchannelID: r.SubchannelID}
	}
	router, err := smtp.NewRouter(routes, c.LocalPartCaseSensitive)
	if err != nil {
		return smtpPolicy{}, usagef("smtp.routes: %v", err)
	}
	networks := make([]netip.Prefix, 0, len(c.AllowedNetworks))
	for _, n := range c.AllowedNetworks {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return smtpPolicy{}, usagef("smtp.allowedNetworks: %v", err)
		}
		networks = append(networks, p.Masked())
	}
	return smtpPolicy{router: router, networks: networks, users: smtpUsers(c.Users)}, nil
}

// smtpListeners builds the SMTP/LMTP listeners of smtp.listeners.
func smtpListeners(a *app) ([]*smtp.Server, error) {
	c := a.cfg.SMTP
	if len(c.Listeners) == 0 {
		return nil, nil
	}
	pol, err := newSMTPPolicy(c)
	if err != nil {
		return nil, err
	}
	router, networks, users := pol.router, pol.networks, pol.users
	// One guard for all listeners: an attacker switching ports meets the
	// same lockouts, and the bound on password checks is the process's.
	guard := smtp.NewAuthGuard(smtpAuthLimits(c.Auth), a.log)
	// One budget for every listener: it bounds the process's memory.
	var budget *smtp.DataBudget
	if c.Limits.DataBytesInFlight > 0 {
		budget = smtp.NewDataBudget(c.Limits.DataBytesInFlight)
	}
	verifier := senderVerifier(a)
	var servers []*smtp.Server
	for i, l := range c.Listeners {
		opts := smtp.Options{
			Name: l.Name, Address: l.Address, LMTP: l.Mode == "lmtp", Hostname: c.Hostname,
			AllowInsecureAuth: l.AllowInsecureAuth, Router: router, AllowedNetworks: networks, Users: users,
			MaxMessageBytes: c.Limits.MaxMessageBytes, MaxRecipients: c.Limits.MaxRecipients,
			MaxLineLength: c.Limits.MaxLineLength, MaxConnections: c.Limits.MaxConnections,
			MaxConnectionsPerIP: c.Limits.MaxConnectionsPerIP, Observer: a.metrics, AuthGuard: guard,
			ReadTimeout: time.Duration(c.Limits.ReadTimeout), WriteTimeout: time.Duration(c.Limits.WriteTimeout),
			DataTimeout: time.Duration(c.Limits.DataTimeout), ShutdownTimeout: time.Duration(c.Limits.ShutdownTimeout),
			ReservedConnections: c.Limits.ReservedConnections, OutsideConnectionsPerIP: c.Limits.OutsideConnectionsPerIP,
			OutsideReadTimeout:     time.Duration(c.Limits.OutsideReadTimeout),
			OutsideSessionLifetime: time.Duration(c.Limits.OutsideSessionLifetime),
			SessionLifetime:        time.Duration(c.Limits.SessionLifetime),
			MaxErrors:              c.Limits.MaxErrors, DataBudget: budget,
		}
		if verifier != nil {
			opts.Verifier = verifier
		}
		if l.TLS.Mode != "none" {
			cert, err := tls.LoadX509KeyPair(l.TLS.CertFile, l.TLS.KeyFile)
			if err != nil {
				return nil, usagef("smtp.listeners[%d].tls: %v", i, err)
			}
			opts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			opts.ImplicitTLS = l.TLS.Mode == "implicit"
		}
		srv, err := smtp.New(opts, a.pipeline, a.log)
		if err != nil {
			return nil, usagef("smtp.listeners[%d]: %v", i, err)
		}
		servers = append(servers, srv)
	}
	return servers, nil
}

// senderVerifier is the listeners' sender check (auth.verify), nil when
// off. One for all listeners: they share its DNS cache.
func senderVerifier(a *app) *mailauth.Stamper {
	c := a.cfg.Auth
	if !c.Verify {
		return nil
	}
	res := mailauth.NewCache(mailauth.NewNetResolver(c.DNSServer), c.DNSTimeout.D(), c.CacheTTL.D(), 0)
	return &mailauth.Stamper{
		Verifier:   &mailauth.Verifier{Resolver: res, MaxSignatures: c.MaxSignatures},
		AuthservID: authservID(a.cfg), Timeout: c.Timeout.D(), Log: a.log,
	}
}

// authservID names mailbridge in the Authentication-Results header its
// listeners write: auth.authservId (default smtp.hostname), else the OS
// hostname, as the listeners' own default.
func authservID(cfg *config.Config) string {
	if cfg.Auth.AuthservID != "" {
		return cfg.Auth.AuthservID
	}
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}

// smtpUsers hands the accounts to the listener: a password (config.Load
// has read any passwordFile into it) or a bcrypt passwordHash.
func smtpUsers(list []config.SMTPUser) []smtp.User {
	users := make([]smtp.User, len(list))
	for i, u := range list {
		users[i] = smtp.User{Username: u.Username, Password: u.Password.Value(), PasswordHash: u.PasswordHash.Value()}
	}
	return users
}

// smtpAuthLimits hands smtp.auth to the listeners' guard.
func smtpAuthLimits(c config.SMTPAuth) smtp.AuthLimits {
	return smtp.AuthLimits{
		MaxFailuresPerConnection: c.MaxFailuresPerConnection,
		TarpitInitial:            time.Duration(c.TarpitInitial),
		TarpitMax:                time.Duration(c.TarpitMax),
		LockoutFailures:          c.LockoutFailures,
		LockoutWindow:            time.Duration(c.LockoutWindow),
		LockoutDuration:          time.Duration(c.LockoutDuration),
		MaxConcurrentChecks:      c.MaxConcurrentChecks,
		CheckQueueTimeout:        time.Duration(c.CheckQueueTimeout),
		MaxTracked:               c.MaxTracked,
		LogInterval:              time.Duration(c.LogInterval),
	}
}
