// Package api is mailbridge's client for the enneo ticketing API: storing
// a mail as a conversation of a ticket, opening tickets, and listing
// subchannels. DryRun stands in for it when no API is configured.
//
// Calls are made once: a failed call comes back as an *Error whose Class
// tells the caller (the durable queue) whether and how to try again.
package api

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-resty/resty/v2"
)

// Options configures a Client.
type Options struct {
	BaseURL string // e.g. https://demo.enneo.ai/api/mind
	Token   string // bearer token
	// Timeout bounds each call, answer included; 0 means no bound.
	Timeout time.Duration
	// UserAgent is the whole User-Agent value, e.g. mailbridge/1.4.0
	// (default mailbridge).
	UserAgent string
	// HTTPClient replaces the default client, e.g. in tests. Its
	// CheckRedirect is overwritten: redirects are not followed.
	HTTPClient *http.Client
	// Connections is how many requests may be under way at once (one per
	// delivery worker); that many idle connections are kept open so each
	// request reuses one. Go's default keeps two, so with more workers
	// most requests would pay a new TCP and TLS handshake. Ignored with
	// HTTPClient. Default 2.
	Connections int
	Ticket      TicketOptions
	// Observe, if set, is called after every API call with its operation
	// (e.g. "store conversation"), the HTTP status (0 when no answer came)
	// and how long it took; err is the call's error or nil. For metrics:
	// it runs on the caller's goroutine and must be quick.
	Observe func(op string, status int, took time.Duration, err error)
}

// TicketOptions shapes the call that opens a ticket (CreateTicket).
type TicketOptions struct {
	Path string // default /ticket
	// IDField is the dotted path of the new id in the answer, e.g. id or
	// ticket.id (default id).
	IDField string
	Process string // query parameter process; empty leaves it out
	// Fields lists the NewTicket facts sent, by API name: subchannelId from
	// fromName to cc subject body createdAt externalTicketId rawData.
	Fields []string
	// Static adds constant fields; a listed fact that is not empty wins
	// over a Static field of the same name.
	Static map[string]any
}

// Subchannel is one entry of GET /settings/subchannel. The answer's data
// is not kept: for a mailbox it holds the IMAP password.
type Subchannel struct {
	ID        int64  `json:"id"`
	Channel   string `json:"channel"`
	Name      string `json:"name"`
	IsDefault bool   `json:"isDefault"`
	Interface string `json:"interface"`
	Enabled   bool   `json:"enabled"`
}

// Operation names, as they appear in Error.Op.
const (
	opStoreConversation = "store conversation"
	opCreateTicket      = "create ticket"
	opListSubchannels   = "list subchannels"
	opListConversations = "list conversations"
)

// Answers larger than these are not read: maxAnswer for the 2xx answers
// we decode, maxErrorBody for error answers of which we keep a few lines.
const (
	maxAnswer    = 32 << 20
	maxErrorBody = 64 << 10
)

// Client calls the enneo API. It is safe for concurrent use.
type Client struct {
	rc *resty.Client
	// tokens holds the bearer token first, then the ones it replaced,
	// which are still redacted from errors of requests that carried them.
	tokens  atomic.Pointer[[]string]
	timeout time.Duration
	ticket  TicketOptions
	observe func(op string, status int, took time.Duration, err error)
}

// New returns a Client for o. It does not contact the API.
func New(o Options) *Client {
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: transport(o.Connections)}
	}
	ua := o.UserAgent
	if ua == "" {
		ua = "mailbridge"
	}
	if o.Ticket.Path == "" {
		o.Ticket.Path = "/ticket"
	}
	if o.Ticket.IDField == "" {
		o.Ticket.IDField = "id"
	}
	rc := resty.NewWithClient(hc).
		SetBaseURL(strings.TrimSuffix(o.BaseURL, "/")).
		SetHeader("User-Agent", ua).
		SetHeader("Accept", "application/json").
		// resty's own logger writes to stderr; whatever it might print
		// could carry request details, so it gets nothing.
		SetLogger(nopLogger{}).
		SetDisableWarn(true).
		// Answers are read here, with size limits, not by resty.
		SetDoNotParseResponse(true).
		// A followed redirect may turn the POST into a GET without body;
		// a 3xx error says what to fix.
		SetRedirectPolicy(resty.RedirectPolicyFunc(func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		})).
		SetPreRequestHook(attachStream)
	c := &Client{rc: rc, timeout: o.Timeout, ticket: o.Ticket, observe: o.Observe}
	c.tokens.Store(&[]string{o.Token})
	return c
}

// keptTokens is how many tokens, the current one included, are redacted
// from errors: a reload's request still under way carries the one before.
const keptTokens = 8

// SetToken replaces the bearer token for the requests that start from now
// on (a reloaded configuration).
func (c *Client) SetToken(token string) {
	old := *c.tokens.Load()
	if old[0] == token {
		return
	}
	ts := append([]string{token}, old[:min(len(old), keptTokens-1)]...)
	c.tokens.Store(&ts)
}

// writeBuffer is the size of a connection's write buffer.
const writeBuffer = 64 << 10

// transport is Go's default transport with room for conns idle
// connections to the API host, and a write buffer that holds a typical
// conversation: with the default 4 KB a 20 KB mail took six write
// syscalls, which cost more than the encoding on a virtualised host.
func transport(conns int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.WriteBufferSize = writeBuffer
	t.DialContext = bodyDialer(t.DialContext)
	if conns > t.MaxIdleConnsPerHost {
		t.MaxIdleConnsPerHost = conns
		t.MaxIdleConns = max(t.MaxIdleConns, conns)
	}
	return t
}

// bodyChunk is the size of the writes that send a streamed request body.
const bodyChunk = 256 << 10

var bodyChunks = sync.Pool{New: func() any { b := make([]byte, bodyChunk); return &b }}

// bodyConn is a connection to the API that sends a streamed request body
// in writes of bodyChunk. net/http hands the body to the connection's
// ReadFrom, which for TCP copies it in writes of 32 KiB; a conversation
// with a large mail is megabytes, and on loopback each write costs as
// much again as its bytes' copy. A TLS connection wraps this one and
// writes records of its own size.
type bodyConn struct{ net.Conn }

// bodyDialer makes the connections dial makes bodyConns.
func bodyDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return bodyConn{c}, nil
	}
}

func (c bodyConn) ReadFrom(r io.Reader) (int64, error) {
	bp := bodyChunks.Get().(*[]byte)
	defer bodyChunks.Put(bp)
	// net/http hands over the body as a LimitedReader of its length.
	if lr, ok := r.(*io.LimitedReader); ok {
		if pr, ok := lr.R.(*payloadReader); ok {
			n, err := pr.writeTo(c.Conn, lr.N, *bp)
			lr.N -= n
			return n, err
		}
	}
	return io.CopyBuffer(struct{ io.Writer }{c.Conn}, r, *bp)
}

// StoreConversation stores conv as a conversation of the ticket
// (POST /ticket/{id}/conversation/store). A body larger than a
// connection's write buffer is streamed: attachment content is
// base64-encoded on its way to the socket, never held as a whole. A 404
// answer is an Error of Class TicketNotFound.
func (c *Client) StoreConversation(ctx context.Context, ticketID int64, conv *Conversation) (*StoreResult, error) {
	// The size gives the request a Content-Length, so that proxies need not
	// buffer a chunked upload, and it catches an unencodable conversation
	// before anything is sent.
	body, err := newPayload(conv)
	if err != nil {
		return nil, &Error{Op: opStoreConversation, Class: Permanent, Err: err}
	}
	body.escapeShared()
	var s stream
	if body.least <= writeBuffer {
		// A body net/http knows to be in memory goes out with the headers
		// in one write: a streamed one is written after them.
		b := body.appendTo(make([]byte, 0, body.least+body.least/8))
		s.open = func() io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }
		s.length = int64(len(b))
	} else {
		// net/http may read the body after the call returned, from its
		// connection's writer; closed, the readers read no more of conv.
		g := new(guard)
		defer g.close()
		s.open = func() io.ReadCloser { return body.reader(g) }
		s.length = body.size()
	}
	a, err := c.do(ctx, call{
		op:       opStoreConversation,
		method:   http.MethodPost,
		path:     fmt.Sprintf("/ticket/%d/conversation/store", ticketID),
		stream:   &s,
		notFound: TicketNotFound,
	})
	if err != nil {
		return nil, err
	}
	res := &StoreResult{TraceID: a.traceID}
	if err := json.Unmarshal(a.body, res); err != nil {
		return nil, unexpectedAnswer(opStoreConversation, a.status, a.traceID, err)
	}
	return res, nil
}

// CreateTicket opens a ticket (POST {Ticket.Path}?process=...) and returns
// its id. With externalTicketId among the fields, the API updates rather
// than duplicates a ticket it already has, which makes retries safe.
func (c *Client) CreateTicket(ctx context.Context, t *NewTicket) (int64, error) {
	body, err := ticketBody(c.ticket, t)
	if err != nil {
		return 0, err
	}
	var query url.Values
	if p := cmp.Or(t.Process, c.ticket.Process); p != "" {
		query = url.Values{"process": {p}}
	}
	a, err := c.do(ctx, call{
		op:       opCreateTicket,
		method:   http.MethodPost,
		path:     c.ticket.Path,
		query:    query,
		body:     body,
		notFound: Permanent,
	})
	if err != nil {
		return 0, err
	}
	id, err := ticketID(a.body, c.ticket.IDField)
	if err != nil {
		return 0, unexpectedAnswer(opCreateTicket, a.status, a.traceID, err)
	}
	return id, nil
}

// Subchannels lists the subchannels (GET /settings/subchannel).
func (c *Client) Subchannels(ctx context.Context) ([]Subchannel, error) {
	a, err := c.do(ctx, call{
		op:       opListSubchannels,
		method:   http.MethodGet,
		path:     "/settings/subchannel",
		notFound: Permanent,
	})
	if err != nil {
		return nil, err
	}
	var doc struct {
		Subchannels []Subchannel `json:"subchannels"`
	}
	if err := json.Unmarshal(a.body, &doc); err != nil {
		return nil, unexpectedAnswer(opListSubchannels, a.status, a.traceID, err)
	}
	return doc.Subchannels, nil
}

// Ping asks the API one cheap question that needs the token (the
// subchannel list) and tells only whether it was answered: nil, or the
// call's Error (Class Auth for a refused token).
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.Subchannels(ctx)
	return err
}

// FindConversation looks for the conversation stored on ticketID with
// externalConversationId externalID (GET /ticket/{ticketId}/conversation).
// It lets a retry after a lost answer find out whether the lost attempt
// stored the conversation, instead of posting it a second time. found is
// false when the ticket has no such conversation.
//
// An API without the listing answers an Error that wraps
// ErrNoConversationList (see listingMissing); a 404 that names the ticket
// is Class TicketNotFound.
func (c *Client) FindConversation(ctx context.Context, ticketID int64, externalID string) (res *StoreResult, found bool, err error) {
	a, err := c.listConversations(ctx, ticketID)
	if err != nil {
		return nil, false, err
	}
	var doc struct {
		Conversations []struct {
			ID                     int64   `json:"id"`
			TicketID               int64   `json:"ticketId"`
			ExternalConversationID *string `json:"externalConversationId"`
		} `json:"conversations"`
	}
	if err := json.Unmarshal(a.body, &doc); err != nil {
		return nil, false, unexpectedAnswer(opListConversations, a.status, a.traceID, err)
	}
	for _, conv := range doc.Conversations {
		if conv.ExternalConversationID != nil && *conv.ExternalConversationID == externalID {
			return &StoreResult{Success: true, ConversationID: conv.ID, TicketID: ticketID, TraceID: a.traceID}, true, nil
		}
	}
	return nil, false, nil
}

// ErrNoConversationList is wrapped by the Error of a conversation listing
// that the API does not offer: without it, whether an attempt that failed
// uncertainly stored its conversation cannot be checked.
var ErrNoConversationList = errors.New("the API does not offer GET /ticket/{id}/conversation")

func (c *Client) listConversations(ctx context.Context, ticketID int64) (*answer, error) {
	a, err := c.do(ctx, call{
		op:       opListConversations,
		method:   http.MethodGet,
		path:     "/ticket/" + strconv.FormatInt(ticketID, 10) + "/conversation",
		notFound: TicketNotFound,
	})
	if e, ok := errors.AsType[*Error](err); ok && listingMissing(e) {
		e.Class, e.Err = Permanent, ErrNoConversationList
	}
	return a, err
}

// listingMissing reports whether e is the answer of a server that has no
// conversation listing rather than no such ticket. The contract answers an
// unknown ticket 404 "Ticket not found"; a path the server does not route
// gets a 404 that names no ticket (a framework's "Not Found", a proxy's
// HTML page), or 405/501.
func listingMissing(e *Error) bool {
	switch e.Status {
	case http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return true
	case http.StatusNotFound:
		return !strings.Contains(strings.ToLower(e.Message), "ticket")
	}
	return false
}

// ProbeConversationList asks whether the API offers the conversation
// listing that FindConversation uses, without needing a ticket: it lists
// ticket 0, which does not exist. nil means it does (the answer came from
// the listing: a list, or a 4xx about the ticket); an Error wrapping
// ErrNoConversationList means it does not; any other error means the
// question could not be answered (network, token).
func (c *Client) ProbeConversationList(ctx context.Context) error {
	_, err := c.listConversations(ctx, 0)
	switch Classify(err) {
	case TicketNotFound:
		return nil
	case Permanent:
		if errors.Is(err, ErrNoConversationList) {
			return err
		}
		// 400 or 422: the listing refused the id, so it is there.
		if e, ok := errors.AsType[*Error](err); ok && e.Status >= 400 && e.Status < 500 {
			return nil
		}
	}
	return err
}

// call is one request to the API.
type call struct {
	op       string
	method   string
	path     string
	query    url.Values
	body     []byte  // a small body, or
	stream   *stream // a streamed one
	notFound Class   // the Class of a 404 answer
}

// answer is a 2xx answer.
type answer struct {
	status  int
	body    []byte
	traceID string
}

func (c *Client) do(ctx context.Context, k call) (a *answer, err error) {
	if c.observe != nil {
		start := time.Now()
		defer func() { c.observe(k.op, answerStatus(a, err), time.Since(start), err) }()
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	traceID, traceparent := newTrace()
	// Whether the whole request went out decides if a failure is
	// uncertain; net/http reports it through httptrace.
	var sent atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) { sent.Store(i.Err == nil) },
	})
	req := c.rc.R().SetHeader("traceparent", traceparent)
	if t := (*c.tokens.Load())[0]; t != "" {
		req.SetAuthToken(t)
	}
	if k.query != nil {
		req.SetQueryParamsFromValues(k.query)
	}
	switch {
	case k.stream != nil:
		ctx = context.WithValue(ctx, streamKey{}, k.stream)
		req.SetHeader("Content-Type", "application/json")
	case k.body != nil:
		req.SetHeader("Content-Type", "application/json").SetBody(k.body)
	}
	resp, err := req.SetContext(ctx).Execute(k.method, k.path)
	if err != nil {
		return nil, &Error{
			Op:         k.op,
			TraceID:    traceID,
			Class:      Retryable,
			Unanswered: sent.Load(),
			Err:        c.scrub(err),
		}
	}
	raw := resp.RawBody()
	defer raw.Close()
	status := resp.StatusCode()
	if status/100 != 2 {
		// A broken error answer still has its status to go by.
		body, _ := io.ReadAll(io.LimitReader(raw, maxErrorBody))
		e := answerError(k.op, status, resp.Header(), body, k.notFound, c.redact)
		e.TraceID = traceID
		return nil, e
	}
	body, err := io.ReadAll(io.LimitReader(raw, maxAnswer+1))
	if err != nil {
		return nil, &Error{
			Op:         k.op,
			Status:     status,
			Message:    "answer cut off",
			TraceID:    traceID,
			Class:      Retryable,
			Unanswered: true,
			Err:        c.scrub(err),
		}
	}
	if len(body) > maxAnswer {
		return nil, unexpectedAnswer(k.op, status, traceID, fmt.Errorf("answer larger than %d bytes", maxAnswer))
	}
	return &answer{status: status, body: body, traceID: traceID}, nil
}

// answerStatus is the HTTP status of a call's answer, 0 when none came.
func answerStatus(a *answer, err error) int {
	if a != nil {
		return a.status
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Status
	}
	return 0
}

// scrub makes a transport error safe to print. *url.Error repeats the
// URL, which may hold a secret when the base URL is misconfigured, so only
// its cause is kept; any text that still contains the token is replaced.
func (c *Client) scrub(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	if r := c.redact(err.Error()); r != err.Error() {
		return errors.New(r)
	}
	return err
}

func (c *Client) redact(s string) string {
	for _, t := range *c.tokens.Load() {
		if t != "" {
			s = strings.ReplaceAll(s, t, "[redacted]")
		}
	}
	return s
}

// stream is a request body of known length, read afresh for each try.
type stream struct {
	open   func() io.ReadCloser
	length int64
}

type streamKey struct{}

// attachStream gives a request its streamed body, if it has one. resty v2
// reads an io.Reader body fully into memory to make it replayable, so the
// stream is swapped in here, after resty built the http.Request and just
// before it is sent. With GetBody, net/http can send the request again on
// a new connection when a kept-alive one was closed before it was written.
func attachStream(_ *resty.Client, r *http.Request) error {
	if s, ok := r.Context().Value(streamKey{}).(*stream); ok {
		r.Body, r.ContentLength = s.open(), s.length
		r.GetBody = func() (io.ReadCloser, error) { return s.open(), nil }
	}
	return nil
}

// newTrace returns a random W3C trace id and the traceparent header that
// carries it (sampled, with a random parent span id).
func newTrace() (traceID, traceparent string) {
	var b [24]byte
	rand.Read(b[:])
	traceID = hex.EncodeToString(b[:16])
	return traceID, "00-" + traceID + "-" + hex.EncodeToString(b[16:]) + "-01"
}

type nopLogger struct{}

func (nopLogger) Errorf(string, ...any) {}
func (nopLogger) Warnf(string, ...any)  {}
func (nopLogger) Debugf(string, ...any) {}
