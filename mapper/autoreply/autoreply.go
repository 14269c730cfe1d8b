// Package autoreply tells a message a person wrote from one a machine sent:
// an out-of-office or other automatic reply, a bounce, or list and bulk
// mail. The pipeline maps each class to a policy (store without processing,
// skip, deadletter) so that machines do not open tickets, feed the AI or
// start mail loops with the ticket system's own acknowledgements.
//
// # What counts as what
//
//   - Bounce: a delivery status notification (RFC 3464), whether it reports
//     a failure, a delay or a success, and anything sent by MAILER-DAEMON or
//     postmaster. A message with a null envelope sender (Return-Path: <>)
//     is a bounce too, unless a more specific rule below names it: RFC 3834
//     asks automatic responders and MDN senders to use the null sender as
//     well.
//   - AutoReply: machine-written mail addressed to a person: out-of-office
//     and vacation replies, helpdesk acknowledgements, notifications flagged
//     Auto-Submitted, and read receipts (RFC 8098 MDNs) and other
//     multipart/report messages that are not delivery reports.
//   - List: mailing lists (List-Id, List-Post, Mailing-List) and bulk mail
//     (Precedence: bulk, junk or list).
//   - Human: everything else, including mail that says Auto-Submitted: no.
//
// # Order and doubt
//
// The rules run from the most certain to the least: the structural bounce
// signs (report type, daemon sender), then RFC 3834 and vendor auto-reply
// headers, then the null sender, then list headers, then the subject. The
// first match decides. Auto-reply headers beat list headers because a
// notification from a tracker or shop often carries both, and the more
// specific header says more about the message.
//
// Where a sign is ambiguous the message stays Human. Taking a customer's
// message for a machine's hides it from agents and the AI; taking a
// machine's message for a customer's costs one needless ticket. Hence:
//
//   - X-Auto-Response-Suppress is ignored. Microsoft documents it
//     ([MS-OXCMAIL] 2.1.3.2.20, [MS-OXOMSG] PidTagAutoResponseSuppress) as
//     the sender asking recipients not to auto-respond; it says nothing
//     about who wrote the message. Exchange also puts it on mail people
//     write (helpdesks such as GLPI found it on mail sent through
//     distribution groups), and newsletter and notification senders add it
//     to everything, so it would demote real customers. Exchange's own out-of-office replies also carry
//     Auto-Submitted and an "Automatic reply:" subject, which are caught.
//     A responder should still honour the header when it decides whether
//     to answer; that is not this package's question.
//   - List-Unsubscribe (and List-Unsubscribe-Post, Feedback-ID) alone is not
//     list mail. Transactional services add it to single messages (order
//     confirmations, web contact forms sent through an ESP with
//     subscription tracking), and a contact form is exactly the mail a
//     support desk exists for. Real lists and newsletters also send List-Id
//     or Precedence, which are caught.
//   - X-Loop and X-Mailer are ignored: their values are free-form (procmail
//     writes an address, helpdesks their own name), so no value proves the
//     message automatic.
//   - Subjects count only as a template a responder generates: a known
//     phrase at the very start (after gateway tags such as "[EXTERNAL]"),
//     followed by a colon, a dash, a parenthesis or nothing. "Re: Out of
//     office question" and "AW: Automatische Antwort: ..." are people
//     replying and stay Human. A sentence subject ("Ich bin ab 7.4. wieder
//     im Büro", "I am out of the office until Monday") counts when it is not
//     a question. Subjects never make a bounce: every real bounce has a
//     structural sign, and "Unzustellbar: Paket" may be a customer.
//
// A mailbox fed through a list of its own (a Google Group or Mailman list
// as the support address) gets List-Id on every message; such a subchannel
// must not skip the List class.
package autoreply

import (
	"strings"
	"unicode/utf8"
)

// Class is what kind of sender a message comes from.
type Class string

// Human is a named value rather than "" so that rawData and logs say
// "human" explicitly and a zero Verdict is recognisably unset.
const (
	Human     Class = "human"
	AutoReply Class = "auto-reply"
	Bounce    Class = "bounce"
	List      Class = "list" // mailing lists and bulk mail
)

// Header is the read side of a parsed header block. net/textproto's
// MIMEHeader (what enmime and mapper read), net/mail's Header and
// go-message's *textproto.Header all satisfy it, so callers pass whatever
// they parsed. Get must return "" for an absent field; a field with an
// empty value therefore counts as absent.
type Header interface {
	Get(key string) string
}

// Input is what the classifier looks at. Subject, From and ContentType
// override the header fields of the same name; when empty, the raw header
// value is used (an RFC 2047 encoded subject then matches no phrase, so
// callers that have it decoded should pass it).
type Input struct {
	Header Header // may be nil
	// ReturnPath is the envelope sender (SMTP MAIL FROM, or the
	// Return-Path header written at delivery), without angle brackets;
	// "" is the null sender <>.
	ReturnPath string
	// HasReturnPath is false when the envelope sender is unknown (IMAP);
	// the Return-Path header, if any, is used instead.
	HasReturnPath bool
	// ContentType is the top-level Content-Type with its parameters,
	// e.g. "multipart/report; report-type=delivery-status".
	ContentType string
	Subject     string // decoded
	From        string // address, or the whole From header
}

// Verdict is the class of a message and the rule that decided it.
type Verdict struct {
	Class Class
	// Reason names the deciding header and its value, e.g.
	// "Auto-Submitted: auto-replied", for rawData and logs. It is one line
	// of valid UTF-8 quoting at most about 100 bytes of the value, empty
	// exactly when Class is Human.
	Reason string
}

// Classify decides the class of a message. It never fails: a missing or
// malformed field is a sign that is not there.
func Classify(in Input) Verdict {
	get := func(k string) string {
		if in.Header == nil {
			return ""
		}
		return strings.TrimSpace(in.Header.Get(k))
	}
	ct := in.ContentType
	if ct == "" {
		ct = get("Content-Type")
	}
	from := in.From
	if from == "" {
		from = get("From")
	}

	// Bounces, by structure.
	reportType, isReport := reportType(ct)
	if isReport && reportType == "delivery-status" {
		return Verdict{Bounce, "Content-Type: multipart/report; report-type=delivery-status"}
	}
	if addr := address(from); isDaemon(addr) {
		return Verdict{Bounce, "From: " + clean(addr)}
	}
	// Read receipts and other reports (feedback, TLS) are machine-written
	// but report nothing about delivery.
	if isReport {
		return Verdict{AutoReply, "Content-Type: multipart/report; report-type=" + clean(reportType)}
	}

	// RFC 3834 and vendor auto-reply headers.
	if v := get("Auto-Submitted"); v != "" {
		if t := token(v); t != "" && t != "no" {
			return Verdict{AutoReply, "Auto-Submitted: " + clean(t)}
		}
	}
	for _, k := range []string{"X-Autoreply", "X-Autorespond"} {
		if v := get(k); v != "" && !isNo(token(v)) {
			return Verdict{AutoReply, k + ": " + clean(v)}
		}
	}
	if t := token(get("X-Autogenerated")); t == "reply" {
		return Verdict{AutoReply, "X-Autogenerated: reply"}
	}
	precedence := [2]string{token(get("Precedence")), token(get("X-Precedence"))}
	for i, k := range []string{"Precedence", "X-Precedence"} {
		if precedence[i] == "auto_reply" {
			return Verdict{AutoReply, k + ": auto_reply"}
		}
	}

	// The null sender, when nothing more specific spoke.
	rp, hasRP := in.ReturnPath, in.HasReturnPath
	if !hasRP {
		rp = get("Return-Path")
		hasRP = rp != ""
	}
	if hasRP && strings.Trim(rp, "<> \t") == "" {
		return Verdict{Bounce, "Return-Path: <>"}
	}

	// Lists and bulk.
	for _, k := range []string{"List-Id", "List-Post", "Mailing-List", "X-Mailing-List"} {
		if v := get(k); v != "" {
			return Verdict{List, k + ": " + clean(v)}
		}
	}
	for i, k := range []string{"Precedence", "X-Precedence"} {
		switch precedence[i] {
		case "bulk", "junk", "list":
			return Verdict{List, k + ": " + precedence[i]}
		}
	}

	// Subject templates.
	subject := in.Subject
	if subject == "" {
		subject = get("Subject")
	}
	if p := oofSubject(subject); p != "" {
		return Verdict{AutoReply, "Subject: " + p}
	}
	return Verdict{Class: Human}
}

// reportType returns the lower-cased report-type parameter of a
// multipart/report Content-Type, and whether ct is multipart/report at all.
func reportType(ct string) (string, bool) {
	mt, params, _ := strings.Cut(ct, ";")
	if !strings.EqualFold(strings.TrimSpace(mt), "multipart/report") {
		return "", false
	}
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, ok := strings.Cut(p, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "report-type") {
			return strings.ToLower(strings.Trim(strings.TrimSpace(v), `"`)), true
		}
	}
	return "", true
}

// address extracts the addr-spec from a From value written as a bare
// address, "Name <addr>" or "addr (comment)". It does not validate: a
// broken header still yields its most address-like part.
func address(from string) string {
	if i := strings.LastIndexByte(from, '<'); i >= 0 {
		a := from[i+1:]
		if j := strings.IndexByte(a, '>'); j >= 0 {
			a = a[:j]
		}
		return strings.TrimSpace(a)
	}
	for _, f := range strings.Fields(from) {
		if strings.ContainsRune(f, '@') {
			return f
		}
	}
	from, _, _ = strings.Cut(strings.TrimSpace(from), " ")
	return from
}

// isDaemon reports whether addr is the mail system itself. The local part
// alone decides because daemons send from whatever host they run on.
func isDaemon(addr string) bool {
	local := addr
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		local = addr[:i]
	}
	local = strings.Trim(local, `"`)
	return strings.EqualFold(local, "mailer-daemon") || strings.EqualFold(local, "postmaster")
}

// token returns the first word of a structured header value, lower-cased:
// the keyword before parameters (";"), comments ("(") or other words.
func token(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, "; \t(,"); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(strings.Trim(v, `"`))
}

// isNo reports whether a flag header explicitly says it is not set; some
// mailers write X-Autoreply: no rather than leaving it out.
func isNo(t string) bool {
	return t == "no" || t == "false" || t == "0"
}

// maxValue bounds the header value quoted in a Reason: enough to recognise
// a list or a sender, short enough for a log line.
const maxValue = 100

// clean makes a header value fit for a one-line Reason: control characters
// become spaces, invalid UTF-8 becomes U+FFFD, long values are cut.
func clean(v string) string {
	v = strings.TrimSpace(v)
	var b strings.Builder
	for _, r := range v {
		if b.Len() >= maxValue {
			b.WriteString("…")
			break
		}
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029':
			b.WriteByte(' ')
		case r == utf8.RuneError:
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
