package mailauth

import (
	"bufio"
	"bytes"
	"cmp"
	"net/textproto"
	"strings"
	"sync"
)

// Header renders r as the Authentication-Results header mailbridge
// prepends to a message it verified, folded, with CRLF line ends:
//
//	Authentication-Results: mx.example.com;
//		dkim=pass header.d=example.org;
//		spf=pass smtp.mailfrom=example.org;
//		dmarc=pass (p=reject) header.from=example.org
func Header(authservID string, r *Result) []byte {
	var b strings.Builder
	b.WriteString("Authentication-Results: " + token(authservID))
	if len(r.Signatures) == 0 {
		b.WriteString(";\r\n\tdkim=none")
	}
	for _, s := range r.Signatures {
		b.WriteString(";\r\n\tdkim=" + s.Result)
		if s.Domain != "" {
			b.WriteString(" header.d=" + token(s.Domain))
		}
	}
	b.WriteString(";\r\n\tspf=" + r.SPF)
	if r.SPFDomain != "" {
		b.WriteString(" smtp.mailfrom=" + token(r.SPFDomain))
	}
	b.WriteString(";\r\n\tdmarc=" + r.DMARC)
	if r.Policy != "" {
		b.WriteString(" (p=" + token(r.Policy) + ")")
	}
	if r.FromDomain != "" {
		b.WriteString(" header.from=" + token(r.FromDomain))
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// token keeps a value from breaking the header's syntax.
func token(s string) string {
	if s == "" {
		return "unknown"
	}
	if len(s) > 255 {
		s = s[:255]
	}
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`()<>;"\`, r) {
			return '?'
		}
		return r
	}, s)
}

// FromHeaders reads the verdict of the topmost Authentication-Results
// header whose authserv-id is one of trusted: the one the nearest trusted
// server added above anything the sender could have written. Headers of
// other authserv-ids are skipped; nil means no trusted header. ownID is
// mailbridge's own authserv-id: a header with it counts only as the very
// first field of the message, where the SMTP source puts it, so a copy a
// sender wrote further down is ignored; its Source is verified, any other
// trusted-header.
func FromHeaders(raw []byte, trusted []string, ownID string) *Result {
	fields := headerFields(raw, "Authentication-Results", 64)
	for i, f := range fields {
		id, results, ok := parseAR(f.value)
		if !ok {
			continue
		}
		if ownID != "" && strings.EqualFold(id, ownID) {
			if i == 0 && f.index == 0 {
				r := resultOf(results, raw)
				r.Source, r.AuthservID = SourceVerified, id
				return r
			}
			continue
		}
		for _, t := range trusted {
			if strings.EqualFold(id, t) {
				r := resultOf(results, raw)
				r.Source, r.AuthservID = SourceTrustedHeader, id
				return r
			}
		}
	}
	return nil
}

type field struct {
	index int // position among all header fields
	value string
}

// headerFields returns the values of the fields named name, top to
// bottom, at most max of them, unfolded.
func headerFields(raw []byte, name string, max int) []field {
	fr := fieldReaders.Get().(*fieldReader)
	defer fr.put()
	fr.raw.Reset(raw)
	fr.br.Reset(&fr.raw)
	r := textproto.NewReader(&fr.br)
	var out []field
	for i := 0; len(out) < max; i++ {
		line, err := r.ReadContinuedLine()
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			out = append(out, field{index: i, value: v})
		}
		if err != nil {
			break
		}
	}
	return out
}

// fieldReader is the reader headerFields reads through, pooled: it runs
// for every message. The fields it returns are copies.
type fieldReader struct {
	raw bytes.Reader
	br  bufio.Reader
}

var fieldReaders = sync.Pool{New: func() any { return new(fieldReader) }}

func (fr *fieldReader) put() {
	fr.raw.Reset(nil)
	fr.br.Reset(&fr.raw)
	fieldReaders.Put(fr)
}

// arResult is one method's result in an Authentication-Results header.
type arResult struct {
	method, value string
	props         map[string]string
	comment       string
}

// parseAR splits an Authentication-Results value into its authserv-id
// and results. Comments are kept apart (DMARC verifiers write the policy
// in one: "dmarc=fail (p=reject dis=none)"). A header without an
// authserv-id is not ok: it cannot be trusted.
func parseAR(v string) (id string, results []arResult, ok bool) {
	parts := splitOutsideComments(v)
	if len(parts) == 0 {
		return "", nil, false
	}
	head, _ := stripComments(parts[0])
	fs := strings.Fields(head)
	if len(fs) == 0 || strings.Contains(fs[0], "=") {
		return "", nil, false
	}
	id = fs[0]
	for _, p := range parts[1:] {
		text, comment := stripComments(p)
		fs := strings.Fields(text)
		if len(fs) == 0 {
			continue
		}
		m, val, ok := strings.Cut(fs[0], "=")
		if !ok {
			continue
		}
		res := arResult{method: strings.ToLower(m), value: strings.ToLower(val), props: map[string]string{}, comment: comment}
		for _, f := range fs[1:] {
			if k, v, ok := strings.Cut(f, "="); ok {
				res.props[strings.ToLower(k)] = strings.Trim(v, `"`)
			}
		}
		results = append(results, res)
	}
	return id, results, true
}

// splitOutsideComments splits on semicolons outside comments and quotes.
func splitOutsideComments(s string) []string {
	var parts []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == ';' && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// stripComments removes (comments) and returns them joined.
func stripComments(s string) (text, comments string) {
	var t, c strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '(':
			depth++
			if depth == 1 {
				t.WriteByte(' ')
				continue
			}
		case ch == ')' && depth > 0:
			depth--
			if depth == 0 {
				c.WriteByte(' ')
				continue
			}
		}
		if depth > 0 {
			c.WriteByte(ch)
		} else {
			t.WriteByte(ch)
		}
	}
	return t.String(), strings.TrimSpace(c.String())
}

// resultOf summarizes one header's results as Verify would have; raw
// gives the From domain where the header names none.
func resultOf(results []arResult, raw []byte) *Result {
	r := &Result{DKIM: None, SPF: None, DMARC: None}
	for _, a := range results {
		switch a.method {
		case "dkim":
			if a.value == None {
				continue
			}
			r.Signatures = append(r.Signatures, Signature{Domain: strings.ToLower(a.props["header.d"]), Result: a.value})
		case "spf":
			if r.SPF == None {
				r.SPF = a.value
				r.SPFDomain = strings.ToLower(domainOf(a.props["smtp.mailfrom"]))
			}
		case "dmarc":
			if r.DMARC == None {
				r.DMARC = a.value
				r.FromDomain = strings.ToLower(a.props["header.from"])
				r.Policy = policyOf(a.comment)
			}
		}
	}
	if len(r.Signatures) > 0 {
		r.DKIM = bestDKIM(r.Signatures)
	}
	if r.FromDomain == "" {
		// A verifier without DMARC (OpenDKIM alone) names no From domain.
		r.FromDomain, _ = fromDomain(raw)
	}
	switch r.DMARC {
	case Pass:
		// The header does not say which identifier aligned (strict or
		// relaxed is the policy's); the relaxed match, else the From
		// domain the verifier vouched for.
		r.AlignedDomain = cmp.Or(alignedPass(r, r.FromDomain, "", ""), r.FromDomain)
	case None:
		r.AlignedDomain = alignedPass(r, r.FromDomain, "", "")
	}
	return r
}

// policyOf finds p=POLICY in a DMARC result's comment, as OpenDMARC,
// Gmail and mailbridge write it, or policy=POLICY, as rspamd does.
func policyOf(comment string) string {
	for _, f := range strings.Fields(comment) {
		if k, v, ok := strings.Cut(f, "="); ok && (strings.EqualFold(k, "p") || strings.EqualFold(k, "policy")) {
			return strings.ToLower(strings.Trim(v, ",;"))
		}
	}
	return ""
}

func domainOf(addr string) string {
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		return addr[at+1:]
	}
	return addr
}
