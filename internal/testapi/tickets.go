package testapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Ticket is a ticket of the fake.
type Ticket struct {
	ID               int
	ExternalTicketID string
	SubchannelID     int
	Channel          string
	Status           string
	Subject          string
	// Fields holds the bodies POST /ticket sent for it, later ones merged
	// over earlier ones; nil for a ticket that only AddTicket made.
	Fields map[string]any
	// Posts counts the POST /ticket calls that created or updated it.
	Posts int
}

// Subchannel is a mailbox (for channel "email") as GET /settings/subchannel
// lists it.
type Subchannel struct {
	ID        int
	Name      string
	Channel   string // "" means "email"
	Enabled   bool
	IsDefault bool
	Data      map[string]any
}

// AddTicket adds t, or replaces the ticket with its ID, and returns its id:
// t.ID, or a fresh one if that is 0. Channel defaults to "email", Status
// to "open".
func (a *API) AddTicket(t Ticket) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t.Channel == "" {
		t.Channel = "email"
	}
	if t.Status == "" {
		t.Status = "open"
	}
	return a.putTicketLocked(&t).ID
}

// putTicketLocked stores t, giving it an id if it has none.
func (a *API) putTicketLocked(t *Ticket) *Ticket {
	if t.ID == 0 {
		t.ID = a.lastTicket + 1
	}
	a.lastTicket = max(a.lastTicket, t.ID)
	if old := a.tickets[t.ID]; old != nil && old.ExternalTicketID != "" {
		delete(a.byExternal, old.ExternalTicketID)
	}
	a.tickets[t.ID] = t
	if t.ExternalTicketID != "" {
		a.byExternal[t.ExternalTicketID] = t.ID
	}
	a.notifyLocked()
	return t
}

// AddSubchannel adds s, or replaces the subchannel with its ID. Once any
// subchannel is added, the list replaces DefaultSubchannels and requests
// naming an unknown subchannelId are rejected, as enneo would.
func (a *API) AddSubchannel(s Subchannel) {
	if s.Channel == "" {
		s.Channel = "email"
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if i := slices.IndexFunc(a.subchannels, func(o Subchannel) bool { return o.ID == s.ID }); i >= 0 {
		a.subchannels[i] = s
	} else {
		a.subchannels = append(a.subchannels, s)
	}
	a.notifyLocked()
}

func (a *API) subchannelList() any {
	a.mu.Lock()
	defer a.mu.Unlock()
	subchannels := a.subchannels
	if len(subchannels) == 0 {
		subchannels = DefaultSubchannels
	}
	list := make([]map[string]any, 0, len(subchannels))
	for _, s := range subchannels {
		data := s.Data
		if data == nil {
			data = map[string]any{}
		}
		list = append(list, map[string]any{
			"id":        s.ID,
			"channel":   s.Channel,
			"name":      s.Name,
			"isDefault": s.IsDefault,
			"interface": "internal",
			"enabled":   s.Enabled,
			"data":      data,
		})
	}
	return map[string]any{"success": true, "subchannels": list}
}

// ticketBody is POST /ticket's body as related-endpoints.md describes it;
// decoding into it is the type check. Fields of undocumented type
// (contractId, templateId, templateData) are left to Ticket.Fields.
type ticketBody struct {
	From               string   `json:"from"`
	FromName           string   `json:"fromName"`
	SubchannelID       int      `json:"subchannelId"`
	To                 []string `json:"to"`
	CC                 []string `json:"cc"`
	BCC                []string `json:"bcc"`
	Priority           string   `json:"priority"`
	Channel            string   `json:"channel"`
	Status             string   `json:"status"`
	Subject            string   `json:"subject"`
	Body               string   `json:"body"`
	CreatedAt          string   `json:"createdAt"`
	FirstResponseDueBy string   `json:"firstResponseDueBy"`
	DueBy              string   `json:"dueBy"`
	Attachments        []struct {
		Name string `json:"name"`
		URL  string `json:"url"`
	} `json:"attachments"`
	Tags             []int          `json:"tags"`
	ExternalTicketID string         `json:"externalTicketId"`
	RawData          map[string]any `json:"rawData"`
}

var (
	processes  = []string{"realtime", "batch", "false"}
	priorities = []string{"low", "medium", "high", "urgent"}
	channels   = []string{"email", "portal", "phone", "letter", "system", "chat", "walkIn"}
	statuses   = []string{"open", "pending", "resolved", "closed", "waitingOnCustomer", "waitingOnThirdParty"}
)

// oneOf checks an optional enum value.
func oneOf(field, v string, allowed []string) error {
	if v == "" || slices.Contains(allowed, v) {
		return nil
	}
	return fmt.Errorf("%s %q is not one of %v", field, v, allowed)
}

// createTicket creates a ticket, or updates the one with the same
// externalTicketId: enneo's documented upsert that makes creation
// idempotent. It answers 201 for a new ticket and 200 for an update.
func (a *API) createTicket(x *exchange) (int, any) {
	var tb ticketBody
	var fields map[string]any
	err := errors.Join(
		json.Unmarshal(x.body, &tb),
		json.Unmarshal(x.body, &fields),
		oneOf("process", x.r.URL.Query().Get("process"), processes),
		oneOf("priority", tb.Priority, priorities),
		oneOf("channel", tb.Channel, channels),
		oneOf("status", tb.Status, statuses),
	)
	if err == nil && fields == nil {
		err = errors.New("body is not a JSON object")
	}
	if err == nil && !a.knownSubchannel(tb.SubchannelID) {
		err = fmt.Errorf("subchannelId %d is not a subchannel", tb.SubchannelID)
	}
	if err != nil {
		return a.reject(x, err)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	status := http.StatusOK
	t := a.tickets[a.byExternal[tb.ExternalTicketID]] // none for "": ids start at 1
	if t == nil {
		status = http.StatusCreated
		t = a.putTicketLocked(&Ticket{
			ExternalTicketID: tb.ExternalTicketID,
			Channel:          a.channelLocked(tb.SubchannelID),
			Status:           "open",
		})
	}
	merged := maps.Clone(t.Fields) // copied: earlier snapshots share the old map
	if merged == nil {
		merged = map[string]any{}
	}
	maps.Copy(merged, fields)
	t.Fields = merged
	t.Posts++
	if tb.SubchannelID != 0 {
		t.SubchannelID = tb.SubchannelID
	}
	if tb.Channel != "" {
		t.Channel = tb.Channel
	}
	if tb.Status != "" {
		t.Status = tb.Status
	}
	if tb.Subject != "" {
		t.Subject = tb.Subject
	}
	a.notifyLocked()
	answer := maps.Clone(t.Fields)
	maps.Copy(answer, compactTicket(t))
	return status, answer
}

// channelLocked is the channel of a new ticket in subchannel id.
func (a *API) channelLocked(id int) string {
	for _, s := range a.subchannels {
		if s.ID == id {
			return s.Channel
		}
	}
	return "email"
}

// compactTicket is a ticket as search lists it.
func compactTicket(t *Ticket) map[string]any {
	return map[string]any{
		"id":               t.ID,
		"externalTicketId": t.ExternalTicketID,
		"subchannelId":     t.SubchannelID,
		"channel":          t.Channel,
		"status":           t.Status,
		"subject":          t.Subject,
	}
}

type searchBody struct {
	Limit            int      `json:"limit"`
	Offset           int      `json:"offset"`
	OrderByField     string   `json:"orderByField"`
	OrderByDirection string   `json:"orderByDirection"`
	Filters          []filter `json:"filters"`
}

type filter struct {
	Key        string `json:"key"`
	Comparator string `json:"comparator"`
	Value      any    `json:"value"`
	Values     []any  `json:"values"`
}

// check rejects what the fake cannot answer faithfully, so that a test
// notices rather than getting a plausible but wrong ticket list.
func (f filter) check() error {
	if !slices.Contains([]string{"externalTicketId", "id", "subchannelId"}, f.Key) {
		return fmt.Errorf("filter key %q is not supported by the fake", f.Key)
	}
	switch f.Comparator {
	case "eq":
		if _, ok := scalar(f.Value); !ok {
			return fmt.Errorf("filter %s eq needs a string or number value, got %v", f.Key, f.Value)
		}
	case "in":
		if f.Values == nil {
			return fmt.Errorf("filter %s in needs values", f.Key)
		}
		for _, v := range f.Values {
			if _, ok := scalar(v); !ok {
				return fmt.Errorf("filter %s in: value %v is not a string or number", f.Key, v)
			}
		}
	default:
		return fmt.Errorf("filter comparator %q is not supported by the fake", f.Comparator)
	}
	return nil
}

func (f filter) match(t *Ticket) bool {
	var have string
	switch f.Key {
	case "externalTicketId":
		have = t.ExternalTicketID
	case "id":
		have = strconv.Itoa(t.ID)
	case "subchannelId":
		have = strconv.Itoa(t.SubchannelID)
	}
	if f.Comparator == "eq" {
		v, _ := scalar(f.Value)
		return v == have
	}
	return slices.ContainsFunc(f.Values, func(v any) bool {
		s, _ := scalar(v)
		return s == have
	})
}

// scalar renders a JSON string or number for comparison, so that ids match
// whether sent as 5 or "5".
func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	}
	return "", false
}

func (a *API) searchTickets(x *exchange) (int, any) {
	var sb searchBody
	err := json.Unmarshal(x.body, &sb)
	for _, f := range sb.Filters {
		err = errors.Join(err, f.check())
	}
	if sb.Limit < 0 || sb.Offset < 0 {
		err = errors.Join(err, fmt.Errorf("limit %d and offset %d must not be negative", sb.Limit, sb.Offset))
	}
	if !slices.Contains([]string{"", "id", "t.id"}, sb.OrderByField) {
		err = errors.Join(err, fmt.Errorf("orderByField %q is not supported by the fake", sb.OrderByField))
	}
	if !slices.Contains([]string{"", "asc", "desc"}, strings.ToLower(sb.OrderByDirection)) {
		err = errors.Join(err, fmt.Errorf("orderByDirection %q is not asc or desc", sb.OrderByDirection))
	}
	if err != nil {
		return a.reject(x, err)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	var found []*Ticket
	for _, t := range a.tickets {
		if !slices.ContainsFunc(sb.Filters, func(f filter) bool { return !f.match(t) }) {
			found = append(found, t)
		}
	}
	slices.SortFunc(found, func(x, y *Ticket) int { return x.ID - y.ID })
	if strings.EqualFold(sb.OrderByDirection, "desc") {
		slices.Reverse(found)
	}
	found = found[min(sb.Offset, len(found)):]
	if sb.Limit > 0 {
		found = found[:min(sb.Limit, len(found))]
	}
	list := make([]map[string]any, 0, len(found))
	for _, t := range found {
		list = append(list, compactTicket(t))
	}
	return http.StatusOK, map[string]any{"tickets": list}
}
