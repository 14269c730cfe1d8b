package mapper

import (
	"strconv"
	"strings"

	"github.com/enneo/mailbridge/mapper/autoreply"
)

// Envelope is what the transport said about a message apart from its
// header. Only SMTP knows it; IMAP and files leave it unknown.
type Envelope struct {
	// ReturnPath is the SMTP MAIL FROM without angle brackets; "" is the
	// null sender <>.
	ReturnPath string
	// HasReturnPath is false when the envelope is unknown: the
	// Return-Path header, if any, then stands in.
	HasReturnPath bool
}

// Priority levels as the header states them. Urgent is kept apart from
// High because whether enneo's "urgent" is warranted is a policy the
// caller sets, not a fact of the message.
const (
	PriorityUrgent = "urgent"
	PriorityHigh   = "high"
	PriorityLow    = "low"
)

// Signals are what a message's header says about its sender and its
// urgency, beyond the payload Map builds.
type Signals struct {
	Verdict autoreply.Verdict
	// Priority is PriorityUrgent, PriorityHigh, PriorityLow or "" when the
	// header states none (or states normal).
	Priority string
	// PriorityHeader is the field that decided Priority, as "Name: value",
	// for rawData and logs.
	PriorityHeader string
}

// ReadSignals classifies a mapped message and reads its priority. It is
// separate from Map so that the payload Map builds (and its golden tests)
// stays a function of the message alone: what the pipeline does with the
// signals depends on configuration. r may be nil; the decoded Subject and
// From of its conversation are used when present. It never fails.
func ReadSignals(raw []byte, r *Result, e Envelope) Signals {
	h := readHeader(raw)
	in := autoreply.Input{ReturnPath: e.ReturnPath, HasReturnPath: e.HasReturnPath}
	if h != nil {
		in.Header = h
	}
	if r != nil && r.Conversation != nil {
		in.Subject = r.Conversation.Subject
		in.From = r.Conversation.From
	}
	s := Signals{Verdict: autoreply.Classify(in)}
	if h != nil {
		s.Priority, s.PriorityHeader = priority(h.Get)
	}
	return s
}

// priority reads X-Priority, Importance and Priority (RFC 2156). When
// they disagree the most urgent wins: a sender who marked a mail urgent in
// any of them meant it, and a mail wrongly raised costs less than one
// wrongly lowered. Normal values (X-Priority 3, Importance: normal) state
// nothing, so that the ticket keeps whatever priority it has.
func priority(get func(string) string) (level, header string) {
	rank := map[string]int{PriorityLow: 1, PriorityHigh: 2, PriorityUrgent: 3}
	consider := func(l, name, value string) {
		if l != "" && rank[l] > rank[level] {
			level, header = l, name+": "+clip(value)
		}
	}
	if v := strings.TrimSpace(get("X-Priority")); v != "" {
		// "1 (Highest)", "2 (High)", "5 (Lowest)": the digit decides.
		digits := v
		if i := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
			digits = v[:i]
		}
		switch n, _ := strconv.Atoi(digits); {
		case n == 1 || n == 2:
			consider(PriorityHigh, "X-Priority", v)
		case n == 4 || n == 5:
			consider(PriorityLow, "X-Priority", v)
		}
	}
	if v := strings.TrimSpace(get("Importance")); v != "" {
		switch strings.ToLower(v) {
		case "high":
			consider(PriorityHigh, "Importance", v)
		case "low":
			consider(PriorityLow, "Importance", v)
		}
	}
	if v := strings.TrimSpace(get("Priority")); v != "" {
		switch strings.ToLower(v) {
		case "urgent":
			consider(PriorityUrgent, "Priority", v)
		case "non-urgent":
			consider(PriorityLow, "Priority", v)
		}
	}
	return level, header
}

// clip keeps a header value quoted in rawData short and on one line.
func clip(v string) string {
	v = strings.Join(strings.Fields(v), " ")
	if len(v) > 40 {
		v = strings.ToValidUTF8(v[:40], "") + "…"
	}
	return v
}
