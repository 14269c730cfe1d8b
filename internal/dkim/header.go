package dkim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

const crlf = "\r\n"

type header []string

// readHeader splits raw into its header fields, each with its
// continuation lines and a CRLF after each line, and the body after the
// empty line. Lines end in LF, with or without a CR before it. A field
// whose lines all end in CRLF is a slice of one string holding the whole
// header.
func readHeader(raw []byte) (header, []byte, error) {
	end := 0
	for {
		i := bytes.IndexByte(raw[end:], '\n')
		if i < 0 {
			if end < len(raw) {
				// A last line without LF is read as a line, and then
				// the header has no end.
				end = len(raw)
			}
			break
		}
		line := raw[end : end+i]
		end += i + 1
		if len(line) == 0 || len(line) == 1 && line[0] == '\r' {
			return splitHeader(string(raw[:end])), raw[end:], nil
		}
	}
	h := splitHeader(string(raw[:end]))
	return h, nil, fmt.Errorf("failed to read header: %v", io.EOF)
}

// splitHeader reads s, a header up to and including its empty line, or
// all of a header without one, as readHeader describes.
func splitHeader(s string) header {
	var h header
	fieldStart, whole := 0, false // the last field is s[fieldStart:start] if whole
	for start := 0; start < len(s); {
		next := len(s)
		lineEnd := next
		if i := strings.IndexByte(s[start:], '\n'); i >= 0 {
			lineEnd, next = start+i, start+i+1
			if lineEnd > start && s[lineEnd-1] == '\r' {
				lineEnd--
			}
		}
		if lineEnd == start {
			break
		}
		crlfEnded := next-lineEnd == 2
		switch {
		case len(h) > 0 && (s[start] == ' ' || s[start] == '\t'):
			// This is a continuation line
			if whole && crlfEnded {
				h[len(h)-1] = s[fieldStart:next]
			} else {
				h[len(h)-1] += s[start:lineEnd] + crlf
				whole = false
			}
		case crlfEnded:
			h = append(h, s[start:next])
			fieldStart, whole = start, true
		default:
			h = append(h, s[start:lineEnd]+crlf)
			whole = false
		}
		start = next
	}
	return h
}

func parseHeaderField(s string) (string, string) {
	key, value, _ := strings.Cut(s, ":")
	return strings.TrimSpace(key), strings.TrimSpace(value)
}

func parseHeaderParams(s string) (map[string]string, error) {
	pairs := strings.Split(s, ";")
	params := make(map[string]string)
	for _, s := range pairs {
		key, value, ok := strings.Cut(s, "=")
		if !ok {
			if strings.TrimSpace(s) == "" {
				continue
			}
			return params, errors.New("dkim: malformed header params")
		}

		trimmedKey := strings.TrimSpace(key)
		_, present := params[trimmedKey]
		if present {
			return params, errors.New("dkim: duplicate tag name")
		}
		params[trimmedKey] = strings.TrimSpace(value)
	}
	return params, nil
}

type headerPicker struct {
	h      header
	picked map[string]int
}

func newHeaderPicker(h header) *headerPicker {
	return &headerPicker{
		h:      h,
		picked: make(map[string]int),
	}
}

func (p *headerPicker) Pick(key string) string {
	key = strings.ToLower(key)

	at := p.picked[key]
	for i := len(p.h) - 1; i >= 0; i-- {
		kv := p.h[i]
		k, _ := parseHeaderField(kv)

		if !strings.EqualFold(k, key) {
			continue
		}

		if at == 0 {
			p.picked[key]++
			return kv
		}
		at--
	}

	return ""
}
