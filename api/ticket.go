package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// ticketFields maps the names allowed in TicketOptions.Fields to the
// NewTicket fact each one sends.
var ticketFields = map[string]func(*NewTicket) any{
	"subchannelId":     func(t *NewTicket) any { return t.SubchannelID },
	"from":             func(t *NewTicket) any { return t.From },
	"fromName":         func(t *NewTicket) any { return t.FromName },
	"to":               func(t *NewTicket) any { return t.To },
	"cc":               func(t *NewTicket) any { return t.CC },
	"subject":          func(t *NewTicket) any { return t.Subject },
	"body":             func(t *NewTicket) any { return t.Body },
	"createdAt":        func(t *NewTicket) any { return t.CreatedAt },
	"externalTicketId": func(t *NewTicket) any { return t.ExternalTicketID },
	"rawData":          func(t *NewTicket) any { return t.RawData },
}

// Validate reports an entry of Fields that names no NewTicket fact, so a
// typo in the configuration shows at start rather than on the first new
// thread.
func (o TicketOptions) Validate() error {
	for _, f := range o.Fields {
		if _, ok := ticketFields[f]; !ok {
			return fmt.Errorf("unknown ticket field %q (known: %s)", f,
				strings.Join(slices.Sorted(maps.Keys(ticketFields)), ", "))
		}
	}
	return nil
}

// ticketBody is the JSON body of a ticket creation: the Static fields,
// overlaid with the listed facts of t. An empty fact is left out so that
// a Static value of the same name, or the server's default, applies.
func ticketBody(o TicketOptions, t *NewTicket) ([]byte, error) {
	if err := o.Validate(); err != nil {
		return nil, &Error{Op: opCreateTicket, Class: Permanent, Err: err}
	}
	body := maps.Clone(o.Static)
	if body == nil {
		body = make(map[string]any, len(o.Fields))
	}
	for _, f := range o.Fields {
		if v := ticketFields[f](t); !empty(v) {
			body[f] = v
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, &Error{Op: opCreateTicket, Class: Permanent, Err: err}
	}
	return b, nil
}

func empty(v any) bool {
	switch v := v.(type) {
	case int:
		return v == 0
	case string:
		return v == ""
	case []string:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return v == nil
}

// ticketID reads the new ticket's id at the dotted path in answer. The id
// may be a JSON number or a string of digits.
func ticketID(answer []byte, path string) (int64, error) {
	var v any
	if err := decodeNumbers(answer, &v); err != nil {
		return 0, fmt.Errorf("answer is not JSON: %w", err)
	}
	for k := range strings.SplitSeq(path, ".") {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	id, ok := idValue(v)
	if !ok {
		return 0, errors.New("no ticket id at " + strconv.Quote(path))
	}
	return id, nil
}

// decodeNumbers decodes JSON keeping numbers as json.Number, so that large
// ids survive and idValue can read them.
func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// idValue reads a positive id decoded by decodeNumbers: a JSON number or a
// string of digits.
func idValue(v any) (int64, bool) {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = v.String()
	case string:
		s = strings.TrimSpace(v)
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}
