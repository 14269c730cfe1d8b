package enmime

import (
	"bufio"
	"bytes"
	"net/mail"
	"net/textproto"
	"sync"

	"github.com/enneo/mailbridge/internal/enmime/internal/coding"
	"github.com/enneo/mailbridge/internal/enmime/internal/stringutil"
	inttp "github.com/enneo/mailbridge/internal/enmime/internal/textproto"

	"github.com/pkg/errors"
)

const (
	// Standard MIME content dispositions
	cdAttachment = "attachment"
	cdInline     = "inline"

	// Standard MIME content types
	ctAppOctetStream   = "application/octet-stream"
	ctMultipartAltern  = "multipart/alternative"
	ctMultipartMixed   = "multipart/mixed"
	ctMultipartPrefix  = "multipart/"
	ctMultipartRelated = "multipart/related"
	ctTextPlain        = "text/plain"
	ctTextHTML         = "text/html"

	// Standard Transfer encodings
	cte7Bit            = "7bit"
	cte8Bit            = "8bit"
	cteBase64          = "base64"
	cteBinary          = "binary"
	cteQuotedPrintable = "quoted-printable"
	cteUUEncode        = "x-uuencode"

	// Standard MIME header names
	hnContentDisposition = "Content-Disposition"
	hnContentEncoding    = "Content-Transfer-Encoding"
	hnContentID          = "Content-ID"
	hnContentType        = "Content-Type"
	hnMIMEVersion        = "MIME-Version"

	// Standard MIME header parameters
	hpBoundary = "boundary"
	hpCharset  = "charset"
	hpFile     = "file"
	hpFilename = "filename"
	hpName     = "name"
	hpModDate  = "modification-date"

	utf8 = "utf-8"
)

// AddressHeaders is the set of SMTP headers that contain email addresses, used by
// Envelope.AddressList().  Key characters must be all lowercase.
var AddressHeaders = map[string]bool{
	"bcc":             true,
	"cc":              true,
	"delivered-to":    true,
	"from":            true,
	"reply-to":        true,
	"to":              true,
	"sender":          true,
	"resent-bcc":      true,
	"resent-cc":       true,
	"resent-from":     true,
	"resent-reply-to": true,
	"resent-to":       true,
	"resent-sender":   true,
}

// ParseAddressList returns a mail.Address slice with RFC 2047 encoded names converted to UTF-8.
// It is more tolerant of malformed headers than the ParseAddressList func provided in Go's net/mail
// package.
func ParseAddressList(list string) ([]*mail.Address, error) {
	parser := mail.AddressParser{WordDecoder: coding.NewExtMimeDecoder()}

	ret, err := parser.ParseList(list)
	if err != nil {
		switch err.Error() {
		case "mail: expected comma":
			// Attempt to add commas and parse again.
			return parser.ParseList(stringutil.EnsureCommaDelimitedAddresses(list))
		case "mail: no address":
			return nil, mail.ErrHeaderNotPresent
		}
		return nil, err
	}

	for i := range ret {
		// try to additionally decode with less strict decoder
		ret[i].Name = coding.DecodeExtHeader(ret[i].Name)
		ret[i].Address = coding.DecodeExtHeader(ret[i].Address)
	}

	return ret, nil
}

// ReadHeader reads a block of SMTP or MIME headers and returns a
// textproto.MIMEHeader. Header parse warnings & errors will be added to
// ErrorCollector, io errors will be returned directly.
func ReadHeader(r *bufio.Reader, p ErrorCollector) (textproto.MIMEHeader, error) {
	h, _, err := readHeaderMax(r, p, MaxHeaderBytes)
	return h, err
}

// readHeaderMax is ReadHeader keeping at most limit bytes of fields; it
// also returns how many it kept.
func readHeaderMax(r *bufio.Reader, p ErrorCollector, limit int) (textproto.MIMEHeader, int, error) {
	// buf holds the massaged output for textproto.Reader.ReadMIMEHeader()
	// The header keeps nothing of buf or of the reader of it below: both
	// come from a pool.
	sc := headerScratches.Get().(*headerScratch)
	defer sc.put()
	buf := &sc.buf
	tp := inttp.NewReader(r)
	firstHeader := true
	dropped, skipping := false, false
line:
	for {
		// Pull out each line of the headers as a temporary slice s, valid
		// until the next read: what is kept of it is copied into buf.
		s, err := tp.ReadLineSlice()
		if err != nil {
			buf.Write([]byte{'\r', '\n'})
			break
		}
		if len(s) > 0 {
			if s[0] != ' ' && s[0] != '\t' {
				// A field line: kept while the header stays within the
				// bound; a field costs the parse some ten times its size.
				skipping = buf.Len()+len(s) > limit
			}
			if skipping || buf.Len()+len(s) > limit {
				// Read on to the end of the header, dropping the field
				// (and its continuation lines).
				skipping = true
				if !dropped {
					p.AddWarning(ErrorMalformedHeader, "header fields beyond %d bytes dropped", limit)
					dropped = true
				}
				continue
			}
		}

		firstColon := bytes.IndexByte(s, ':')
		firstSpace := bytes.IndexAny(s, " \t\n\r")
		if firstSpace == 0 {
			// Starts with space: continuation
			buf.WriteByte(' ')
			buf.Write(inttp.TrimBytes(s))
			continue
		}
		if firstColon == 0 {
			// Can't parse line starting with colon: skip
			p.AddError(ErrorMalformedHeader, "Header line %q started with a colon", s)
			continue
		}
		if firstColon > 0 {
			// Behavior change in net/textproto package in Golang 1.12.10 and 1.13.1:
			// A space preceding the first colon in a header line is no longer handled
			// automatically due to CVE-2019-16276 which takes advantage of this
			// particular violation of RFC-7230 to exploit HTTP/1.1
			if bytes.Contains(s[:firstColon+1], []byte{' ', ':'}) {
				s = bytes.Replace(s, []byte{' ', ':'}, []byte{':'}, 1)
				firstColon = bytes.IndexByte(s, ':')
			}

			// Behavior change in net/textproto package in Golang 1.20: invalid characters
			// in header keys are no longer allowed; https://github.com/golang/go/issues/53188
			for _, c := range s[:firstColon] {
				if c != ' ' && !inttp.ValidEmailHeaderFieldByte(c) {
					p.AddError(
						ErrorMalformedHeader, "Header name %q contains invalid character %q", s, c)
					continue line
				}
			}

			// Contains a colon, treat as a new header line
			if !firstHeader {
				// New Header line, end the previous
				buf.Write([]byte{'\r', '\n'})
			}

			s = inttp.TrimBytes(s)
			buf.Write(s)
			firstHeader = false
		} else {
			// No colon: potential non-indented continuation
			if len(s) > 0 {
				// Attempt to detect and repair a non-indented continuation of previous line
				buf.WriteByte(' ')
				buf.Write(s)
				p.AddWarning(ErrorMalformedHeader, "Continued line %q was not indented", s)
			} else {
				// Empty line, finish header parsing
				buf.Write([]byte{'\r', '\n'})
				break
			}
		}
	}

	buf.Write([]byte{'\r', '\n'})
	kept := buf.Len()
	// Sized to hold the whole block, so that no line is gathered piecewise.
	br := sc.br
	if kept > pooledHeaderBytes {
		br = bufio.NewReaderSize(nil, kept)
	}
	br.Reset(buf)
	header, err := inttp.NewReader(br).ReadEmailMIMEHeader()
	br.Reset(nil)
	return textproto.MIMEHeader(header), kept, errors.WithStack(err)
}

// pooledHeaderBytes is the size of the pooled readers of readHeaderMax and
// the largest buffer it puts back in the pool: a header block a good deal
// larger than most.
const pooledHeaderBytes = 16 << 10

// headerScratch is readHeaderMax's working memory.
type headerScratch struct {
	buf bytes.Buffer // the header block, unfolded
	br  *bufio.Reader
}

var headerScratches = sync.Pool{New: func() any {
	return &headerScratch{br: bufio.NewReaderSize(nil, pooledHeaderBytes)}
}}

func (sc *headerScratch) put() {
	if sc.buf.Cap() > pooledHeaderBytes {
		return // a rare large header is not kept
	}
	sc.buf.Reset()
	headerScratches.Put(sc)
}

// readHeader reads a block of SMTP or MIME headers and returns a textproto.MIMEHeader.
// Header parse warnings & errors will be added to p.Errors, io errors will be returned directly.
//
// The parts of one message share a budget of header bytes: a header field
// costs the parse some ten times its size, and a crafted message can be
// all part headers.
func readHeader(r *bufio.Reader, p *Part) (textproto.MIMEHeader, error) {
	limit := MaxHeaderBytes
	if p.parser != nil {
		limit = min(limit, maxMessageHeaderBytes-p.parser.headerBytes)
	}
	h, kept, err := readHeaderMax(r, &partErrorCollector{p}, limit)
	if p.parser != nil {
		p.parser.headerBytes += kept
	}
	return h, err
}
