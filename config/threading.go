package config

import (
	"regexp"
	"strings"
)

// defaultSubjectPattern matches [#123], [Ticket#123] and Ticket #123, in
// any case; %s is where the prefix goes.
const defaultSubjectPattern = `(?i)(?:\[(?:ticket\s?)?#|\bticket\s?#)%s(\d+)\b`

// DefaultSubjectPattern is the default threading.subject.pattern with
// prefix (a literal) required right before the number.
func DefaultSubjectPattern(prefix string) string {
	return strings.Replace(defaultSubjectPattern, "%s", regexp.QuoteMeta(prefix), 1)
}

// Threading is how mailbridge finds the ticket an incoming mail belongs to
// before it opens a new one (keyed by the thread's first Message-ID). The
// rules run in the order of the fields; the first that finds a ticket
// wins.
type Threading struct {
	// MessageIDs looks In-Reply-To, then References newest first, up among
	// the mails mailbridge delivered on the same subchannel (default
	// true). A pointer because false turns it off.
	MessageIDs *bool `yaml:"messageIds"`
	// Search asks the API for the ticket when the thread map knows none of
	// the mail's Message-IDs; it comes with messageIds.
	Search      TicketSearch  `yaml:"search"`
	Subject     SubjectTicket `yaml:"subject"`
	PlusAddress PlusAddress   `yaml:"plusAddress"`
	// CheckSender lets a mail join a ticket by subject or plus address
	// alone only if its sender was seen on the ticket (from, to, cc) or
	// is authenticated (DMARC, see auth) for the domain of an address
	// that was; anyone else's mail opens a new ticket (default true).
	CheckSender *bool `yaml:"checkSender"`
	// SameDomain lets checkSender also admit a sender authenticated
	// (DMARC) for the domain of an address seen on the ticket (default
	// false: with a freemail participant, anyone at that provider).
	SameDomain bool `yaml:"sameDomain"`
}

// TicketSearch finds the ticket whose externalTicketId is one of a reply's
// Message-IDs through POST /ticket/search: the thread map of an instance
// that lost its store, or never saw the thread's start.
type TicketSearch struct {
	Enabled *bool `yaml:"enabled"` // default true
	// Key is the filter key (default externalTicketId).
	Key string `yaml:"key"`
	// Comparator is the filter comparator (default in: all ids in one
	// call); any other sends one call per id, at most 3.
	Comparator string `yaml:"comparator"`
}

// SubjectTicket takes the ticket number from the subject.
type SubjectTicket struct {
	Enabled *bool `yaml:"enabled"` // default true
	// Pattern is a Go regexp with exactly one capture group, the ticket
	// number. Default: [#123], [Ticket#123] and Ticket #123, any case.
	Pattern string `yaml:"pattern"`
	// Minimum ignores smaller numbers (default 1): an installation whose
	// tickets start high can tell them from other systems' numbers.
	Minimum int64 `yaml:"minimum"`
	// Prefix is a literal the default pattern requires right before the
	// number ([#ACME-123] for ACME-); a custom pattern writes it itself.
	Prefix string `yaml:"prefix"`
}

// PlusAddress takes the ticket number from a recipient such as
// support+123@example.com.
type PlusAddress struct {
	Enabled bool `yaml:"enabled"` // default false
}

func (t *Threading) applyDefaults() {
	if t.MessageIDs == nil {
		on := true
		t.MessageIDs = &on
	}
	if t.Subject.Enabled == nil {
		on := true
		t.Subject.Enabled = &on
	}
	setDefault(&t.Subject.Minimum, 1)
	if t.Search.Enabled == nil {
		on := true
		t.Search.Enabled = &on
	}
	if t.CheckSender == nil {
		on := true
		t.CheckSender = &on
	}
	setDefault(&t.Search.Key, "externalTicketId")
	setDefault(&t.Search.Comparator, "in")
}

// SearchOn reports whether the search rule runs: it is on and the rule
// whose gaps it fills, messageIds, is on too.
func (t *Threading) SearchOn() bool {
	return (t.MessageIDs == nil || *t.MessageIDs) && (t.Search.Enabled == nil || *t.Search.Enabled)
}

func (t *Threading) validate(p *problems) {
	for key, v := range map[string]string{"key": t.Search.Key, "comparator": t.Search.Comparator} {
		if strings.TrimSpace(v) == "" {
			p.add("threading.search."+key, "must not be empty")
		}
	}
	const path = "threading.subject."
	s := t.Subject
	if s.Minimum < 0 {
		p.add(path+"minimum", "must not be negative (got %d)", s.Minimum)
	}
	if s.Pattern == "" {
		return
	}
	if s.Prefix != "" {
		p.add(path+"prefix", "applies to the default pattern only; write it into threading.subject.pattern")
	}
	re, err := regexp.Compile(s.Pattern)
	if err != nil {
		p.add(path+"pattern", "invalid regexp: %v", err)
		return
	}
	if n := re.NumSubexp(); n != 1 {
		p.add(path+"pattern", "must have exactly one capture group, the ticket number (has %d; use (?:...) for the others)", n)
	}
}

// SubjectRegexp is the compiled subject pattern, nil when the rule is off.
// Validate has checked a custom pattern, so it compiles.
func (t *Threading) SubjectRegexp() *regexp.Regexp {
	s := t.Subject
	if s.Enabled != nil && !*s.Enabled {
		return nil
	}
	pattern := s.Pattern
	if pattern == "" {
		pattern = DefaultSubjectPattern(s.Prefix)
	}
	return regexp.MustCompile(pattern)
}
