package mailauth

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"strings"

	"golang.org/x/net/idna"
)

// Field is one header field of a message, unfolded: its name as written
// and its value without the leading space.
type Field struct {
	Name, Value string
}

// Fields reads the whole header section of raw as a DKIM verifier does:
// every line up to the first empty one, continuation lines joined to the
// field above. well is false when a line is not a field (no colon, or a
// name with other than printable ASCII): Go's textproto and other
// parsers stop there, so what a DKIM verifier signs and what they show
// would differ.
func Fields(raw []byte) (fields []Field, well bool) {
	well = true
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(fields) == 0 {
				well = false
				continue
			}
			f := &fields[len(fields)-1]
			f.Value += " " + strings.TrimSpace(string(line))
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !fieldName(bytes.TrimRight(name, " \t")) {
			well = false
			continue
		}
		fields = append(fields, Field{Name: string(bytes.TrimRight(name, " \t")), Value: strings.TrimSpace(string(value))})
	}
	return fields, well
}

// fieldName says whether n is an RFC 5322 field name: printable ASCII
// other than the colon.
func fieldName(n []byte) bool {
	if len(n) == 0 {
		return false
	}
	for _, c := range n {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// CountFields counts the fields named name (any case) in fields.
func CountFields(fields []Field, name string) int {
	n := 0
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			n++
		}
	}
	return n
}

// addressParser reads address lists whatever the charset of an encoded
// display name: only the addresses matter here, so a charset Go does not
// know is passed through undecoded rather than failing the list.
var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
}}

// ParseAddressList parses an address header's value with a parser that
// accepts encoded display names in any charset.
func ParseAddressList(v string) ([]*mail.Address, error) {
	return addressParser.ParseList(v)
}

// fromDomain is the domain of the message's single From address, in
// ASCII (A-labels); ok is false for a message without one, with several
// From fields or several addresses in it, or with a malformed header line
// (DMARC cannot name a domain: permerror).
func fromDomain(raw []byte) (string, bool) {
	fields, well := Fields(raw)
	if !well || CountFields(fields, "From") != 1 {
		return "", false
	}
	var from string
	for _, f := range fields {
		if strings.EqualFold(f.Name, "From") {
			from = f.Value
		}
	}
	addrs, err := ParseAddressList(from)
	if err != nil || len(addrs) != 1 {
		return "", false
	}
	at := strings.LastIndexByte(addrs[0].Address, '@')
	if at < 0 {
		return "", false
	}
	d := strings.TrimSuffix(addrs[0].Address[at+1:], ".")
	if !isASCII(d) {
		// An RFC 6532 domain is looked up, and named by verifiers, in
		// its A-label form.
		a, err := idna.Lookup.ToASCII(d)
		if err != nil {
			return "", false
		}
		d = a
	}
	if d == "" {
		return "", false
	}
	return strings.ToLower(d), true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
