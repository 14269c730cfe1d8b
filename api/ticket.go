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
	"unicode/utf8"
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
// The body is what encoding/json makes of the merged fields as a map, byte
// for byte (keys in order, HTML characters escaped), written directly: a
// map, its sort and reflection cost more than the call's other JSON.
func ticketBody(o TicketOptions, t *NewTicket) ([]byte, error) {
	if err := o.Validate(); err != nil {
		return nil, &Error{Op: opCreateTicket, Class: Permanent, Err: err}
	}
	var room [16]ticketEntry
	entries := room[:0]
	for _, f := range o.Fields {
		if v := ticketFields[f](t); !empty(v) && !hasKey(entries, f) {
			entries = append(entries, ticketEntry{f, v})
		}
	}
	facts := len(entries)
	for k, v := range o.Static {
		if !hasKey(entries[:facts], k) {
			entries = append(entries, ticketEntry{k, v})
		}
	}
	// Sorted by index: moving the entries would cost a write barrier for
	// each pointer they hold.
	var order [len(room)]int
	idx := order[:0]
	for i := range entries {
		idx = append(idx, i)
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(entries[a].key, entries[b].key) })
	b := make([]byte, 0, 512)
	b = append(b, '{')
	for n, i := range idx {
		e := &entries[i]
		if n > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, e.key)
		b = append(b, ':')
		var err error
		if b, err = appendJSONValue(b, e.value); err != nil {
			return nil, &Error{Op: opCreateTicket, Class: Permanent, Err: err}
		}
	}
	return append(b, '}'), nil
}

// ticketEntry is one field of a ticket body.
type ticketEntry struct {
	key   string
	value any
}

func hasKey(entries []ticketEntry, key string) bool {
	for _, e := range entries {
		if e.key == key {
			return true
		}
	}
	return false
}

// appendJSONValue appends v as encoding/json marshals it: the facts'
// types directly, anything else (a Static value from the configuration)
// through encoding/json.
func appendJSONValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return appendJSONString(b, v), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case []string:
		if v == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		return append(b, ']'), nil
	case map[string]any:
		if stringValues(v) {
			return appendStringMap(b, v), nil
		}
	}
	j, err := json.Marshal(v)
	return append(b, j...), err
}

func stringValues(m map[string]any) bool {
	for _, v := range m {
		if _, ok := v.(string); !ok {
			return false
		}
	}
	return true
}

// appendStringMap appends m, whose values are all strings, with its keys
// in order; nil as null.
func appendStringMap(b []byte, m map[string]any) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	var room [8]string
	keys := room[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k].(string))
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string as encoding/json.Marshal
// writes it, HTML characters (<, >, &) escaped too; the escapes are the
// payload's (escapeAt).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	var buf [6]byte
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; plainByte(c) && c != '<' && c != '>' && c != '&' {
			i++
			continue
		}
		esc, n := escapeAt(&buf, s, i)
		if esc != nil {
			b = append(append(b, s[start:i]...), esc...)
			start = i + n
		}
		i += n
	}
	b = append(b, s[start:]...)
	return append(b, '"')
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
// may be a JSON number or a string of digits. A plain answer is read where
// it stands; any other (escapes in keys, invalid JSON, no id) is decoded.
func ticketID(answer []byte, path string) (int64, error) {
	if raw, ok := findPlain(answer, path); ok {
		if id, ok := plainID(raw); ok {
			return id, nil
		}
	}
	return decodedTicketID(answer, path)
}

// decodedTicketID is ticketID by a full decode of the answer.
func decodedTicketID(answer []byte, path string) (int64, error) {
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

// findPlain finds the value at the dotted path in a JSON answer without
// decoding it, for the common answer: valid JSON, objects down the path,
// keys in UTF-8 without escapes. ok is false for anything else, which the
// full decode then reads (as it would: a repeated key's last value counts).
func findPlain(answer []byte, path string) (raw []byte, ok bool) {
	if !json.Valid(answer) {
		return nil, false
	}
	i := skipSpace(answer, 0)
	for k := range strings.SplitSeq(path, ".") {
		if answer[i] != '{' {
			return nil, false
		}
		found := -1
		i = skipSpace(answer, i+1)
		for answer[i] != '}' {
			end := i + 1 + bytes.IndexByte(answer[i+1:], '"')
			key := answer[i+1 : end]
			if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) {
				// The decode unescapes the key, or reads its bytes
				// that are not UTF-8 as U+FFFD.
				return nil, false
			}
			v := skipSpace(answer, skipSpace(answer, end+1)+1) // past the colon
			if string(key) == k {
				found = v
			}
			i = skipSpace(answer, skipValue(answer, v))
			if answer[i] == ',' {
				i = skipSpace(answer, i+1)
			}
		}
		if found < 0 {
			return nil, false
		}
		i = found
	}
	return answer[i:skipValue(answer, i)], true
}

// plainID reads an id found by findPlain as idValue does: a number, or a
// string of digits without escapes.
func plainID(raw []byte) (int64, bool) {
	if raw[0] == '"' {
		raw = raw[1 : len(raw)-1]
		if bytes.IndexByte(raw, '\\') >= 0 {
			return 0, false
		}
		raw = bytes.TrimSpace(raw)
	}
	id, err := strconv.ParseInt(string(raw), 10, 64)
	return id, err == nil && id > 0
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the value at b[i] in valid JSON.
func skipValue(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
			if depth < 0 {
				return i
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
	}
	return i
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
