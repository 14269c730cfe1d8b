// Package mailauth tells who really sent a mail: it verifies DKIM
// signatures, checks SPF for the envelope sender and the connecting
// address, and evaluates DMARC alignment for the From domain (RFC 6376,
// 7208, 7489). For mail that another server checked already, it reads the
// Authentication-Results header (RFC 8601) of a trusted authserv-id.
//
// Every DNS query goes through a Resolver with a timeout and a cache; a
// DNS failure is temperror, never pass. The work per message is bounded:
// at most MaxSignatures DKIM signatures, the RFC 7208 lookup limits for
// SPF, and the context's deadline for all of it.
package mailauth

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/enneo/mailbridge/internal/dkim"
)

// Verdicts, as RFC 8601 names them.
const (
	Pass      = "pass"
	Fail      = "fail"
	SoftFail  = "softfail"
	Neutral   = "neutral"
	None      = "none"
	TempError = "temperror"
	PermError = "permerror"
)

// Sources of a Result.
const (
	SourceVerified      = "verified"       // checked by mailbridge itself
	SourceTrustedHeader = "trusted-header" // read from a trusted Authentication-Results
)

// Envelope is what the SMTP session knows of the sender.
type Envelope struct {
	IP       netip.Addr
	Helo     string
	MailFrom string
}

// Result is the verdict on one message.
type Result struct {
	DKIM  string `json:"dkim"`  // best of the signatures: pass, fail, temperror, permerror, none
	SPF   string `json:"spf"`   // pass, fail, softfail, neutral, none, temperror, permerror
	DMARC string `json:"dmarc"` // pass, fail, none, temperror, permerror
	// AlignedDomain is the domain that passed DMARC alignment (DKIM d= or
	// the SPF domain), empty unless DMARC passed.
	AlignedDomain string `json:"alignedDomain,omitempty"`
	// FromDomain is the RFC5322.From domain DMARC was evaluated for.
	FromDomain string `json:"fromDomain,omitempty"`
	// Policy is the From domain's DMARC policy (none, quarantine,
	// reject), if it has one.
	Policy string `json:"policy,omitempty"`
	Source string `json:"source"`
	// AuthservID is the authserv-id of the header the result came from,
	// or the one mailbridge wrote.
	AuthservID string `json:"authservId,omitempty"`

	Signatures []Signature `json:"-"`
	SPFDomain  string      `json:"-"`
}

// Signature is one DKIM signature's verdict.
type Signature struct {
	Domain string
	Result string
	Reason string
}

// Authenticated says whether the From domain is vouched for: DMARC
// passed, or the domain has no DMARC policy and a DKIM signature or SPF
// of its own (organizational) domain passed.
func (r *Result) Authenticated() bool {
	return r != nil && r.FromDomain != "" && (r.DMARC == Pass || r.DMARC == None && r.AlignedDomain != "")
}

// Rejecting says whether the From domain asks for failed mail to be
// rejected and this mail failed.
func (r *Result) Rejecting() bool { return r != nil && r.DMARC == Fail && r.Policy == "reject" }

// Verifier checks messages.
type Verifier struct {
	Resolver Resolver
	// MaxSignatures is how many DKIM signatures are verified (default 5);
	// the rest are ignored.
	MaxSignatures int
	// MaxLookups bounds the DNS-querying SPF terms (default 10, RFC 7208
	// 4.6.4); void lookups are bounded to 2.
	MaxLookups uint
}

// Verify checks raw (the message as the client sent it) against env. It
// never fails: what it cannot decide is temperror or permerror. ctx bounds
// the whole check.
func (v *Verifier) Verify(ctx context.Context, env Envelope, raw []byte) *Result {
	res := &Result{Source: SourceVerified}
	res.Signatures = v.dkim(ctx, raw)
	res.DKIM = bestDKIM(res.Signatures)
	res.SPF, res.SPFDomain = v.spf(ctx, env)
	v.dmarc(ctx, raw, res)
	return res
}

func (v *Verifier) lookupTXT(ctx context.Context) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		if err := ctx.Err(); err != nil {
			return nil, &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
		}
		txt, err := v.Resolver.LookupTXT(ctx, name)
		if err == nil && strings.Contains(strings.ToLower(name), "._domainkey.") && totalLen(txt) > maxKeyRecord {
			// A key of a hostile size costs seconds of CPU per signature,
			// which no deadline interrupts: no key (permerror).
			return nil, &net.DNSError{Err: "DKIM key record too long", Name: name}
		}
		return txt, err
	}
}

// maxKeyRecord bounds a DKIM key record: an RSA key of 8192 bits is about
// 1.4 KB of base64.
const maxKeyRecord = 2048

func totalLen(ss []string) int {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	return n
}

func (v *Verifier) dkim(ctx context.Context, raw []byte) []Signature {
	max := v.MaxSignatures
	if max <= 0 {
		max = 5
	}
	opts := &dkim.VerifyOptions{LookupTXT: v.lookupTXT(ctx), MaxVerifications: max}
	if kc, ok := v.Resolver.(dkim.KeyCache); ok {
		opts.Keys = kc
	}
	verifs, err := dkim.Verify(raw, opts)
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return []Signature{{Result: PermError, Reason: err.Error()}}
	}
	sigs := make([]Signature, 0, len(verifs))
	for _, vf := range verifs {
		s := Signature{Domain: strings.ToLower(vf.Domain), Result: Pass}
		switch {
		case vf.Err == nil:
		case dkim.IsTempFail(vf.Err):
			s.Result, s.Reason = TempError, vf.Err.Error()
		case dkim.IsPermFail(vf.Err):
			s.Result, s.Reason = PermError, vf.Err.Error()
		default:
			s.Result, s.Reason = Fail, vf.Err.Error()
		}
		sigs = append(sigs, s)
	}
	return sigs
}

// bestDKIM is the summary verdict: pass if any signature passed, else the
// first of temperror, fail, permerror found, else none. (A header may
// carry other words, such as neutral or policy: the first signature's.)
func bestDKIM(sigs []Signature) string {
	if len(sigs) == 0 {
		return None
	}
	for _, want := range []string{Pass, TempError, Fail, PermError} {
		for _, s := range sigs {
			if s.Result == want {
				return want
			}
		}
	}
	return sigs[0].Result
}

func (v *Verifier) spf(ctx context.Context, env Envelope) (result, domain string) {
	if !env.IP.IsValid() {
		return None, ""
	}
	sender := env.MailFrom
	domain = strings.ToLower(env.Helo)
	if at := strings.LastIndexByte(sender, '@'); at >= 0 {
		domain = strings.ToLower(sender[at+1:])
	} else {
		// A null sender (bounces) is checked as postmaster@HELO.
		sender = "postmaster@" + env.Helo
	}
	if domain == "" {
		return None, ""
	}
	max := v.MaxLookups
	if max == 0 {
		max = 10
	}
	r, _ := spf.CheckHostWithSender(net.IP(env.IP.AsSlice()), env.Helo, sender,
		spf.WithContext(ctx), spf.WithResolver(v.Resolver), spf.OverrideLookupLimit(max),
		spf.OverrideVoidLookupLimit(2))
	return string(r), domain
}

// OrgDomain is the organizational domain of d (RFC 7489 3.2): the public
// suffix plus one label.
func OrgDomain(d string) string {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return org
}

// aligned says whether id (a DKIM d= or SPF domain) aligns with the From
// domain: the same domain in strict mode, the same organizational domain
// in relaxed mode.
func aligned(id, from string, mode dmarc.AlignmentMode) bool {
	if id == "" {
		return false
	}
	if strings.EqualFold(id, from) {
		return true
	}
	return mode != dmarc.AlignmentStrict && OrgDomain(id) == OrgDomain(from)
}

// alignedPass is the first DKIM signature domain, else the SPF domain,
// that passed and aligns with the From domain from; "" if none does.
func alignedPass(res *Result, from string, dkimMode, spfMode dmarc.AlignmentMode) string {
	for _, s := range res.Signatures {
		if s.Result == Pass && aligned(s.Domain, from, dkimMode) {
			return s.Domain
		}
	}
	if res.SPF == Pass && aligned(res.SPFDomain, from, spfMode) {
		return res.SPFDomain
	}
	return ""
}

func (v *Verifier) dmarc(ctx context.Context, raw []byte, res *Result) {
	from, ok := fromDomain(raw)
	if !ok {
		res.DMARC = PermError
		return
	}
	res.FromDomain = from
	opts := &dmarc.LookupOptions{LookupTXT: v.lookupTXT(ctx)}
	rec, err := dmarc.LookupWithOptions(from, opts)
	sub := false
	if errors.Is(err, dmarc.ErrNoPolicy) {
		if org := OrgDomain(from); org != from {
			rec, err = dmarc.LookupWithOptions(org, opts)
			sub = true
		}
	}
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		// No policy to apply, but a domain may still vouch for its mail:
		// an aligned pass (relaxed) is recorded all the same.
		res.DMARC = None
		res.AlignedDomain = alignedPass(res, from, "", "")
		return
	case dmarc.IsTempFail(err):
		res.DMARC = TempError
		return
	case err != nil:
		res.DMARC = PermError
		return
	}
	res.Policy = string(rec.Policy)
	if sub && rec.SubdomainPolicy != "" {
		res.Policy = string(rec.SubdomainPolicy)
	}
	if d := alignedPass(res, from, rec.DKIMAlignment, rec.SPFAlignment); d != "" {
		res.DMARC, res.AlignedDomain = Pass, d
		return
	}
	// Nothing aligned passed. If a check could not be made, the verdict
	// might have been pass: temperror, so the sender's server retries
	// or the policy treats it as unknown, never as a failure or a pass.
	if res.SPF == TempError || res.DKIM == TempError {
		res.DMARC = TempError
		return
	}
	res.DMARC = Fail
}
