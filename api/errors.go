package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Class says what a failed call means for the message being delivered.
type Class int

const (
	// Retryable: try again later (429, 5xx, network trouble, timeouts).
	// It is the zero Class so that an unclassified failure never drops mail.
	Retryable Class = iota
	// Permanent: the request itself is at fault (400, 422, most other 4xx);
	// sending it again gets the same answer.
	Permanent
	// Auth: the token was refused (401, 403). The message is fine: retry
	// slowly and alert, never drop it.
	Auth
	// TicketNotFound: the ticket a conversation was stored to does not
	// exist (404), e.g. it was deleted or merged.
	TicketNotFound
)

func (c Class) String() string {
	switch c {
	case Retryable:
		return "retryable"
	case Permanent:
		return "permanent"
	case Auth:
		return "auth"
	case TicketNotFound:
		return "ticket-not-found"
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Classify returns the Class of an error returned by this package. Any
// other error (context cancelled, a disk error in dry run) is Retryable.
func Classify(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return Retryable
}

// Error is a failed API call. Its text never holds the API token.
//
// A 2xx Status with Class Permanent means the server accepted the call but
// its answer could not be used (e.g. no ticket id in it).
type Error struct {
	Op      string // "store conversation", "create ticket", "list subchannels"
	Status  int    // HTTP status; 0 when no answer came back
	Message string // the answer's "error" text, or the start of a non-JSON answer
	Details string // the answer's "details", meant for developers
	TxID    string // the answer's "txId", enneo's own trace id
	TraceID string // the W3C trace id mailbridge sent (traceparent)
	// RetryAfter is the wait the server asked for (Retry-After), 0 if none.
	RetryAfter time.Duration
	Class      Class
	// Unanswered is set when the whole request was written but no complete
	// answer came back; see Uncertain.
	Unanswered bool
	Err        error // the cause, if any: network, context, decoding
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("api: ")
	b.WriteString(e.Op)
	if e.Status != 0 {
		b.WriteString(": ")
		b.WriteString(strings.TrimSpace(strconv.Itoa(e.Status) + " " + http.StatusText(e.Status)))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.TxID != "" {
		b.WriteString(" (txId ")
		b.WriteString(e.TxID)
		b.WriteString(")")
	}
	if e.Unanswered {
		b.WriteString(" (request sent, outcome unknown)")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Uncertain reports whether the server may have acted on the request
// although the call failed: the whole request went out, then the time ran
// out or the connection broke; or the server answered 5xx, which it may do
// after its write (enneo runs the AI step of process=realtime after
// storing, before answering; a proxy's 502 or 504 says nothing about the
// server behind it). Sending it again may store the conversation twice. A
// failure before the request was fully written is not uncertain, nor is
// any other answer: a 4xx or a 429 refuses the request before acting.
func (e *Error) Uncertain() bool { return e.Unanswered || e.Status >= 500 }

// Limits on what an answer may put into an Error, so that an HTML error
// page or a stack trace does not flood every log line of every retry.
const (
	maxMessage = 512
	maxDetails = 2048
)

// answerError builds the Error for a non-2xx answer. redact is applied
// before anything is clipped so that a cut cannot leave part of a secret.
func answerError(op string, status int, h http.Header, body []byte, notFound Class, redact func(string) string) *Error {
	e := &Error{
		Op:         op,
		Status:     status,
		Class:      classOf(status, notFound),
		RetryAfter: retryAfter(h.Get("Retry-After"), time.Now()),
	}
	var doc map[string]json.RawMessage
	switch {
	case status/100 == 3:
		e.Message = "redirected to " + redact(h.Get("Location")) + "; check the API base URL"
	case json.Unmarshal(body, &doc) == nil:
		e.Message = clip(redact(text(doc["error"])), maxMessage)
		if e.Message == "" {
			e.Message = clip(redact(text(doc["message"])), maxMessage)
		}
		e.Details = clip(redact(text(doc["details"])), maxDetails)
		e.TxID = clip(redact(text(doc["txId"])), maxMessage)
	default:
		e.Message = clip(strings.Join(strings.Fields(redact(string(body))), " "), maxMessage)
	}
	return e
}

func classOf(status int, notFound Class) Class {
	switch {
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return Auth
	case status == http.StatusNotFound:
		return notFound
	// 408 is the server giving up on reading our request: worth another try.
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return Retryable
	}
	return Permanent
}

// maxRetryAfter bounds Retry-After so that a broken header cannot park a
// message for years.
const maxRetryAfter = 24 * time.Hour

// retryAfter parses Retry-After: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// text renders a field of an error answer: strings as they are, anything
// else (details may be an object) as its JSON.
func text(raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	if string(raw) == "null" {
		return ""
	}
	return string(raw)
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// unexpectedAnswer is the Error for a 2xx answer that could not be used.
func unexpectedAnswer(op string, status int, traceID string, err error) *Error {
	if truncated(err) {
		// An answer cut off on its way (a server that went down while
		// writing it), not a wrong one: worth another attempt, which for
		// a write is uncertain.
		return &Error{Op: op, Status: status, Message: "answer cut off", TraceID: traceID,
			Class: Retryable, Unanswered: true, Err: err}
	}
	return &Error{
		Op:      op,
		Status:  status,
		Message: "unexpected answer",
		TraceID: traceID,
		Class:   Permanent,
		Err:     err,
	}
}

// truncated reports whether err is the decoding error of an answer that
// ended early: empty, or JSON that stops mid-value.
func truncated(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	se, ok := errors.AsType[*json.SyntaxError](err)
	return ok && strings.HasPrefix(se.Error(), "unexpected end of JSON input")
}
