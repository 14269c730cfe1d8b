package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"
)

// ticketBodyByMap is the body as encoding/json makes it of the merged
// fields as a map: what ticketBody must send, byte for byte.
func ticketBodyByMap(o TicketOptions, t *NewTicket) ([]byte, error) {
	body := maps.Clone(o.Static)
	if body == nil {
		body = map[string]any{}
	}
	for _, f := range o.Fields {
		if v := ticketFields[f](t); !empty(v) {
			body[f] = v
		}
	}
	return json.Marshal(body)
}

var allTicketFields = []string{"subchannelId", "from", "fromName", "to", "cc", "subject", "body",
	"createdAt", "externalTicketId", "rawData"}

func TestTicketBodyAsEncodingJSON(t *testing.T) {
	odd := "a<b>&c \"q\" \\ \x00\x1f\b\f\n\r\t \u2028\u2029 \xff\xfe ü € 😀 </script>"
	tickets := []*NewTicket{
		{},
		{
			SubchannelID: 4, From: "john@smith.com", FromName: "John \"J\" Smith", To: []string{"a@b", odd},
			CC: []string{}, Subject: odd, Body: "<p>Hello & bye</p>", CreatedAt: "2024-03-01 00:00:00",
			ExternalTicketID: "4:<CAFoo@mail.example.com>", RawData: map[string]any{"threadKey": "4:<x&y>", "z": "", "a": odd},
		},
		{SubchannelID: -300, Subject: "s", RawData: map[string]any{"n": 1, "m": map[string]any{"k": []int{1}}}},
		{SubchannelID: 70000, RawData: map[string]any{}, To: nil, CC: []string{"c@d"}},
	}
	opts := []TicketOptions{
		{Fields: allTicketFields, Static: map[string]any{"channel": "email"}},
		{Fields: allTicketFields},
		{},
		{Fields: []string{"subject", "subject", "to", "rawData"}, Static: map[string]any{
			"subject": "static", "tags": []int{3}, "flag": true, "f": 1.5, "nested": map[string]any{"<": odd},
			"list": []any{"x", 2, nil}, "nil": nil, odd: odd, "": "empty key", "to": []string{"s@t"},
		}},
		{Fields: []string{"body", "cc"}, Static: map[string]any{"body": "default", "cc": nil, "zz": map[string]any(nil)}},
	}
	for i, o := range opts {
		for j, nt := range tickets {
			got, err := ticketBody(o, nt)
			if err != nil {
				t.Fatalf("options %d, ticket %d: %v", i, j, err)
			}
			want, err := ticketBodyByMap(o, nt)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("options %d, ticket %d:\n got %s\nwant %s", i, j, got, want)
			}
		}
	}
}

// A Static value encoding/json cannot encode fails the call for good, as
// before anything is sent.
func TestTicketBodyUnencodable(t *testing.T) {
	_, err := ticketBody(TicketOptions{Static: map[string]any{"c": make(chan int)}}, &NewTicket{})
	if e := apiError(t, err); e.Class != Permanent || e.Op != opCreateTicket {
		t.Errorf("class %v op %q: %v", e.Class, e.Op, err)
	}
}

func FuzzTicketBody(f *testing.F) {
	f.Add("john@smith.com", "Meter <reading> & more", "4:<id@x>", "email")
	f.Add("\xff\u2028", "\x00\t\"\\", "", "")
	f.Fuzz(func(t *testing.T, from, subject, key, channel string) {
		o := TicketOptions{Fields: allTicketFields, Static: map[string]any{"channel": channel, subject: from}}
		nt := &NewTicket{SubchannelID: len(key), From: from, FromName: subject, To: []string{from, key},
			Subject: subject, ExternalTicketID: key, RawData: map[string]any{"threadKey": key, channel: subject}}
		got, err := ticketBody(o, nt)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ticketBodyByMap(o, nt)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
	})
}

func BenchmarkTicketBody(b *testing.B) {
	o := TicketOptions{Fields: allTicketFields, Static: map[string]any{"channel": "email"}}
	nt := &NewTicket{SubchannelID: 1, From: "sender@example.com", FromName: "A Sender", To: []string{"support@example.com"},
		Subject: "A question about my meter reading", CreatedAt: "2026-12-03 10:00:00",
		ExternalTicketID: "1:<20261203.1234@example.com>", RawData: map[string]any{"threadKey": "1:<20261203.1234@example.com>"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ticketBody(o, nt); err != nil {
			b.Fatal(err)
		}
	}
}

// answerTransport answers every request with answer, after reading its
// body: the client's own cost of a call, without a connection.
type answerTransport string

func (a answerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusCreated, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(string(a))), ContentLength: int64(len(a)), Request: r,
	}, nil
}

func BenchmarkCreateTicket(b *testing.B) {
	c := New(Options{
		BaseURL: "http://api.invalid/api/mind", Token: token, Timeout: time.Minute,
		HTTPClient: &http.Client{Transport: answerTransport(`{"id":376189}`)},
		Ticket:     TicketOptions{Fields: allTicketFields, Static: map[string]any{"channel": "email"}},
	})
	nt := &NewTicket{SubchannelID: 1, From: "sender@example.com", FromName: "A Sender", To: []string{"support@example.com"},
		Subject: "A question about my meter reading", CreatedAt: "2026-12-03 10:00:00",
		ExternalTicketID: "1:<20261203.1234@example.com>", RawData: map[string]any{"threadKey": "1:<20261203.1234@example.com>"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if id, err := c.CreateTicket(ctx, nt); err != nil || id != 376189 {
			b.Fatal(id, err)
		}
	}
}

// ticketID reads an answer as the full decode does, whatever the answer.
func TestTicketIDAsDecoded(t *testing.T) {
	answers := []string{
		`{"id":376189}`, ` { "id" : 7 , "x":[1,{"id":2}] } `, `{"id":"42"}`, `{"id":" 42 "}`, `{"id":"4\u0032"}`,
		`{"\u0069d":5}`, `{"id":1,"id":2}`, `{"id":2,"id":"x"}`, `{"x":"}\"{","id":9}`, `{"id":0}`, `{"id":-5}`,
		`{"id":12.5}`, `{"id":1e3}`, `{"id":null}`, `{"id":true}`, `{"id":{"value":1}}`, `[376189]`, `not json`,
		`{"id":5} trailing`, `{"id":5}{"id":6}`, `{"ID":5}`, `{}`, `""`, `5`, `{"id":9223372036854775808}`,
		`{"data":{"ticket":{"id":"376190"}}}`, `{"data":{"ticket":[{"id":1}]}}`, `{"data":5,"data":{"ticket":{"id":3}}}`,
		`{"data":{"ticket":{"id":3}},"data":{}}`, "{\"id\":\"\xff1\"}", `{"id":"١٢"}`, "{\"id\":\"\u00a012\"}",
	}
	for _, path := range []string{"id", "data.ticket.id", "data"} {
		for _, a := range answers {
			id, err := ticketID([]byte(a), path)
			wantID, wantErr := decodedTicketID([]byte(a), path)
			if id != wantID || (err == nil) != (wantErr == nil) {
				t.Errorf("%s at %s: %d, %v; want %d, %v", a, path, id, err, wantID, wantErr)
			}
		}
	}
}

func FuzzTicketID(f *testing.F) {
	for _, a := range []string{`{"id":376189}`, `{"data":{"ticket":{"id":"376190"}}}`, `{"x":["]"],"id":1,"id":"2"}`} {
		f.Add(a, "id")
		f.Add(a, "data.ticket.id")
	}
	f.Fuzz(func(t *testing.T, answer, path string) {
		id, err := ticketID([]byte(answer), path)
		wantID, wantErr := decodedTicketID([]byte(answer), path)
		if id != wantID || (err == nil) != (wantErr == nil) {
			t.Errorf("%q at %q: %d, %v; want %d, %v", answer, path, id, err, wantID, wantErr)
		}
	})
}

// A key with bytes that are not UTF-8 is read as the decode reads it, as
// U+FFFD: the path names the decoded key, never the raw bytes.
func TestTicketIDInvalidUTF8Key(t *testing.T) {
	for _, c := range []struct{ answer, path string }{
		{"{\"id\xff\":5}", "id\xff"},
		{"{\"id\ufffd\":2,\"id\xff\":1}", "id\ufffd"},
		{"{\"d\xff\":{\"id\":3},\"d\ufffd\":{\"id\":4}}", "d\xff.id"},
	} {
		id, err := ticketID([]byte(c.answer), c.path)
		wantID, wantErr := decodedTicketID([]byte(c.answer), c.path)
		if id != wantID || (err == nil) != (wantErr == nil) {
			t.Errorf("%q at %q: %d, %v; want %d, %v", c.answer, c.path, id, err, wantID, wantErr)
		}
	}
}
