package smtp

import (
	"net/netip"
	"strings"
	"time"
)

// received holds what a Received header records.
type received struct {
	helo       string
	ip         netip.Addr
	by         string
	proto      string // ESMTP, ESMTPS, ESMTPSA, LMTP (RFC 3848)
	tlsVersion string
	id         string
	rcpts      []string
	at         time.Time
}

// receivedHeader renders the trace header an MTA prepends (RFC 5321
// 4.4), folded, with CRLF line ends:
//
//	Received: from mx.example.org ([192.0.2.1])
//		(using TLS 1.3)
//		by mailbridge.example.com (mailbridge) with ESMTPS id 0a1b2c3d4e5f
//		for <support@example.com>; Wed, 25 Nov 2026 03:00:00 +0000
//
// There is no reverse DNS lookup: it would cost a query per connection
// and the IP literal is what anyone checking a trace trusts anyway. "for"
// is written only for a single recipient, as MTAs do, so that one
// recipient's copy does not list the others.
func receivedHeader(r received) []byte {
	var b strings.Builder
	b.WriteString("Received: from ")
	b.WriteString(sanitize(r.helo))
	b.WriteString(" ([")
	if r.ip.Is6() {
		b.WriteString("IPv6:")
	}
	b.WriteString(r.ip.String())
	b.WriteString("])\r\n")
	if r.tlsVersion != "" {
		b.WriteString("\t(using " + r.tlsVersion + ")\r\n")
	}
	b.WriteString("\tby " + sanitize(r.by) + " (mailbridge) with " + r.proto)
	if r.id != "" {
		b.WriteString(" id " + r.id)
	}
	if len(r.rcpts) == 1 {
		b.WriteString("\r\n\tfor <" + sanitize(r.rcpts[0]) + ">")
	}
	b.WriteString("; " + r.at.Format(time.RFC1123Z) + "\r\n")
	return []byte(b.String())
}

// sanitize keeps client-supplied words from breaking the header: no
// control characters, spaces or parentheses, at most 255 bytes. UTF-8 is
// kept (RFC 6532 headers, SMTPUTF8 addresses).
func sanitize(s string) string {
	if len(s) > 255 {
		s = s[:255]
	}
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f || r == '(' || r == ')' || r == '<' || r == '>' || r == ';' {
			return '?'
		}
		return r
	}, s)
}
