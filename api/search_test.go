package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

func TestSearchTickets(t *testing.T) {
	h, reqs := capture(http.StatusOK, `{"tickets":[
		{"id":376189,"externalTicketId":"root@example.com","subchannelId":4,"channel":"email","status":"open"},
		{"id":"42","externalTicketId":null,"subchannelId":null},
		{"id":7}]}`)
	c := newTestClient(t, h)
	got, err := c.SearchTickets(testContext(t), TicketSearch{
		Filters: []TicketFilter{{Key: "externalTicketId", Comparator: "in", Values: []any{"root@example.com", "a@b"}}},
		Limit:   5,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := <-reqs
	if r.method != http.MethodPost || r.path != "/api/mind/ticket/search" {
		t.Errorf("request %s %s", r.method, r.path)
	}
	checkHeaders(t, r.header)
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	wantBody := map[string]any{
		"filters": []any{map[string]any{"key": "externalTicketId", "comparator": "in", "values": []any{"root@example.com", "a@b"}}},
		"limit":   float64(5),
	}
	if !reflect.DeepEqual(body, wantBody) {
		t.Errorf("body %s", r.body)
	}
	want := []FoundTicket{
		{ID: 376189, ExternalTicketID: "root@example.com", SubchannelID: 4},
		{ID: 42},
		{ID: 7},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("found %+v\nwant %+v", got, want)
	}
}

// An API without the filter answers 400: Permanent, so the caller can
// turn the step off; a ticket without id is an unusable answer.
func TestSearchTicketsErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		answer string
		class  Class
	}{
		{http.StatusBadRequest, `{"error":"unknown filter key externalTicketId"}`, Permanent},
		{http.StatusBadGateway, `bad gateway`, Retryable},
		{http.StatusUnauthorized, `{"error":"Not logged in"}`, Auth},
		{http.StatusOK, `{"tickets":[{"subject":"no id"}]}`, Permanent},
		{http.StatusOK, `[]`, Permanent},
	} {
		h, reqs := capture(tc.status, tc.answer)
		c := newTestClient(t, h)
		_, err := c.SearchTickets(testContext(t), TicketSearch{})
		<-reqs
		if e := apiError(t, err); e.Class != tc.class || e.Op != "search tickets" {
			t.Errorf("%d %s: class %v op %q, want %v", tc.status, tc.answer, e.Class, e.Op, tc.class)
		}
	}
}
