package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testenv"
)

// gateway is what the delivery side needs; Client and DryRun must both
// provide it.
type gateway interface {
	StoreConversation(context.Context, int64, *Conversation) (*StoreResult, error)
	CreateTicket(context.Context, *NewTicket) (int64, error)
	Subchannels(context.Context) ([]Subchannel, error)
}

var (
	_ gateway = (*Client)(nil)
	_ gateway = DryRun{}
)

var (
	traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-[0-9a-f]{16}-01$`)
	traceIDRE     = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// newTestClient returns a Client for a test server running h.
func newTestClient(t *testing.T, h http.HandlerFunc, opts ...func(*Options)) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	o := Options{
		BaseURL:    srv.URL + "/api/mind/",
		Token:      token,
		Timeout:    5 * time.Second,
		UserAgent:  "mailbridge/1.2.3",
		HTTPClient: srv.Client(),
	}
	for _, f := range opts {
		f(&o)
	}
	return New(o)
}

func testConversation() *Conversation {
	return &Conversation{
		Process:                "batch",
		Direction:              "in",
		From:                   "john@smith.com",
		FromName:               "John Smith",
		To:                     []string{"support@example.com"},
		CCEmails:               []string{"Jane Doe <jane@example.com>"},
		Subject:                "Zählerstand",
		Body:                   "<p>Hello</p>",
		BodyPlain:              "Hello",
		BodyClean:              "Hello",
		SubchannelID:           4,
		CreatedAt:              "2024-03-01 00:00:00",
		ExternalConversationID: "<CAFoo+bar@mail.example.com>",
		Type:                   "html",
		RawData:                map[string]any{"messageId": "<CAFoo+bar@mail.example.com>"},
		Attachments: []Attachment{{
			Name:        "meter.png",
			ContentType: "image/png",
			Content:     []byte{0x89, 'P', 'N', 'G', 0, 1, 2, 0xfe, 0xff},
		}},
	}
}

// bigContent is a 20 MB attachment.
var bigContent = sync.OnceValue(func() []byte {
	return bytes.Repeat([]byte("0123456789abcdef\x00\xff\x10\x80"), 1<<20)
})

func bigConversation() *Conversation {
	conv := testConversation()
	conv.Attachments = []Attachment{{Name: "scan.pdf", ContentType: "application/pdf", Content: bigContent()}}
	return conv
}

type captured struct {
	method, path, query string
	header              http.Header
	length              int64
	body                []byte
}

// capture returns a handler that hands each request to the returned
// channel (which orders it before the test's reads) and then answers.
func capture(status int, answer string) (http.HandlerFunc, <-chan captured) {
	ch := make(chan captured, 4)
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ch <- captured{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), r.ContentLength, body}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}, ch
}

func checkHeaders(t *testing.T, h http.Header) (traceID string) {
	t.Helper()
	for name, want := range map[string]string{
		"Authorization": "Bearer " + token,
		"User-Agent":    "mailbridge/1.2.3",
		"Accept":        "application/json",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	m := traceparentRE.FindStringSubmatch(h.Get("traceparent"))
	if m == nil {
		t.Fatalf("traceparent = %q, not 00-<32 hex>-<16 hex>-01", h.Get("traceparent"))
	}
	return m[1]
}

func TestStoreConversation(t *testing.T) {
	h, reqs := capture(http.StatusCreated, `{"success":true,"conversationId":1234,"ticketId":42,"eventId":987,
		"conversation":{"id":1234,"ticketId":42,"direction":"in","attachments":[{"id":103013960646,"name":"meter.png"}]}}`)
	c := newTestClient(t, h)
	conv := testConversation()
	var want bytes.Buffer
	if err := conv.WriteJSON(&want); err != nil {
		t.Fatal(err)
	}

	res, err := c.StoreConversation(testContext(t), 42, conv)
	if err != nil {
		t.Fatal(err)
	}
	r := <-reqs
	if r.method != http.MethodPost || r.path != "/api/mind/ticket/42/conversation/store" {
		t.Errorf("request = %s %s", r.method, r.path)
	}
	traceID := checkHeaders(t, r.header)
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if r.length != int64(want.Len()) {
		t.Errorf("Content-Length = %d, want %d", r.length, want.Len())
	}
	if !bytes.Equal(r.body, want.Bytes()) {
		t.Errorf("body differs from WriteJSON:\n got %s\nwant %s", r.body, want.Bytes())
	}
	var doc struct {
		Subject     string `json:"subject"`
		Attachments []struct {
			Name   string `json:"name"`
			Base64 string `json:"base64"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if doc.Subject != conv.Subject || len(doc.Attachments) != 1 || doc.Attachments[0].Name != "meter.png" {
		t.Errorf("decoded body = %+v", doc)
	}
	if b, err := base64.StdEncoding.DecodeString(doc.Attachments[0].Base64); err != nil || !bytes.Equal(b, conv.Attachments[0].Content) {
		t.Errorf("attachment decodes to %x (%v), want %x", b, err, conv.Attachments[0].Content)
	}

	wantRes := StoreResult{Success: true, ConversationID: 1234, TicketID: 42, EventID: 987, TraceID: traceID}
	if *res != wantRes {
		t.Errorf("result = %+v, want %+v", *res, wantRes)
	}

	// Every call has its own trace.
	res2, err := c.StoreConversation(testContext(t), 42, conv)
	if err != nil {
		t.Fatal(err)
	}
	<-reqs
	if res2.TraceID == res.TraceID {
		t.Errorf("two calls share the trace id %s", res.TraceID)
	}
}

func TestStoreConversationErrors(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name    string
		status  int
		header  map[string]string
		body    string // $AUTH is replaced by the request's Authorization
		class   Class
		message string
		details string
		txID    string
		// retry after, at least and at most
		retryMin, retryMax time.Duration
		text               string // the whole Error(), if given
	}{
		{
			name: "bad request", status: 400,
			body:  `{"error":"Invalid input","details":"subchannelId 99 is not in channel email","txId":"a1b2c3"}`,
			class: Permanent, message: "Invalid input", details: "subchannelId 99 is not in channel email", txID: "a1b2c3",
			text: "api: store conversation: 400 Bad Request: Invalid input (txId a1b2c3)",
		},
		{
			name: "unprocessable, details as object", status: 422,
			body:  `{"error":"Validation failed","details":{"to":["required"]},"txId":123}`,
			class: Permanent, message: "Validation failed", details: `{"to":["required"]}`, txID: "123",
		},
		{name: "conflict", status: 409, body: `{"error":"Conflict"}`, class: Permanent, message: "Conflict"},
		{name: "payload too large", status: 413, body: "", class: Permanent},
		{name: "unauthorized", status: 401, body: `{"error":"Not logged in"}`, class: Auth, message: "Not logged in"},
		{name: "forbidden", status: 403, body: `{"error":"Unauthorized","txId":"f00"}`, class: Auth, message: "Unauthorized", txID: "f00"},
		{name: "ticket not found", status: 404, body: `{"error":"Ticket 42 not found"}`, class: TicketNotFound, message: "Ticket 42 not found"},
		{name: "laravel style message", status: 404, body: `{"message":"Not Found"}`, class: TicketNotFound, message: "Not Found"},
		{name: "request timeout", status: 408, body: "", class: Retryable},
		{
			name: "too many requests, seconds", status: 429, header: map[string]string{"Retry-After": "7"},
			body: `{"error":"Slow down"}`, class: Retryable, message: "Slow down", retryMin: 7 * time.Second, retryMax: 7 * time.Second,
		},
		{
			name: "too many requests, date", status: 429, header: map[string]string{"Retry-After": date},
			body: "", class: Retryable, retryMin: 85 * time.Second, retryMax: 90 * time.Second,
		},
		{
			name: "internal error", status: 500,
			body:  `{"error":"Contract 121 could not be processed","details":"Uncatched null point exception in testFunction() in /app/src/file:212","txId":"c916167c94"}`,
			class: Retryable, message: "Contract 121 could not be processed",
			details: "Uncatched null point exception in testFunction() in /app/src/file:212", txID: "c916167c94",
			text: "api: store conversation: 500 Internal Server Error: Contract 121 could not be processed (txId c916167c94)",
		},
		{
			name: "bad gateway, html", status: 502, header: map[string]string{"Content-Type": "text/html"},
			body:  "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
			class: Retryable, message: "<html> <head><title>502 Bad Gateway</title></head> <body> <center><h1>502 Bad Gateway</h1></center> </body> </html>",
		},
		{
			name: "unavailable, text", status: 503, header: map[string]string{"Content-Type": "text/plain", "Retry-After": "2"},
			body: "upstream connect error", class: Retryable, message: "upstream connect error", retryMin: 2 * time.Second, retryMax: 2 * time.Second,
			text: "api: store conversation: 503 Service Unavailable: upstream connect error",
		},
		{name: "unknown 5xx status", status: 599, body: "", class: Retryable, text: "api: store conversation: 599"},
		{
			name: "redirect", status: 302, header: map[string]string{"Location": "https://demo.enneo.ai/api/mind/ticket/42/conversation/store"},
			class: Permanent, message: "redirected to https://demo.enneo.ai/api/mind/ticket/42/conversation/store; check the API base URL",
		},
		{
			name: "token echoed in JSON", status: 400,
			body:  `{"error":"bad header $AUTH","details":"got $AUTH","txId":"e1"}`,
			class: Permanent, message: "bad header Bearer [redacted]", details: "got Bearer [redacted]", txID: "e1",
		},
		{
			// The token straddles the point where the message is clipped.
			name: "token echoed in long text", status: 500, header: map[string]string{"Content-Type": "text/plain"},
			body: strings.Repeat("x", 500) + " $AUTH", class: Retryable,
			message: strings.Repeat("x", 500) + " Bearer [red…",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, strings.ReplaceAll(tt.body, "$AUTH", r.Header.Get("Authorization")))
			})
			res, err := c.StoreConversation(testContext(t), 42, testConversation())
			if res != nil {
				t.Errorf("got a result with the error: %+v", res)
			}
			e := apiError(t, err)
			if e.Status != tt.status || e.Class != tt.class || Classify(err) != tt.class {
				t.Errorf("status %d class %v (Classify %v), want %d %v", e.Status, e.Class, Classify(err), tt.status, tt.class)
			}
			if e.Message != tt.message || e.Details != tt.details || e.TxID != tt.txID {
				t.Errorf("message %q details %q txId %q\nwant    %q details %q txId %q", e.Message, e.Details, e.TxID, tt.message, tt.details, tt.txID)
			}
			if e.RetryAfter < tt.retryMin || e.RetryAfter > tt.retryMax {
				t.Errorf("RetryAfter = %v, want %v..%v", e.RetryAfter, tt.retryMin, tt.retryMax)
			}
			if e.Op != "store conversation" || !traceIDRE.MatchString(e.TraceID) {
				t.Errorf("op %q trace id %q", e.Op, e.TraceID)
			}
			if e.Uncertain() != (tt.status >= 500) {
				t.Errorf("uncertain %v, want %v: only a 5xx may follow a write", e.Uncertain(), tt.status >= 500)
			}
			if tt.text != "" && err.Error() != tt.text {
				t.Errorf("Error() = %q\n     want %q", err.Error(), tt.text)
			}
		})
	}
}

func TestStoreConversationTimeout(t *testing.T) {
	release := make(chan struct{})
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}, func(o *Options) { o.Timeout = 200 * time.Millisecond })
	t.Cleanup(func() { close(release) })

	start := time.Now()
	_, err := c.StoreConversation(testContext(t), 42, testConversation())
	e := apiError(t, err)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the call took %v with a 200ms timeout", took)
	}
	if e.Class != Retryable || !e.Uncertain() || e.Status != 0 {
		t.Errorf("class %v uncertain %v status %d, want retryable, uncertain, no status", e.Class, e.Uncertain(), e.Status)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v is not a deadline", err)
	}
	if !strings.Contains(err.Error(), "outcome unknown") {
		t.Errorf("error %q does not say the outcome is unknown", err)
	}
}

// A timeout while the request is still being sent is not uncertain: the
// server cannot have acted on half a request. And the goroutine encoding
// the body, blocked at that point, ends with the call.
func TestStoreConversationTimeoutWhileSending(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}, func(o *Options) {
		o.Timeout = 200 * time.Millisecond
		o.HTTPClient = &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &stallConn{Conn: conn, left: 256, closed: make(chan struct{})}, nil
			},
		}}
	})

	// Bigger than what the transport buffers, so the encoder is stuck too.
	conv := testConversation()
	conv.Attachments[0].Content = bigContent()[:1<<20]

	_, err := c.StoreConversation(testContext(t), 42, conv)
	e := apiError(t, err)
	if e.Class != Retryable || e.Uncertain() || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("class %v uncertain %v, want retryable, not uncertain, deadline (%v)", e.Class, e.Uncertain(), err)
	}
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "(*Conversation).WriteJSON") {
		t.Errorf("the body encoder still runs after the call returned:\n%s", stacks)
	}
}

// stallConn passes the first left bytes written and then blocks until it
// is closed, like the upload to a server that stopped reading.
type stallConn struct {
	net.Conn
	left   int
	once   sync.Once
	closed chan struct{}
}

func (c *stallConn) Write(p []byte) (int, error) {
	if len(p) <= c.left {
		c.left -= len(p)
		return c.Conn.Write(p)
	}
	n, err := c.Conn.Write(p[:c.left])
	c.left = 0
	if err != nil {
		return n, err
	}
	<-c.closed
	return n, net.ErrClosed
}

func (c *stallConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// hijacker answers like a server that breaks down while answering: it
// reads the whole request, writes partial (possibly empty), and drops
// the connection, with a reset when rst is set.
func hijacker(t *testing.T, partial string, rst bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		io.WriteString(conn, partial)
		if rst {
			conn.(*net.TCPConn).SetLinger(0)
		}
	}
}

func TestStoreConversationBrokenAnswer(t *testing.T) {
	tests := []struct {
		name    string
		partial string
		rst     bool
		status  int
	}{
		{name: "reset before answering", rst: true},
		{name: "closed before answering"},
		{name: "half a status line", partial: "HTTP/1.1 20", rst: true},
		{name: "half the headers", partial: "HTTP/1.1 201 Created\r\nContent-Type: applic"},
		{
			name:    "half the body",
			partial: "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"success\":true,\"conver",
			rst:     true, status: 201,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, hijacker(t, tt.partial, tt.rst))
			res, err := c.StoreConversation(testContext(t), 42, testConversation())
			if res != nil {
				t.Errorf("got a result: %+v", res)
			}
			e := apiError(t, err)
			if e.Class != Retryable || !e.Uncertain() || e.Status != tt.status {
				t.Errorf("class %v uncertain %v status %d, want retryable, uncertain, status %d (%v)",
					e.Class, e.Uncertain(), e.Status, tt.status, err)
			}
			if !traceIDRE.MatchString(e.TraceID) {
				t.Errorf("trace id %q", e.TraceID)
			}
		})
	}
}

func TestStoreConversationConnectionRefused(t *testing.T) {
	addr := testenv.FreeAddr(t)
	// The token in the base URL stands for a misconfiguration; the
	// URL must not reach the error.
	c := New(Options{BaseURL: "http://" + addr + "/api/mind/" + token, Token: token, Timeout: 2 * time.Second})

	_, err := c.StoreConversation(testContext(t), 42, testConversation())
	e := apiError(t, err)
	if e.Class != Retryable || e.Uncertain() || e.Status != 0 {
		t.Errorf("class %v uncertain %v status %d, want retryable, not uncertain, no status", e.Class, e.Uncertain(), e.Status)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("error %v is not ECONNREFUSED", err)
	}
}

func TestStoreConversationUnencodable(t *testing.T) {
	c := newTestClient(t, func(http.ResponseWriter, *http.Request) { t.Error("the server was called") })
	conv := testConversation()
	conv.RawData = map[string]any{"f": func() {}}
	_, err := c.StoreConversation(testContext(t), 42, conv)
	if e := apiError(t, err); e.Class != Permanent || e.Status != 0 {
		t.Errorf("class %v status %d, want permanent before sending", e.Class, e.Status)
	}
}

func TestStoreConversationUnexpectedAnswer(t *testing.T) {
	h, reqs := capture(http.StatusCreated, `<html>created</html>`)
	c := newTestClient(t, h)
	_, err := c.StoreConversation(testContext(t), 42, testConversation())
	<-reqs
	if e := apiError(t, err); e.Class != Permanent || e.Status != 201 || e.Uncertain() {
		t.Errorf("class %v status %d uncertain %v, want permanent 201", e.Class, e.Status, e.Uncertain())
	}
}

// A 20 MB attachment goes through without the body being held in memory.
func TestStoreConversationStreamsLargeAttachment(t *testing.T) {
	conv := bigConversation()
	want := sha256.New()
	var wantLen byteCount
	if err := conv.WriteJSON(io.MultiWriter(want, &wantLen)); err != nil {
		t.Fatal(err)
	}
	type seen struct {
		n, length int64
		sum       []byte
	}
	seenc := make(chan seen, 1)
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		seenc <- seen{n, r.ContentLength, h.Sum(nil)}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"success":true,"conversationId":1,"ticketId":42,"eventId":2}`)
	}, func(o *Options) {
		// 27 MB base64-encoded and hashed under the race detector, beside
		// the other packages' tests, took 8 s in CI: this test is about
		// memory, not speed.
		o.Timeout = time.Minute
	})

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	res, err := c.StoreConversation(ctx, 42, conv)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	s := <-seenc
	if s.n != int64(wantLen) || s.length != int64(wantLen) || !bytes.Equal(s.sum, want.Sum(nil)) {
		t.Errorf("server read %d bytes (Content-Length %d), want %d; same content: %v",
			s.n, s.length, wantLen, bytes.Equal(s.sum, want.Sum(nil)))
	}
	if res.ConversationID != 1 {
		t.Errorf("result %+v", res)
	}
	// Buffering the body anywhere would allocate its 27 MB at least.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("the call allocated %d MB for a %d MB body", alloc>>20, wantLen>>20)
	}
}

func TestCreateTicket(t *testing.T) {
	nt := &NewTicket{
		SubchannelID:     4,
		From:             "john@smith.com",
		FromName:         "John Smith",
		To:               []string{"support@example.com"},
		Subject:          "Meter reading",
		Body:             "<p>Hello</p>",
		CreatedAt:        "2024-03-01 00:00:00",
		ExternalTicketID: "<CAFoo@mail.example.com>",
		RawData:          map[string]any{"source": "imap"},
	}
	tests := []struct {
		name      string
		opts      TicketOptions
		answer    string
		wantPath  string
		wantQuery string
		wantBody  string
		wantID    int64
	}{
		{
			name: "defaults and number id",
			opts: TicketOptions{
				Process: "batch",
				Fields:  []string{"subchannelId", "from", "fromName", "to", "cc", "subject", "createdAt", "externalTicketId"},
				Static:  map[string]any{"channel": "email"},
			},
			answer:    `{"id":376189,"subchannelId":4,"channel":"email","status":"open"}`,
			wantPath:  "/api/mind/ticket",
			wantQuery: "process=batch",
			// cc is empty, so it is left out.
			wantBody: `{"channel":"email","subchannelId":4,"from":"john@smith.com","fromName":"John Smith",
				"to":["support@example.com"],"subject":"Meter reading","createdAt":"2024-03-01 00:00:00",
				"externalTicketId":"<CAFoo@mail.example.com>"}`,
			wantID: 376189,
		},
		{
			name: "nested string id, static overridden by facts",
			opts: TicketOptions{
				Path:    "/v2/tickets",
				IDField: "data.ticket.id",
				Fields:  []string{"subject", "body", "rawData"},
				Static:  map[string]any{"channel": "email", "subchannelId": 9, "subject": "replaced", "tags": []int{3}},
			},
			answer:   `{"data":{"ticket":{"id":"376190"}}}`,
			wantPath: "/api/mind/v2/tickets",
			wantBody: `{"channel":"email","subchannelId":9,"subject":"Meter reading","body":"<p>Hello</p>",
				"rawData":{"source":"imap"},"tags":[3]}`,
			wantID: 376190,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, reqs := capture(http.StatusCreated, tt.answer)
			c := newTestClient(t, h, func(o *Options) { o.Ticket = tt.opts })
			id, err := c.CreateTicket(testContext(t), nt)
			if err != nil {
				t.Fatal(err)
			}
			if id != tt.wantID {
				t.Errorf("id = %d, want %d", id, tt.wantID)
			}
			r := <-reqs
			if r.method != http.MethodPost || r.path != tt.wantPath || r.query != tt.wantQuery {
				t.Errorf("request %s %s?%s, want POST %s?%s", r.method, r.path, r.query, tt.wantPath, tt.wantQuery)
			}
			checkHeaders(t, r.header)
			if r.header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q", r.header.Get("Content-Type"))
			}
			if !jsonEqual(t, r.body, []byte(tt.wantBody)) {
				t.Errorf("body %s\nwant %s", r.body, tt.wantBody)
			}
		})
	}
}

// A ticket's own process (archive mail: "false") is sent instead of the
// configured one.
func TestCreateTicketProcessOverride(t *testing.T) {
	h, reqs := capture(http.StatusCreated, `{"id":7}`)
	c := newTestClient(t, h, func(o *Options) { o.Ticket = TicketOptions{Process: "batch", Fields: []string{"subject"}} })
	if _, err := c.CreateTicket(testContext(t), &NewTicket{Subject: "old", Process: "false"}); err != nil {
		t.Fatal(err)
	}
	if r := <-reqs; r.query != "process=false" {
		t.Errorf("query %q, want process=false", r.query)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func TestCreateTicketNoID(t *testing.T) {
	for _, answer := range []string{
		`{"success":true}`,
		`{"id":0}`,
		`{"id":-5}`,
		`{"id":"abc"}`,
		`{"id":12.5}`,
		`{"id":null}`,
		`{"id":{"value":1}}`,
		`[376189]`,
		`not json`,
	} {
		h, reqs := capture(http.StatusOK, answer)
		c := newTestClient(t, h, func(o *Options) { o.Ticket.Fields = []string{"subject"} })
		id, err := c.CreateTicket(testContext(t), &NewTicket{Subject: "s"})
		<-reqs
		e := apiError(t, err)
		if id != 0 || e.Class != Permanent || e.Status != 200 || e.Op != "create ticket" {
			t.Errorf("answer %s: id %d class %v status %d op %q", answer, id, e.Class, e.Status, e.Op)
		}
	}
}

// An answer cut off on its way (a server going down mid-answer) is no
// wrong answer: it is retried, as an uncertain attempt.
func TestCutOffAnswerIsRetried(t *testing.T) {
	for _, answer := range []string{``, `{"id":37`, `{"success":true,"conversationId":`} {
		h, reqs := capture(http.StatusOK, answer)
		c := newTestClient(t, h, func(o *Options) { o.Ticket.Fields = []string{"subject"} })
		_, err := c.CreateTicket(testContext(t), &NewTicket{Subject: "s"})
		<-reqs
		if e := apiError(t, err); e.Class != Retryable || !e.Uncertain() || e.Status != 200 {
			t.Errorf("create ticket answered %q: class %v uncertain %v status %d; want retryable, uncertain, 200",
				answer, e.Class, e.Uncertain(), e.Status)
		}
		h, reqs = capture(http.StatusCreated, answer)
		c = newTestClient(t, h)
		_, err = c.StoreConversation(testContext(t), 42, testConversation())
		<-reqs
		if e := apiError(t, err); e.Class != Retryable || !e.Uncertain() || e.Status != 201 {
			t.Errorf("store answered %q: class %v uncertain %v status %d; want retryable, uncertain, 201",
				answer, e.Class, e.Uncertain(), e.Status)
		}
	}
}

func TestCreateTicketErrors(t *testing.T) {
	t.Run("unknown field", func(t *testing.T) {
		c := newTestClient(t, func(http.ResponseWriter, *http.Request) { t.Error("the server was called") },
			func(o *Options) { o.Ticket.Fields = []string{"subject", "bcc"} })
		_, err := c.CreateTicket(testContext(t), &NewTicket{})
		if e := apiError(t, err); e.Class != Permanent || !strings.Contains(err.Error(), `"bcc"`) {
			t.Errorf("class %v: %v", e.Class, err)
		}
	})
	for status, class := range map[int]Class{
		403: Auth,
		404: Permanent, // a wrong path, not a missing ticket
		422: Permanent,
		503: Retryable,
	} {
		h, reqs := capture(status, `{"error":"no"}`)
		c := newTestClient(t, h)
		_, err := c.CreateTicket(testContext(t), &NewTicket{})
		<-reqs
		if e := apiError(t, err); e.Class != class || e.Status != status {
			t.Errorf("status %d: class %v, want %v", status, e.Class, class)
		}
	}
}

func TestSubchannels(t *testing.T) {
	h, reqs := capture(http.StatusOK, `{"success":true,"subchannels":[
		{"id":4,"channel":"email","name":"Support","isDefault":true,"interface":"internal","enabled":true,
		 "data":{"imapUser":"support@example.com","imapPassword":"hunter2"}},
		{"id":7,"channel":"chat","name":"Web chat","isDefault":false,"interface":"internal","enabled":false,"data":null,
		 "createdAt":"2024-03-01 00:00:00"}]}`)
	c := newTestClient(t, h)
	got, err := c.Subchannels(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	r := <-reqs
	if r.method != http.MethodGet || r.path != "/api/mind/settings/subchannel" {
		t.Errorf("request %s %s", r.method, r.path)
	}
	checkHeaders(t, r.header)
	want := []Subchannel{
		{ID: 4, Channel: "email", Name: "Support", IsDefault: true, Interface: "internal", Enabled: true},
		{ID: 7, Channel: "chat", Name: "Web chat", Interface: "internal"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("subchannels = %+v\nwant %+v", got, want)
	}

	h, reqs = capture(http.StatusUnauthorized, `{"error":"Not logged in"}`)
	c = newTestClient(t, h)
	_, err = c.Subchannels(testContext(t))
	<-reqs
	if e := apiError(t, err); e.Class != Auth || e.Op != "list subchannels" {
		t.Errorf("class %v op %q", e.Class, e.Op)
	}
}

// TestSubchannelsErrors: start-up decides between "fix the configuration"
// and "the API is down" by these classes.
func TestSubchannelsErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		answer string
		class  Class
	}{
		{http.StatusServiceUnavailable, `<html>down</html>`, Retryable},
		{http.StatusTooManyRequests, `{"error":"slow down"}`, Retryable},
		{http.StatusForbidden, `{"error":"Unauthorized","details":"token ` + token + ` refused"}`, Auth},
		{http.StatusNotFound, `{"error":"Not found"}`, Permanent},
		{http.StatusOK, `<html>login</html>`, Permanent}, // not JSON: a wrong base URL
	} {
		h, reqs := capture(tc.status, tc.answer)
		c := newTestClient(t, h)
		_, err := c.Subchannels(testContext(t))
		<-reqs
		if e := apiError(t, err); e.Class != tc.class || e.Op != "list subchannels" {
			t.Errorf("%d %s: class %v op %q, want %v", tc.status, tc.answer, e.Class, e.Op, tc.class)
		}
	}

	c := New(Options{BaseURL: "http://" + testenv.FreeAddr(t) + "/api/mind/" + token, Token: token, Timeout: 2 * time.Second})
	_, err := c.Subchannels(testContext(t))
	if e := apiError(t, err); e.Class != Retryable || e.Status != 0 {
		t.Errorf("connection refused: class %v status %d, want retryable, no status", e.Class, e.Status)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"120":                           2 * time.Minute,
		" 5 ":                           5 * time.Second,
		"-3":                            0,
		"99999999999999999":             maxRetryAfter,
		"Sat, 01 Mar 2025 12:00:30 GMT": 30 * time.Second,
		"Sat, 01 Mar 2025 11:00:00 GMT": 0,
		"Mon, 01 Mar 2027 12:00:00 GMT": maxRetryAfter,
		"soon":                          0,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	wrapped := errors.Join(errors.New("delivering"), &Error{Op: "store conversation", Status: 404, Class: TicketNotFound})
	for err, want := range map[error]Class{
		wrapped:                  TicketNotFound,
		context.DeadlineExceeded: Retryable,
		errors.New("disk full"):  Retryable,
	} {
		if got := Classify(err); got != want {
			t.Errorf("Classify(%v) = %v, want %v", err, got, want)
		}
	}
	for c, want := range map[Class]string{Retryable: "retryable", Permanent: "permanent", Auth: "auth", TicketNotFound: "ticket-not-found", 9: "class(9)"} {
		if c.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(c), c.String(), want)
		}
	}
}

type byteCount int64

func (n *byteCount) Write(p []byte) (int, error) {
	*n += byteCount(len(p))
	return len(p), nil
}

// Size must agree with what WriteJSON writes, byte for byte, or the
// request's Content-Length would lie.
func TestConversationSize(t *testing.T) {
	for _, conv := range []*Conversation{
		{To: []string{}},
		{To: []string{"a@example.com"}, Subject: "ü \"q\"", Attachments: []Attachment{
			{Name: "a.pdf", Content: []byte("x")}, {Name: "é<>.txt", Content: []byte("xy")},
			{Name: "", Content: nil}, {Name: "three", Content: []byte("xyz")},
		}},
		bigConversation(),
	} {
		var n byteCount
		if err := conv.WriteJSON(&n); err != nil {
			t.Fatal(err)
		}
		size, err := conv.Size()
		if err != nil || size != int64(n) {
			t.Errorf("Size = %d, %v; WriteJSON wrote %d bytes", size, err, n)
		}
	}
}
