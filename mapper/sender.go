package mapper

import (
	"net/mail"
	"strings"

	"github.com/enneo/mailbridge/internal/enmime"
)

// entries returns the address header key as read from its raw value, and
// warns, once per header, about each entry dropped and each display name
// whose charset had to be guessed.
func (m *mapping) entries(key string) []addrEntry {
	for _, h := range m.addrs[:m.nAddrs] {
		if h.key == key {
			return h.list
		}
	}
	// Raw 8-bit bytes are read in the message's charset before the list is
	// split: they are never syntax, but a GBK or Shift_JIS byte after the
	// first may look like '@' or '\'.
	raw := strings.TrimSpace(m.top.Header.Get(key))
	if len(raw) > maxAddressHeader {
		// Reading an address costs some sixty times its size; a real list
		// of this size is a mass mailing's.
		cut := strings.LastIndexAny(raw[:maxAddressHeader], ",;")
		if cut < 0 {
			cut = maxAddressHeader
		}
		m.warn("%s: the header is %d bytes: only the addresses in its first %s are read", key, len(raw), sizeText(maxAddressHeader))
		raw = raw[:cut]
	}
	if enmime.NeedsRawDecoding(raw) {
		if m.raw == nil {
			m.raw = enmime.NewRawHeaderDecoder(m.top)
		}
		// An address in raw 8-bit bytes stays as it is, and is dropped as
		// unreadable: which mailbox it names is unknown.
		var note string
		raw, note = m.raw.DecodeExcept(raw, func(w string) bool { return strings.Contains(w, "@") })
		if note != "" {
			m.warn("%s: %s", key, note)
		}
	}
	var list []addrEntry
	if raw != "<>" { // a bounce's null reverse-path: no address, and no fault
		list = parseAddressList(raw)
	}
	for _, e := range list {
		switch {
		case e.problem != "":
			m.warn("%s: dropped unreadable entry %q (%s)", key, cleanText(e.raw), e.problem)
		case e.charset != "":
			m.warn("%s: display name %q has raw 8-bit bytes and no charset: read as %s", key, e.Name, e.charset)
		}
	}
	if m.nAddrs < len(m.addrs) {
		m.addrs[m.nAddrs] = parsedHeader{key, list}
		m.nAddrs++
	}
	return list
}

// parsedHeader is an address header as entries read it.
type parsedHeader struct {
	key  string
	list []addrEntry
}

// usable returns the usable addresses of an address header, in order.
func (m *mapping) usable(key string) []addrEntry {
	var out []addrEntry
	for _, e := range m.entries(key) {
		if e.problem == "" {
			out = append(out, e)
		}
	}
	return out
}

// addresses returns the bare addresses of an address header ([] if none).
func (m *mapping) addresses(key string) []string {
	out := []string{}
	for _, a := range m.usable(key) {
		out = append(out, a.Address)
	}
	return out
}

// named returns an address header as "Name <addr>" (or "addr" where there is
// no name), the form ccEmails documents.
func (m *mapping) named(key string) []string {
	var out []string
	for _, a := range m.usable(key) {
		out = append(out, formatAddress(&mail.Address{Name: a.Name, Address: a.Address}))
	}
	return out
}

// sender returns the From address and display name. Mail whose From holds
// no usable address is answered where its other headers say replies may
// go: Reply-To, then Sender, then the SMTP envelope's MAIL FROM, then
// Return-Path (which the final MTA copies from MAIL FROM). m.senderSource
// records which.
func (m *mapping) sender() (addr, name string) {
	from := m.entries("From")
	for _, e := range from {
		if e.problem == "" {
			return e.Address, e.Name
		}
	}
	// A name read from an unusable From ("Müller, Bernd" <>) still names
	// the person better than a bare fallback address does.
	var fromName string
	for _, e := range from {
		if e.Name != "" {
			fromName = e.Name
			break
		}
	}
	found := func(header, source string, e addrEntry) (string, string) {
		m.senderSource = source
		m.warn("no usable From address: sender taken from %s", header)
		if e.Name == "" {
			e.Name = fromName
		}
		return e.Address, e.Name
	}
	for _, h := range []struct{ key, source string }{{"Reply-To", "reply-to"}, {"Sender", "sender"}} {
		if list := m.usable(h.key); len(list) > 0 {
			return found(h.key, h.source, list[0])
		}
	}
	if env := strings.TrimSpace(m.opts.EnvelopeFrom); env != "" && env != "<>" {
		for _, e := range parseAddressList(env) {
			if e.problem == "" {
				e.Address = stripBATV(e.Address)
				return found("the SMTP envelope (MAIL FROM)", "envelope", e)
			}
		}
	}
	if list := m.usable("Return-Path"); len(list) > 0 {
		e := list[0]
		e.Address = stripBATV(e.Address)
		return found("Return-Path", "return-path", e)
	}
	m.warn("no sender address found")
	return "", fromName
}

// stripBATV removes the BATV tag (RFC draft "prvs=TAG=local@domain") that
// Exchange Online and other senders put on envelope addresses to spot
// forged bounces. The tag expires within days, so an answer sent to the
// tagged address later would bounce; the untagged one is the mailbox.
func stripBATV(addr string) string {
	if len(addr) > 5 && strings.EqualFold(addr[:5], "prvs=") {
		rest := addr[5:]
		if i := strings.IndexByte(rest, '='); i > 0 && i < strings.LastIndexByte(rest, '@') {
			return rest[i+1:]
		}
	}
	return addr
}
