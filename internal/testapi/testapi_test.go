package testapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enneo/mailbridge/internal/testapi"
)

const token = "secret"

// client bounds every request so that a misbehaving fake fails a test
// instead of hanging it.
var client = &http.Client{Timeout: 10 * time.Second}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

// call sends body (JSON-encoded unless it is already []byte) and decodes
// the answer; err is a transport error or an undecodable answer.
func call(srv *testapi.Server, method, path string, body any, header ...string) (answer, error) {
	var data []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		data = b
	default:
		data, _ = json.Marshal(b)
	}
	req, err := http.NewRequest(method, srv.URL()+path, bytes.NewReader(data))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return a, err
	}
	return a, json.Unmarshal(raw, &a.body)
}

// mustCall is call for requests that must get an answer.
func mustCall(t *testing.T, srv *testapi.Server, method, path string, body any, header ...string) answer {
	t.Helper()
	a, err := call(srv, method, path, body, header...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

func payload(externalID string) map[string]any {
	return map[string]any{
		"process":                "false",
		"direction":              "in",
		"from":                   "john@smith.com",
		"fromName":               "John Smith",
		"to":                     []string{"support@example.com"},
		"ccEmails":               []string{"Jane <jane@example.com>"},
		"subject":                "Meter reading",
		"body":                   "<p>Hello</p>",
		"bodyPlain":              "Hello",
		"subchannelId":           1,
		"createdAt":              "2024-03-01 00:00:00",
		"externalConversationId": externalID,
		"rawData":                map[string]any{"messageId": externalID},
		"attachments": []map[string]any{
			{"name": "reading.txt", "base64": base64.StdEncoding.EncodeToString([]byte("1234 kWh"))},
		},
	}
}

func newServer(t *testing.T, opts testapi.Options) *testapi.Server {
	t.Helper()
	if opts.Token == "" {
		opts.Token = token
	}
	return testapi.New(t, opts)
}

// checkError checks that a carries enneo's error body.
func checkError(t *testing.T, a answer, status int) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d (%v)", a.status, status, a.body)
	}
	for _, k := range []string{"error", "details", "txId"} {
		if s, _ := a.body[k].(string); s == "" {
			t.Errorf("error body %v lacks %q", a.body, k)
		}
	}
}

func TestStoreValid(t *testing.T) {
	srv := newServer(t, testapi.Options{})
	id := srv.AddTicket(testapi.Ticket{ID: 7})

	a := mustCall(t, srv, "POST", fmt.Sprintf("/ticket/%d/conversation/store", id), payload("<m1@example.com>"))
	if a.status != http.StatusCreated || a.body["success"] != true || a.body["ticketId"] != 7.0 {
		t.Fatalf("answer %d %v", a.status, a.body)
	}
	conv, _ := a.body["conversation"].(map[string]any)
	if conv["id"] != a.body["conversationId"] || conv["externalConversationId"] != "<m1@example.com>" || conv["direction"] != "in" {
		t.Errorf("conversation in answer: %v", conv)
	}

	cs := srv.Conversations()
	if len(cs) != 1 {
		t.Fatalf("%d conversations stored", len(cs))
	}
	c := cs[0]
	if c.TicketID != 7 || float64(c.ConversationID) != a.body["conversationId"] || float64(c.EventID) != a.body["eventId"] {
		t.Errorf("ids: %+v vs answer %v", c, a.body)
	}
	p := c.Payload
	if p.From != "john@smith.com" || p.Subject != "Meter reading" || p.SubchannelID != 1 || !slices.Equal(p.To, []string{"support@example.com"}) {
		t.Errorf("payload: %+v", p)
	}
	if len(p.Attachments) != 1 || p.Attachments[0].Name != "reading.txt" {
		t.Fatalf("attachments: %+v", p.Attachments)
	}
	if content, err := p.Attachments[0].Content(); err != nil || string(content) != "1234 kWh" {
		t.Errorf("attachment content %q, %v", content, err)
	}
	if c.Fields["process"] != "false" || c.Header.Get("Authorization") != "Bearer "+token {
		t.Errorf("fields %v, header %v", c.Fields, c.Header)
	}
	if want, _ := json.Marshal(payload("<m1@example.com>")); !bytes.Equal(c.RawBody, want) {
		t.Errorf("raw body %s", c.RawBody)
	}
	if n := srv.CountByExternalID("<m1@example.com>"); n != 1 {
		t.Errorf("CountByExternalID = %d", n)
	}

	list := mustCall(t, srv, "GET", "/ticket/7/conversation", nil)
	convs, _ := list.body["conversations"].([]any)
	if list.status != http.StatusOK || list.body["success"] != true || len(convs) != 1 {
		t.Fatalf("conversation list %d %v", list.status, list.body)
	}
	if got := convs[0].(map[string]any); got["externalConversationId"] != "<m1@example.com>" || got["type"] != "html" {
		t.Errorf("listed conversation %v", got)
	}
	srv.AssertValid(t)
}

// fakeT records what a testing helper reports instead of failing the test.
type fakeT struct {
	testing.TB
	errors, fatals []string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
}

func TestStoreInvalid(t *testing.T) {
	srv := newServer(t, testapi.Options{})
	srv.AddTicket(testapi.Ticket{ID: 7})
	with := func(k string, v any) map[string]any {
		p := payload("x")
		p[k] = v
		return p
	}
	valid, _ := json.Marshal(payload("x"))
	cases := []struct {
		name   string
		body   any
		header []string
	}{
		{"direction", with("direction", "sideways"), nil},
		{"to not an array", with("to", "not-an-array"), nil},
		{"to null", with("to", nil), nil},
		{"subchannelId string", with("subchannelId", "x"), nil},
		{"attachments object", with("attachments", map[string]any{"name": "a"}), nil},
		{"not JSON", []byte("{"), nil},
		{"no body", nil, nil},
		{"content type", valid, []string{"Content-Type", "text/plain"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := mustCall(t, srv, "POST", "/ticket/7/conversation/store", tc.body, tc.header...)
			checkError(t, a, http.StatusBadRequest)
			if n := len(srv.Invalid()); n != i+1 {
				t.Errorf("%d invalid requests recorded, want %d", n, i+1)
			}
		})
	}
	if n := len(srv.Conversations()); n != 0 {
		t.Errorf("%d invalid conversations stored", n)
	}
	if !strings.Contains(srv.Invalid()[0].Error(), "direction") {
		t.Errorf("first error does not name the field: %v", srv.Invalid()[0])
	}
	ft := &fakeT{}
	srv.AssertValid(ft)
	if len(ft.errors) != len(cases) {
		t.Errorf("AssertValid reported %d errors, want %d", len(ft.errors), len(cases))
	}
}

func TestAuth(t *testing.T) {
	srv := newServer(t, testapi.Options{AutoCreateTickets: true})
	for _, auth := range []string{"", "Bearer wrong", "Basic " + token, token} {
		a := mustCall(t, srv, "POST", "/ticket/1/conversation/store", payload("x"), "Authorization", auth)
		checkError(t, a, http.StatusForbidden)
	}
	if a := mustCall(t, srv, "GET", "/settings/subchannel", nil, "Authorization", ""); a.status != http.StatusForbidden {
		t.Errorf("GET without token: %d", a.status)
	}
	if a := mustCall(t, srv, "POST", "/ticket/1/conversation/store", payload("x")); a.status != http.StatusCreated {
		t.Errorf("with token: %d %v", a.status, a.body)
	}

	open := testapi.New(t, testapi.Options{AutoCreateTickets: true})
	if a := mustCall(t, open, "POST", "/ticket/1/conversation/store", payload("x"), "Authorization", ""); a.status != http.StatusCreated {
		t.Errorf("no token configured: %d %v", a.status, a.body)
	}
}

func TestNotFound(t *testing.T) {
	srv := newServer(t, testapi.Options{})
	checkError(t, mustCall(t, srv, "POST", "/ticket/99/conversation/store", payload("x")), http.StatusNotFound)
	checkError(t, mustCall(t, srv, "GET", "/ticket/99/conversation", nil), http.StatusNotFound)
	checkError(t, mustCall(t, srv, "GET", "/ticket/99", nil), http.StatusNotFound)
	checkError(t, mustCall(t, srv, "DELETE", "/ticket", nil), http.StatusNotFound)
	if len(srv.Conversations()) != 0 || len(srv.Tickets()) != 0 {
		t.Error("a failed call left records")
	}
	// A non-integer ticket id breaks the spec's path parameter.
	checkError(t, mustCall(t, srv, "POST", "/ticket/abc/conversation/store", payload("x")), http.StatusBadRequest)

	auto := newServer(t, testapi.Options{AutoCreateTickets: true})
	if a := mustCall(t, auto, "POST", "/ticket/99/conversation/store", payload("x")); a.status != http.StatusCreated {
		t.Fatalf("auto-create: %d %v", a.status, a.body)
	}
	if ts := auto.Tickets(); len(ts) != 1 || ts[0].ID != 99 || ts[0].SubchannelID != 1 {
		t.Errorf("auto-created tickets: %+v", ts)
	}
}

func TestTicketUpsertConcurrent(t *testing.T) {
	srv := newServer(t, testapi.Options{})
	const n = 20
	ids := make([]any, n)
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a, err := call(srv, "POST", "/ticket?process=false", map[string]any{
				"externalTicketId": "<thread@example.com>",
				"subchannelId":     1,
				"subject":          fmt.Sprintf("try %d", i),
				"to":               []string{"support@example.com"},
			})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i], statuses[i] = a.body["id"], a.status
		})
	}
	wg.Wait()
	for i := range n {
		if ids[i] != ids[0] {
			t.Fatalf("ticket ids differ: %v", ids)
		}
	}
	slices.Sort(statuses)
	if statuses[0] != http.StatusOK || statuses[n-2] != http.StatusOK || statuses[n-1] != http.StatusCreated {
		t.Errorf("statuses %v, want one 201 and the rest 200", statuses)
	}
	ts := srv.Tickets()
	if len(ts) != 1 || ts[0].Posts != n || float64(ts[0].ID) != ids[0] || ts[0].Status != "open" || ts[0].Channel != "email" {
		t.Fatalf("tickets: %+v", ts)
	}

	// Without externalTicketId every call makes a ticket.
	for range 2 {
		if a := mustCall(t, srv, "POST", "/ticket", map[string]any{"subject": "s"}); a.status != http.StatusCreated {
			t.Fatalf("create: %d %v", a.status, a.body)
		}
	}
	if n := len(srv.Tickets()); n != 3 {
		t.Errorf("%d tickets, want 3", n)
	}
	for _, bad := range []any{
		map[string]any{"subchannelId": "1"},
		map[string]any{"status": "solved"},
		map[string]any{"to": "a@b.c"},
		[]byte("[]"),
	} {
		checkError(t, mustCall(t, srv, "POST", "/ticket", bad), http.StatusBadRequest)
	}
	checkError(t, mustCall(t, srv, "POST", "/ticket?process=now", map[string]any{}), http.StatusBadRequest)
}

func TestSearch(t *testing.T) {
	srv := newServer(t, testapi.Options{})
	a := srv.AddTicket(testapi.Ticket{ExternalTicketID: "ext-a", SubchannelID: 1})
	b := srv.AddTicket(testapi.Ticket{ExternalTicketID: "ext-b", SubchannelID: 2})
	c := srv.AddTicket(testapi.Ticket{SubchannelID: 2})

	search := func(filters ...map[string]any) []int {
		t.Helper()
		ans := mustCall(t, srv, "POST", "/ticket/search", map[string]any{"filters": filters})
		if ans.status != http.StatusOK {
			t.Fatalf("search %v: %d %v", filters, ans.status, ans.body)
		}
		var ids []int
		list, _ := ans.body["tickets"].([]any)
		for _, tk := range list {
			ids = append(ids, int(tk.(map[string]any)["id"].(float64)))
		}
		return ids
	}
	f := func(key, comparator string, v any) map[string]any {
		if comparator == "in" {
			return map[string]any{"key": key, "comparator": comparator, "values": v}
		}
		return map[string]any{"key": key, "comparator": comparator, "value": v}
	}
	for _, tc := range []struct {
		filters []map[string]any
		want    []int
	}{
		{[]map[string]any{f("externalTicketId", "eq", "ext-b")}, []int{b}},
		{[]map[string]any{f("externalTicketId", "eq", "nope")}, nil},
		{[]map[string]any{f("externalTicketId", "in", []string{"ext-a", "ext-b"})}, []int{a, b}},
		{[]map[string]any{f("id", "eq", c)}, []int{c}},
		{[]map[string]any{f("id", "eq", fmt.Sprint(c))}, []int{c}},
		{[]map[string]any{f("subchannelId", "in", []int{2})}, []int{b, c}},
		{[]map[string]any{f("subchannelId", "eq", 2), f("externalTicketId", "eq", "ext-b")}, []int{b}},
		{nil, []int{a, b, c}},
	} {
		if got := search(tc.filters...); !slices.Equal(got, tc.want) {
			t.Errorf("search %v = %v, want %v", tc.filters, got, tc.want)
		}
	}

	ans := mustCall(t, srv, "POST", "/ticket/search", map[string]any{"limit": 1, "offset": 1, "orderByField": "t.id", "orderByDirection": "desc"})
	if list, _ := ans.body["tickets"].([]any); len(list) != 1 || list[0].(map[string]any)["id"] != float64(b) {
		t.Errorf("limit/offset/desc: %v", ans.body)
	}

	for _, bad := range []map[string]any{
		{"filters": []any{f("channel", "in", []string{"email"})}},
		{"filters": []any{f("id", "gt", 1)}},
		{"filters": []any{map[string]any{"key": "id", "comparator": "in", "value": 1}}},
		{"orderByField": "subject"},
	} {
		checkError(t, mustCall(t, srv, "POST", "/ticket/search", bad), http.StatusBadRequest)
	}
	if n := len(srv.Invalid()); n != 4 {
		t.Errorf("%d invalid recorded, want 4", n)
	}
}

func TestSubchannels(t *testing.T) {
	srv := newServer(t, testapi.Options{AutoCreateTickets: true})
	srv.AddSubchannel(testapi.Subchannel{ID: 1, Name: "Support", Enabled: true, IsDefault: true})
	srv.AddSubchannel(testapi.Subchannel{ID: 3, Name: "Chat", Channel: "chat"})

	a := mustCall(t, srv, "GET", "/settings/subchannel", nil)
	list, _ := a.body["subchannels"].([]any)
	if a.status != http.StatusOK || a.body["success"] != true || len(list) != 2 {
		t.Fatalf("%d %v", a.status, a.body)
	}
	first := list[0].(map[string]any)
	if first["id"] != 1.0 || first["channel"] != "email" || first["name"] != "Support" || first["enabled"] != true ||
		first["isDefault"] != true || first["interface"] != "internal" || first["data"] == nil {
		t.Errorf("subchannel %v", first)
	}

	p := payload("x")
	p["subchannelId"] = 2
	checkError(t, mustCall(t, srv, "POST", "/ticket/5/conversation/store", p), http.StatusBadRequest)
	if a := mustCall(t, srv, "POST", "/ticket", map[string]any{"subchannelId": 3}); a.body["channel"] != "chat" {
		t.Errorf("ticket in chat subchannel: %v", a.body)
	}
}

func TestSubchannelsFromOptions(t *testing.T) {
	ids := func(srv *testapi.Server) []float64 {
		a := mustCall(t, srv, "GET", "/settings/subchannel", nil)
		var got []float64
		for _, s := range a.body["subchannels"].([]any) {
			got = append(got, s.(map[string]any)["id"].(float64))
		}
		return got
	}
	// The default list is served but does not restrict stores.
	def := newServer(t, testapi.Options{AutoCreateTickets: true})
	if got := ids(def); !slices.Equal(got, []float64{1, 2, 4}) {
		t.Errorf("default subchannels %v", got)
	}
	p := payload("x")
	p["subchannelId"] = 99
	if a := mustCall(t, def, "POST", "/ticket/5/conversation/store", p); a.status != http.StatusCreated {
		t.Errorf("store to subchannel 99 with the default list: %d %v", a.status, a.body)
	}

	set := newServer(t, testapi.Options{AutoCreateTickets: true, Subchannels: []testapi.Subchannel{{ID: 7, Name: "Old"}}})
	if got := ids(set); !slices.Equal(got, []float64{7}) {
		t.Errorf("subchannels from Options %v", got)
	}
	checkError(t, mustCall(t, set, "POST", "/ticket/5/conversation/store", p), http.StatusBadRequest)
}

func store(srv *testapi.Server, externalID string) (answer, error) {
	return call(srv, "POST", "/ticket/1/conversation/store", payload(externalID))
}

func TestFaultStatus(t *testing.T) {
	srv := newServer(t, testapi.Options{AutoCreateTickets: true})
	srv.Inject(testapi.Fault{Path: "conversation/store", Status: http.StatusTooManyRequests, RetryAfter: "2", Times: 2})
	srv.Inject(testapi.Fault{Method: "GET", Path: "/settings", Status: http.StatusServiceUnavailable})

	for i := range 2 {
		a, err := store(srv, "x")
		if err != nil {
			t.Fatal(err)
		}
		checkError(t, a, http.StatusTooManyRequests)
		if a.header.Get("Retry-After") != "2" {
			t.Errorf("try %d: Retry-After %q", i, a.header.Get("Retry-After"))
		}
	}
	if a, err := store(srv, "x"); err != nil || a.status != http.StatusCreated {
		t.Errorf("after Times ran out: %d %v", a.status, err)
	}
	checkError(t, mustCall(t, srv, "GET", "/settings/subchannel", nil), http.StatusServiceUnavailable)
	if a := mustCall(t, srv, "POST", "/ticket", map[string]any{}); a.status != http.StatusCreated {
		t.Errorf("unmatched path hit: %d", a.status)
	}

	srv.ClearFaults()
	if a := mustCall(t, srv, "GET", "/settings/subchannel", nil); a.status != http.StatusOK {
		t.Errorf("after ClearFaults: %d", a.status)
	}
	if n := len(srv.Conversations()); n != 1 {
		t.Errorf("%d conversations stored, want 1", n)
	}
	reqs := srv.Requests()
	var injected []int
	for _, r := range reqs {
		if r.Injected {
			injected = append(injected, r.Status)
		}
	}
	if !slices.Equal(injected, []int{429, 429, 503}) {
		t.Errorf("injected statuses %v", injected)
	}
	if n := srv.CountRequests("POST", "conversation/store"); n != 3 {
		t.Errorf("CountRequests = %d", n)
	}
}

func TestFaultDelay(t *testing.T) {
	srv := newServer(t, testapi.Options{AutoCreateTickets: true})
	const delay = 200 * time.Millisecond
	srv.Inject(testapi.Fault{Path: "store", Delay: delay, Times: 1})
	start := time.Now()
	if a, err := store(srv, "x"); err != nil || a.status != http.StatusCreated {
		t.Fatalf("%d %v", a.status, err)
	}
	if d := time.Since(start); d < delay {
		t.Errorf("answered after %v, want ≥ %v", d, delay)
	}

	// A client that gives up ends the delay without a store.
	srv.Inject(testapi.Fault{Path: "store", Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL()+"/ticket/1/conversation/store", strings.NewReader("{}"))
	if _, err := client.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("client error %v, want deadline", err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if _, err := srv.Wait(wctx, func(s testapi.State) bool { return len(s.Requests) == 2 }); err != nil {
		t.Fatal("abandoned delayed request not recorded")
	}
	if r := srv.Requests()[1]; r.Status != 0 || !r.Injected {
		t.Errorf("abandoned request recorded as %+v", r)
	}
	if n := len(srv.Conversations()); n != 1 {
		t.Errorf("%d conversations stored, want 1", n)
	}
}

func TestFaultDrop(t *testing.T) {
	srv := newServer(t, testapi.Options{AutoCreateTickets: true})

	srv.Inject(testapi.Fault{Path: "store", Kind: testapi.DropBeforeStore, Times: 1})
	if _, err := store(srv, "before"); err == nil {
		t.Error("DropBeforeStore: no client error")
	}
	if n := srv.CountByExternalID("before"); n != 0 {
		t.Errorf("DropBeforeStore stored %d", n)
	}

	srv.Inject(testapi.Fault{Path: "store", Kind: testapi.DropAfterStore, Times: 1})
	if _, err := store(srv, "after"); err == nil {
		t.Error("DropAfterStore: no client error")
	}
	if n := srv.CountByExternalID("after"); n != 1 {
		t.Errorf("DropAfterStore stored %d, want 1", n)
	}

	srv.Inject(testapi.Fault{Path: "store", Kind: testapi.HalfResponse, Times: 1})
	a, err := store(srv, "half")
	if err == nil || a.status != http.StatusCreated {
		t.Errorf("HalfResponse: status %d, error %v; want 201 and a read error", a.status, err)
	}
	if n := srv.CountByExternalID("half"); n != 1 {
		t.Errorf("HalfResponse stored %d, want 1", n)
	}

	// The client retries what it lost: one duplicate per lost answer.
	for _, id := range []string{"before", "after", "half"} {
		if a, err := store(srv, id); err != nil || a.status != http.StatusCreated {
			t.Fatalf("retry %s: %d %v", id, a.status, err)
		}
	}
	s := srv.State()
	if s.LostAnswers() != 2 || srv.LostAnswers() != 2 {
		t.Errorf("LostAnswers = %d", s.LostAnswers())
	}
	dups := len(s.Conversations) - 3
	if dups > s.LostAnswers() {
		t.Errorf("%d duplicates > %d lost answers", dups, s.LostAnswers())
	}
	var got []int
	for _, r := range s.Requests {
		got = append(got, r.Status)
	}
	if !slices.Equal(got, []int{0, 0, 201, 201, 201, 201}) {
		t.Errorf("recorded statuses %v", got)
	}
}

func TestFaultDelayAfterStore(t *testing.T) {
	srv := newServer(t, testapi.Options{AutoCreateTickets: true})

	srv.Inject(testapi.Fault{Path: "store", Kind: testapi.DelayAfterStore, Delay: 50 * time.Millisecond, Times: 1})
	if a, err := store(srv, "patient"); err != nil || a.status != http.StatusCreated {
		t.Fatalf("patient client: %d %v", a.status, err)
	}

	srv.Inject(testapi.Fault{Path: "store", Kind: testapi.DelayAfterStore, Delay: time.Minute, Times: 1})
	impatient := &http.Client{Timeout: 100 * time.Millisecond}
	req, _ := http.NewRequest("POST", srv.URL()+"/ticket/1/conversation/store", strings.NewReader(`{"externalConversationId":"impatient"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if _, err := impatient.Do(req); err == nil {
		t.Fatal("impatient client got an answer")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := srv.Wait(ctx, func(s testapi.State) bool { return s.LostAnswers() == 1 })
	if err != nil {
		t.Fatalf("lost answer not counted: %+v", s.Conversations)
	}
	if len(s.Conversations) != 2 || s.Conversations[0].AnswerLost || s.CountByExternalID("impatient") != 1 {
		t.Errorf("conversations %+v", s.Conversations)
	}
}

func TestFailRateReproducible(t *testing.T) {
	run := func(seed uint64) []int {
		srv := newServer(t, testapi.Options{Seed: seed})
		srv.FailRate(0.2, http.StatusInternalServerError)
		var statuses []int
		for range 100 {
			statuses = append(statuses, mustCall(t, srv, "GET", "/settings/subchannel", nil).status)
		}
		srv.ClearFaults()
		if a := mustCall(t, srv, "GET", "/settings/subchannel", nil); a.status != http.StatusOK {
			t.Errorf("after ClearFaults: %d", a.status)
		}
		return statuses
	}
	first, again, other := run(42), run(42), run(43)
	if !slices.Equal(first, again) {
		t.Error("same seed, different faults")
	}
	if slices.Equal(first, other) {
		t.Error("different seeds, same faults")
	}
	failed := 0
	for _, s := range first {
		if s == http.StatusInternalServerError {
			failed++
		}
	}
	if failed < 5 || failed > 40 {
		t.Errorf("%d of 100 failed at rate 0.2", failed)
	}
}

func TestWaitConversations(t *testing.T) {
	srv := newServer(t, testapi.Options{AutoCreateTickets: true})
	go func() {
		for i := range 3 {
			time.Sleep(10 * time.Millisecond)
			store(srv, fmt.Sprint(i))
		}
	}()
	if cs := srv.WaitConversations(t, 3, 5*time.Second); len(cs) != 3 {
		t.Errorf("%d conversations", len(cs))
	}

	ft := &fakeT{}
	start := time.Now()
	srv.WaitConversations(ft, 4, 50*time.Millisecond)
	if len(ft.fatals) != 1 || time.Since(start) > 5*time.Second {
		t.Errorf("timeout not reported: %v", ft.fatals)
	}
}

func TestCloseCutsDelay(t *testing.T) {
	srv, err := testapi.NewServer(testapi.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	srv.Inject(testapi.Fault{Delay: time.Minute})
	done := make(chan error)
	go func() {
		_, err := call(srv, "GET", "/settings/subchannel", nil)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the request reach the delay
	start := time.Now()
	srv.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if err := <-done; err == nil {
		t.Error("request answered across Close")
	}
}

func TestConcurrentUse(t *testing.T) {
	srv := newServer(t, testapi.Options{AutoCreateTickets: true})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 10 {
				store(srv, fmt.Sprintf("%d-%d", i, j))
			}
		})
	}
	wg.Go(func() {
		for range 10 {
			srv.Inject(testapi.Fault{Kind: testapi.DropAfterStore, Rate: 0.3, Times: 2})
			srv.Conversations()
			srv.ClearFaults()
		}
	})
	wg.Wait()
	s := srv.State()
	if len(s.Conversations) != 80 || s.CountRequests("", "") != 80 {
		t.Errorf("%d conversations, %d requests; want 80", len(s.Conversations), len(s.Requests))
	}
	srv.AssertValid(t)
}

func TestSpecLocation(t *testing.T) {
	t.Setenv(testapi.SpecEnv, filepath.Join(t.TempDir(), "missing.yaml"))
	if _, err := testapi.NewServer(testapi.Options{}); err == nil {
		t.Error("missing $MAILBRIDGE_SPEC accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("openapi: 3.0.0\npaths: {}\n"), 0o600)
	if _, err := testapi.NewAPI(testapi.Options{SpecPath: bad}); err == nil {
		t.Error("spec without servers accepted")
	}
}

// StoreThenFail stores the conversation and answers an error all the same,
// which the listing shows; a client that believed the error would store
// the conversation twice.
func TestFaultStoreThenFail(t *testing.T) {
	srv := newServer(t, testapi.Options{AutoCreateTickets: true})
	srv.Inject(testapi.Fault{Path: "store", Kind: testapi.StoreThenFail, Status: http.StatusBadGateway, Times: 1})
	a, err := store(srv, "failed-after")
	if err != nil {
		t.Fatal(err)
	}
	checkError(t, a, http.StatusBadGateway)
	if n := srv.CountByExternalID("failed-after"); n != 1 || srv.LostAnswers() != 1 {
		t.Errorf("stored %d, lost answers %d; want 1 and 1", n, srv.LostAnswers())
	}
	list := mustCall(t, srv, "GET", "/ticket/1/conversation", nil)
	if list.status != http.StatusOK || !strings.Contains(fmt.Sprint(list.body), "failed-after") {
		t.Errorf("listing after StoreThenFail: %d %s", list.status, list.body)
	}
}

// NoConversationList answers the listing as an unknown endpoint, not as
// an unknown ticket: a client can tell the two apart by the error.
func TestNoConversationList(t *testing.T) {
	srv := newServer(t, testapi.Options{AutoCreateTickets: true, NoConversationList: true})
	if a, err := store(srv, "x"); err != nil || a.status != http.StatusCreated {
		t.Fatalf("store: %d %v", a.status, err)
	}
	a := mustCall(t, srv, "GET", "/ticket/1/conversation", nil)
	checkError(t, a, http.StatusNotFound)
	if a.body["error"] == "Ticket not found" {
		t.Errorf("listing without the endpoint says %s, want an unknown endpoint", a.body)
	}
	with := newServer(t, testapi.Options{})
	if a := mustCall(t, with, "GET", "/ticket/999/conversation", nil); a.status != http.StatusNotFound ||
		a.body["error"] != "Ticket not found" {
		t.Errorf("listing of an unknown ticket: %d %s", a.status, a.body)
	}
}

// A token replaced while the server runs is the one requests must carry.
func TestSetToken(t *testing.T) {
	srv := newServer(t, testapi.Options{AutoCreateTickets: true})
	srv.SetToken("rotated")
	checkError(t, mustCall(t, srv, "GET", "/settings/subchannel", nil), http.StatusForbidden)
	if a := mustCall(t, srv, "GET", "/settings/subchannel", nil, "Authorization", "Bearer rotated"); a.status != http.StatusOK {
		t.Errorf("with the new token: %d %v", a.status, a.body)
	}
}

// Down refuses connections; Up serves again on the same address with the
// conversations stored before, as an API restarted on persistent storage.
func TestDownAndUpKeepState(t *testing.T) {
	srv := newServer(t, testapi.Options{AutoCreateTickets: true})
	url := srv.URL()
	if a := mustCall(t, srv, "POST", "/ticket/1/conversation/store", payload("before")); a.status != http.StatusCreated {
		t.Fatalf("store: %d %v", a.status, a.body)
	}
	srv.Down()
	if _, err := call(srv, "GET", "/settings/subchannel", nil); err == nil {
		t.Fatal("a request to a server that is down was answered")
	}
	if err := srv.Up(); err != nil {
		t.Fatal(err)
	}
	if srv.URL() != url {
		t.Errorf("URL after Up = %s, want %s", srv.URL(), url)
	}
	if a := mustCall(t, srv, "POST", "/ticket/1/conversation/store", payload("after")); a.status != http.StatusCreated {
		t.Fatalf("store after Up: %d %v", a.status, a.body)
	}
	if n := len(srv.Conversations()); n != 2 {
		t.Errorf("%d conversations after a restart, want 2", n)
	}
	if p := srv.PeakConcurrency(); p != 1 {
		t.Errorf("PeakConcurrency = %d after requests one at a time, want 1", p)
	}
}
