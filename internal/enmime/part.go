package enmime

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand"
	"mime"
	"mime/quotedprintable"
	"net/textproto"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
	u8 "unicode/utf8"

	"github.com/enneo/mailbridge/internal/enmime/internal/coding"
	inttp "github.com/enneo/mailbridge/internal/enmime/internal/textproto"
	"github.com/enneo/mailbridge/internal/enmime/mediatype"
	"github.com/gogs/chardet"
	"github.com/pkg/errors"
)

const (
	minCharsetConfidence = 85
)

// Part represents a node in the MIME multipart tree.  The Content-Type, Disposition and File Name
// are parsed out of the header for easier access.
type Part struct {
	PartID      string               // PartID labels this part's position within the tree.
	Parent      *Part                // Parent of this part (can be nil.)
	FirstChild  *Part                // FirstChild is the top most child of this part.
	NextSibling *Part                // NextSibling of this part.
	Header      textproto.MIMEHeader // Header for this part.

	Boundary          string            // Boundary marker used within this part.
	ContentID         string            // ContentID header for cid URL scheme.
	ContentType       string            // ContentType header without parameters.
	ContentTypeParams map[string]string // Params, added to ContentType header.
	Disposition       string            // Content-Disposition header without parameters.
	FileName          string            // The file-name from disposition or type header.
	FileModDate       time.Time         // The modification date of the file.
	Charset           string            // The content charset encoding, may differ from charset in header.
	OrigCharset       string            // The original content charset when a different charset was detected.

	Errors        []*Error  // Errors encountered while parsing this part.
	Content       []byte    // Content after decoding, UTF-8 conversion if applicable.
	ContentReader io.Reader // Reader interface for pulling the content for encoding.
	Epilogue      []byte    // Epilogue contains data following the closing boundary marker.

	parser *Parser // Provides access to parsing options.

	randSource rand.Source // optional rand for uuid boundary generation

	encoder *Encoder // provides encoding options
}

// NewPart creates a new Part object.
func NewPart(contentType string) *Part {
	return &Part{
		Header:            make(textproto.MIMEHeader),
		ContentType:       contentType,
		ContentTypeParams: make(map[string]string),
		parser:            &defaultParser,
	}
}

// AddChild adds a child part to either FirstChild or the end of the children NextSibling chain.
// The child may have siblings and children attached.  This method will set the Parent field on
// child and all its siblings. Safe to call on nil.
func (p *Part) AddChild(child *Part) {
	if p == child {
		// Prevent paradox.
		return
	}
	if p != nil {
		if p.FirstChild == nil {
			// Make it the first child.
			p.FirstChild = child
		} else {
			// Append to sibling chain.
			current := p.FirstChild
			for current.NextSibling != nil {
				current = current.NextSibling
			}
			if current == child {
				// Prevent infinite loop.
				return
			}
			current.NextSibling = child
		}
	}
	// Update all new first-level children Parent pointers.
	for c := child; c != nil; c = c.NextSibling {
		if c == c.NextSibling {
			// Prevent infinite loop.
			return
		}
		c.Parent = p
	}
}

// TextContent indicates whether the content is text based on its content type.  This value
// determines what content transfer encoding scheme to use.
func (p *Part) TextContent() bool {
	if p.ContentType == "" {
		// RFC 2045: no CT is equivalent to "text/plain; charset=us-ascii"
		return true
	}
	return strings.HasPrefix(p.ContentType, "text/") ||
		strings.HasPrefix(p.ContentType, ctMultipartPrefix)
}

// setupHeaders reads the header, then populates the MIME header values for this Part.
func (p *Part) setupHeaders(r *bufio.Reader, defaultContentType string) error {
	header, err := readHeader(r, p)
	if err != nil {
		return err
	}
	p.Header = textproto.MIMEHeader(header)
	ctype := header.Get(hnContentType)
	if ctype == "" {
		if defaultContentType == "" {
			p.addWarning(ErrorMissingContentType, "MIME parts should have a Content-Type header")
			return nil
		}
		ctype = defaultContentType
	}
	// Parse Content-Type header.
	mtype, mparams, minvalidParams, err := p.parseMediaType(ctype)
	if err != nil {
		return err
	}
	for i := range minvalidParams {
		p.addWarningf(
			ErrorMalformedHeader,
			"Content-Type header has malformed parameter %q",
			minvalidParams[i])
	}
	p.ContentType = mtype
	// Set disposition, filename, charset if available.
	p.setupContentHeaders(mparams)
	p.Boundary = mparams[hpBoundary]
	if p.Boundary == "" && strings.HasPrefix(mtype, ctMultipartPrefix) && p.parser.multipartWOBoundaryAsSinglePart {
		// Without a boundary no part can be found: RFC 2045 reads a
		// Content-Type it cannot use as text/plain, and so does a person.
		p.addWarningf(ErrorMissingBoundary, "%s without a boundary parameter: read as text/plain", mtype)
		p.ContentType = ctTextPlain
	}
	p.ContentID = coding.FromIDHeader(header.Get(hnContentID))
	return nil
}

// setupContentHeaders uses Content-Type media params and Content-Disposition headers to populate
// the disposition, filename, and charset fields.
func (p *Part) setupContentHeaders(mediaParams map[string]string) {
	header := inttp.MIMEHeader(p.Header)
	// Determine content disposition, filename, character set.
	disposition, dparams, _, err := p.parseMediaType(header.Get(hnContentDisposition))
	if err == nil {
		// Disposition is optional
		p.Disposition = disposition
		p.FileName = p.decodeFileName(dparams[hpFilename])
	}
	if p.FileName == "" && mediaParams[hpName] != "" {
		p.FileName = p.decodeFileName(mediaParams[hpName])
	}
	if p.FileName == "" && mediaParams[hpFile] != "" {
		p.FileName = p.decodeFileName(mediaParams[hpFile])
	}
	if p.Charset == "" {
		p.Charset = mediaParams[hpCharset]
	}
	if d := mediaParams[hpModDate]; d != "" && p.FileModDate.IsZero() {
		p.FileModDate, _ = time.Parse(time.RFC822, d)
	}
}

// decodeFileName decodes the RFC 2047 encoded-words of a file name; the
// malformed ones it repairs are warnings.
func (p *Part) decodeFileName(s string) string {
	name, notes := coding.DecodeExtHeaderNotes(s)
	for _, n := range notes {
		p.addWarningf(ErrorMalformedHeader, "file name: %s", n)
	}
	return name
}

func (p *Part) readPartContent(r io.Reader, readPartErrorPolicy ReadPartErrorPolicy) ([]byte, error) {
	hint := 0
	if p.PartID == "0" && p.parser != nil {
		hint = p.parser.sizeHint // the message's own content is no larger
	}
	buf, err := readAll(r, hint)
	if err != nil {
		if readPartErrorPolicy != nil && readPartErrorPolicy(p, err) {
			p.addWarningf(ErrorMalformedChildPart, "partial content: %s", err.Error())
			return buf, nil
		}
		return nil, err
	}
	return buf, nil
}

// convertFromDetectedCharset attempts to detect the character set for the given part, and returns
// an io.Reader that will convert from that charset to UTF-8. If the charset cannot be detected,
// this method adds a warning to the part and automatically falls back to using
// `convertFromStatedCharset` and returns the reader from that method.
func (p *Part) convertFromDetectedCharset(r io.Reader, readPartErrorPolicy ReadPartErrorPolicy) (io.Reader, error) {
	// Attempt to detect character set from part content.
	var cd *chardet.Detector
	switch p.ContentType {
	case "text/html":
		cd = chardet.NewHtmlDetector()
	default:
		cd = chardet.NewTextDetector()
	}

	buf, err := p.readPartContent(r, readPartErrorPolicy)
	if err != nil {
		return nil, errors.WithStack(err)
	}

	// Restore r.
	r = &readContent{bytes.NewReader(buf), buf}

	if r, ok := p.convertUndeclared(buf); ok {
		return r, nil
	}

	if p.parser.disableCharacterDetection && p.Charset != "" {
		// Charset detection is disabled, use declared charset.
		return p.convertFromStatedCharset(r), nil
	}

	cs, err := cd.DetectBest(buf)
	switch err {
	case nil:
		// Carry on
	default:
		p.addWarningf(ErrorCharsetDeclaration, "charset could not be detected: %v", err)
	}

	if cs == nil || cs.Confidence < minCharsetConfidence || len(bytes.Runes(buf)) < p.parser.minCharsetDetectRunes {
		// Low confidence or not enough characters, use declared character set.
		return p.convertFromStatedCharset(r), nil
	}

	// Confidence exceeded our threshold, use detected character set.
	if p.Charset != "" && !strings.EqualFold(cs.Charset, p.Charset) {
		p.addWarningf(ErrorCharsetDeclaration,
			"declared charset %q, detected %q, confidence %d",
			p.Charset, cs.Charset, cs.Confidence)
	}

	if reader, err := coding.NewCharsetReader(cs.Charset, r); err == nil {
		r = reader
		p.OrigCharset = p.Charset
		p.Charset = cs.Charset
	}

	return r, nil
}

// convertUndeclared reads text whose charset is missing, us-ascii, or a
// single-byte or 7-bit one (see coding.IsSingleByteOr7Bit): valid UTF-8 is
// UTF-8 whatever the label says (a Latin-1 text is almost never valid
// UTF-8, and web forms and scripts send UTF-8 with no or a wrong label);
// text without a charset that is not UTF-8 is read in the charset the
// HTML names or a guessed one. ok is false where the declared charset
// stands.
func (p *Part) convertUndeclared(buf []byte) (r io.Reader, ok bool) {
	if !coding.IsSingleByteOr7Bit(p.Charset) {
		return nil, false
	}
	if isASCII(buf) {
		// The same in every ASCII-compatible charset; 7-bit ones encode
		// their other characters in ASCII and still need decoding.
		if coding.Is7Bit(p.Charset) {
			return nil, false
		}
		return &readContent{bytes.NewReader(buf), buf}, true
	}
	declared := p.Charset
	undeclared := declared == "" || p.Header.Get(hnContentType) == ""
	what := fmt.Sprintf("declared charset %q", declared)
	switch {
	case p.Header.Get(hnContentType) == "":
		what = "no Content-Type"
	case declared == "":
		what = "no charset"
	}
	if u8.Valid(buf) {
		p.addWarningf(ErrorCharsetDeclaration, "%s part with %s: 8-bit text is valid UTF-8, read as UTF-8",
			p.ContentType, what)
		p.OrigCharset, p.Charset = declared, utf8
		return &readContent{bytes.NewReader(buf), buf}, true
	}
	if !undeclared && !strings.EqualFold(declared, "us-ascii") {
		return nil, false
	}
	cs, how := "", coding.GuessDetected
	if p.ContentType == ctTextHTML {
		if cs = coding.FindCharsetInHTML(string(buf)); cs != "" {
			how = "named in the HTML"
		}
	}
	if cs == "" {
		cs, how = coding.GuessCharset(buf)
	}
	reader, err := coding.NewCharsetReader(cs, bytes.NewReader(buf))
	if err != nil {
		return nil, false
	}
	p.addWarningf(ErrorCharsetDeclaration, "%s part with %s: 8-bit text read as %s (%s)",
		p.ContentType, what, cs, how)
	p.OrigCharset, p.Charset = declared, cs
	return reader, true
}

// extractUUBlocks moves the uuencoded files written into a text part
// ("begin 644 name" ... "end") out of its text, into children of the part
// holding the decoded file, disposition attachment.
func (p *Part) extractUUBlocks() {
	if !bytes.Contains(p.Content, []byte("begin ")) {
		return
	}
	blocks := coding.FindUUBlocks(p.Content)
	if len(blocks) == 0 {
		return
	}
	if len(blocks) > maxUUBlocks {
		// The rest stay in the text: a crafted text has a block a line.
		p.addWarningf(ErrorContentEncoding, "more than %d uuencoded files in the text: the rest are left in it", maxUUBlocks)
		blocks = blocks[:maxUUBlocks]
	}
	text := make([]byte, 0, len(p.Content))
	last := 0
	for i, b := range blocks {
		text = append(text, p.Content[last:b.Start]...)
		last = b.End
		ctype := mime.TypeByExtension(path.Ext(b.Name))
		if ctype == "" {
			ctype = ctAppOctetStream
		}
		child := &Part{
			PartID:      p.PartID + "." + strconv.Itoa(i+1),
			Header:      textproto.MIMEHeader{},
			ContentType: ctype,
			Disposition: cdAttachment,
			FileName:    b.Name,
			Content:     b.Data,
			parser:      p.parser,
		}
		child.Header.Set(hnContentType, mime.FormatMediaType(ctype, map[string]string{hpName: b.Name}))
		child.Header.Set(hnContentDisposition, mime.FormatMediaType(cdAttachment, map[string]string{hpFilename: b.Name}))
		p.AddChild(child)
		p.addWarningf(ErrorContentEncoding, "uuencoded file %q in the text decoded as an attachment", b.Name)
	}
	p.Content = append(text, p.Content[last:]...)
}

// isASCII reports whether b has no 8-bit byte.
func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// convertFromStatedCharset returns a reader that will convert from the charset specified for the
// current `*Part` to UTF-8. In case of error, or an unhandled character set, a warning will be
// added to the `*Part` and the original io.Reader will be returned.
func (p *Part) convertFromStatedCharset(r io.Reader) io.Reader {
	if p.Charset == "" {
		// US-ASCII. Just read.
		return r
	}

	reader, err := coding.NewCharsetReader(p.Charset, r)
	if err != nil {
		// Failed to get a conversion reader.
		p.addWarningf(ErrorCharsetConversion, "failed to get reader for charset %q: %v", p.Charset, err)
	} else {
		return reader
	}

	// Try to parse charset again here to see if we can salvage some badly formed
	// ones like charset="charset=utf-8".
	charsetp := strings.Split(p.Charset, "=")
	if strings.EqualFold(charsetp[0], "charset") && len(charsetp) > 1 ||
		strings.EqualFold(charsetp[0], "iso") && len(charsetp) > 1 {
		p.Charset = charsetp[1]
		reader, err = coding.NewCharsetReader(p.Charset, r)
		if err != nil {
			// Failed to get a conversion reader.
			p.addWarningf(ErrorCharsetConversion, "failed to get reader for charset %q: %v", p.Charset, err)
		} else {
			return reader
		}
	}

	return r
}

// decodeContent performs transport decoding (base64, quoted-printable) and charset decoding,
// placing the result into Part.Content.  IO errors will be returned immediately; other errors
// and warnings will be added to Part.Errors.
func (p *Part) decodeContent(r io.Reader, readPartErrorPolicy ReadPartErrorPolicy) error {
	header := inttp.MIMEHeader(p.Header)
	// contentReader will point to the end of the content decoding pipeline.
	contentReader := r
	// b64 aggregates errors, must maintain a reference to it to get them later.
	var b64 *coding.Base64Decoder
	// Build content decoding reader.
	encoding := ""
	if p.parser != nil && !p.parser.rawContent {
		encoding = header.Get(hnContentEncoding)
	}
	validEncoding := true
	switch strings.ToLower(encoding) {
	case cteQuotedPrintable:
		contentReader = coding.NewQPCleaner(contentReader)
		contentReader = quotedprintable.NewReader(contentReader)
	case cteBase64:
		b64 = coding.NewBase64Decoder(contentReader)
		contentReader = b64
	case cteUUEncode, "x-uue", "uuencode", "x-uuencoded":
		raw, err := p.readPartContent(contentReader, readPartErrorPolicy)
		if err != nil {
			return errors.WithStack(err)
		}
		name, data, err := coding.UUDecode(raw)
		if err != nil {
			// Kept as sent: the text may be readable anyway.
			p.addWarningf(ErrorContentEncoding, "Content-Transfer-Encoding %q: %v", encoding, err)
			data = raw
		} else {
			p.addWarningf(ErrorContentEncoding, "Content-Transfer-Encoding %q decoded", encoding)
		}
		if p.FileName == "" {
			p.FileName = name
		}
		contentReader = bytes.NewReader(data)
	case cte8Bit, cte7Bit, cteBinary, "":
		// No decoding required.
	default:
		// Unknown encoding.
		validEncoding = false
		p.addWarningf(
			ErrorContentEncoding,
			"Unrecognized Content-Transfer-Encoding type %q",
			encoding)
	}
	// Build charset decoding reader.
	if validEncoding && strings.HasPrefix(p.ContentType, "text/") && !p.parser.rawContent {
		var err error
		contentReader, err = p.convertFromDetectedCharset(contentReader, readPartErrorPolicy)
		if err != nil {
			return p.base64CorruptInputCheck(err)
		}
	}
	// Decode and store content.
	content, err := p.readDecoded(contentReader, readPartErrorPolicy)
	if err != nil {
		return p.base64CorruptInputCheck(errors.WithStack(err))
	}
	p.Content = content
	if p.ContentType == ctTextPlain || p.ContentType == "" {
		p.extractUUBlocks()
	}
	// Collect base64 errors.
	if b64 != nil {
		for _, err := range b64.Errors() {
			p.addWarning(ErrorMalformedBase64, err.Error())
		}
	}
	// Set empty content-type error.
	if p.ContentType == "" {
		p.addWarningf(
			ErrorMissingContentType, "content-type is empty for part id: %s", p.PartID)
	}
	return nil
}

// parses media type using custom or default media type parser
func (p *Part) parseMediaType(ctype string) (mtype string, params map[string]string, invalidParams []string, err error) {
	if p.parser == nil || p.parser.customParseMediaType == nil {
		return mediatype.ParseWithOptions(ctype, mediatype.ParseOptions{StripMediaTypeInvalidCharacters: p.parser.stripMediaTypeInvalidCharacters})
	}

	return p.parser.customParseMediaType(ctype)
}

// IsBase64CorruptInputError returns true when err is of type base64.CorruptInputError.
//
// It can be used to create ReadPartErrorPolicy functions.
func IsBase64CorruptInputError(err error) bool {
	switch errors.Cause(err).(type) {
	case base64.CorruptInputError:
		return true
	default:
		return false
	}
}

// base64CorruptInputCheck will avoid fatal failure on corrupt base64 input
//
// This is a switch on errors.Cause(err).(type) for base64.CorruptInputError
func (p *Part) base64CorruptInputCheck(err error) error {
	if IsBase64CorruptInputError(err) {
		p.Content = nil
		p.addError(ErrorMalformedBase64, err.Error())
		return nil
	}
	return err
}

// Clone returns a clone of the current Part.
func (p *Part) Clone(parent *Part) *Part {
	if p == nil {
		return nil
	}

	newPart := &Part{
		PartID:      p.PartID,
		Header:      p.Header,
		Parent:      parent,
		Boundary:    p.Boundary,
		ContentID:   p.ContentID,
		ContentType: p.ContentType,
		Disposition: p.Disposition,
		FileName:    p.FileName,
		Charset:     p.Charset,
		Errors:      p.Errors,
		Content:     p.Content,
		Epilogue:    p.Epilogue,
	}
	newPart.FirstChild = p.FirstChild.Clone(newPart)
	newPart.NextSibling = p.NextSibling.Clone(parent)

	return newPart
}

// ReadParts reads a MIME document from the provided reader and parses it into tree of Part objects.
func ReadParts(r io.Reader) (*Part, error) {
	return defaultParser.ReadParts(r)
}

// ReadParts reads a MIME document from the provided reader and parses it into tree of Part objects.
func (p Parser) ReadParts(r io.Reader) (*Part, error) {
	// The parts keep nothing of br: their content is read out of it.
	br := partReaders.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() { br.Reset(nil); partReaders.Put(br) }()
	root := &Part{PartID: "0", parser: &p}

	// Read header; top-level default CT is text/plain us-ascii according to RFC 822.
	if err := root.setupHeaders(br, `text/plain; charset="us-ascii"`); err != nil {
		return nil, err
	}

	if p.src != nil {
		// What is left after the header bounds the message's content.
		p.sizeHint = p.src.Len() + br.Buffered()
	}
	if detectMultipartMessage(root, p.multipartWOBoundaryAsSinglePart) {
		// Content is multipart, parse it.
		if err := parseParts(root, br, 0); err != nil {
			return nil, err
		}
	} else {
		// Content is text or data, decode it.
		if err := root.decodeContent(br, p.readPartErrorPolicy); err != nil {
			return nil, err
		}
	}
	return root, nil
}

// partReaders are the bufio.Readers ReadParts reads a message with.
var partReaders = sync.Pool{New: func() any { return bufio.NewReader(nil) }}

// parseParts recursively parses a MIME multipart document and sets each Parts PartID.
//
// Its cost is bounded for crafted mail: each level of nesting stacks one
// more boundary reader that every byte below it passes through, so a part
// deeper than the parser's nesting limit is not parsed but kept whole as
// one opaque part (see opaquePart); parts beyond the parser's part limit are
// kept the same way, together; and siblings are linked in constant time.
func parseParts(parent *Part, reader *bufio.Reader, depth int) error {
	firstRecursion := parent.Parent == nil
	parser := parent.parser
	var last *Part // the last child added, so that appending is O(1)
	add := func(p *Part) {
		if last == nil {
			parent.FirstChild = p
		} else {
			last.NextSibling = p
		}
		p.Parent = parent
		last = p
	}
	// Loop over MIME boundaries.
	br := newBoundaryReader(reader, parent.Boundary)
	defer br.release()
	var bbr *bufio.Reader
	for indexPartID := 1; true; indexPartID++ {
		if err := parser.contextErr(); err != nil {
			return err
		}
		next, err := br.Next()
		if err != nil && errors.Cause(err) != io.EOF {
			return err
		}
		if br.unbounded {
			parent.addWarningf(ErrorMissingBoundary, "Boundary %q was not closed correctly",
				parent.Boundary)
		}
		if !next {
			break
		}

		// Set this Part's PartID, indicating its position within the MIME Part tree.
		p := &Part{parser: parser}
		if firstRecursion {
			p.PartID = strconv.Itoa(indexPartID)
		} else {
			p.PartID = parent.PartID + "." + strconv.Itoa(indexPartID)
		}

		if parser.maxParts > 0 && parser.parts >= parser.maxParts {
			rest, err := restOfMultipart(br, parent.Boundary)
			if err != nil {
				return err
			}
			parent.addWarningf(ErrorTooManyParts,
				"more than %d MIME parts: the rest of %s is kept unparsed as one attachment",
				parser.maxParts, parent.ContentType)
			opaquePart(p, "remaining-parts.eml", parent.Header.Get(hnContentType), rest)
			add(p)
			break
		}
		parser.parts++

		// Look for part header. The boundary reader ends at the part's end,
		// so bbr holds nothing of the next part, and the parts keep
		// nothing of it: one serves them all.
		if bbr == nil {
			bbr = bufio.NewReader(br)
		} else {
			bbr.Reset(br)
		}
		if err = p.setupHeaders(bbr, ""); err != nil {
			if p.parser.skipMalformedParts {
				parent.addErrorf(ErrorMalformedChildPart, "read header: %s", err.Error())
				continue
			}

			return err
		}

		// Insert this Part into the MIME tree.
		if p.Boundary == "" {
			// Content is text or data, decode it.
			if err = p.decodeContent(bbr, p.parser.readPartErrorPolicy); err != nil {
				if p.parser.skipMalformedParts {
					parent.addErrorf(ErrorMalformedChildPart, "decode content: %s", err.Error())
					continue
				}
				return err
			}
			if len(p.Header) == 0 && len(bytes.TrimSpace(p.Content)) == 0 {
				// A delimiter line with nothing after it, as a message
				// cut off or missing its closing delimiter ends: no part.
				parent.addWarningf(ErrorMalformedChildPart, "empty part %s without headers dropped", p.PartID)
				continue
			}
			add(p)
			continue
		} else if detectTextHeader(p, inttp.MIMEHeader(p.Header), false) {
			// Some parts are data but for some reason have a boundary header field so do not treat them
			// as multipart and add an error
			parent.addErrorf(ErrorDataHasBoundary, "content is text or data but has a boundary marker")
			// Content is text or data, decode it.
			if err = p.decodeContent(bbr, p.parser.readPartErrorPolicy); err != nil {
				if p.parser.skipMalformedParts {
					parent.addErrorf(ErrorMalformedChildPart, "decode content: %s", err.Error())
					continue
				}
				return err
			}
			add(p)
			continue
		}

		if parser.maxNesting > 0 && depth+1 >= parser.maxNesting {
			body, err := io.ReadAll(bbr)
			if err != nil {
				return errors.WithStack(err)
			}
			parent.addWarningf(ErrorNestingTooDeep,
				"MIME parts nested deeper than %d levels: part %s is kept unparsed as one attachment",
				parser.maxNesting, p.PartID)
			opaquePart(p, "nested-parts.eml", p.Header.Get(hnContentType), body)
			add(p)
			continue
		}

		add(p)
		// Content is another multipart.
		if err = parseParts(p, bbr, depth+1); err != nil {
			if errors.Is(err, ErrParseCanceled) {
				return err
			}
			if p.parser.skipMalformedParts {
				parent.addErrorf(ErrorMalformedChildPart, "parse parts: %s", err.Error())
				continue
			}
			return err
		}
	}

	// Store any content following the closing boundary marker into the epilogue.
	epilogue, err := io.ReadAll(reader)
	if err != nil {
		return errors.WithStack(err)
	}
	parent.Epilogue = epilogue

	// If a Part is "multipart/" Content-Type, it will have .0 appended to its PartID
	// i.e. it is the root of its MIME Part subtree.
	if !firstRecursion {
		parent.PartID += ".0"
	}
	return nil
}

// restOfMultipart reads the parts of br that remain, starting with the one
// Next has just entered, back into a multipart body under boundary.
func restOfMultipart(br *boundaryReader, boundary string) ([]byte, error) {
	var rest bytes.Buffer
	for {
		rest.WriteString("--" + boundary + "\r\n")
		if _, err := rest.ReadFrom(br); err != nil {
			return nil, errors.WithStack(err)
		}
		rest.WriteString("\r\n")
		next, err := br.Next()
		if err != nil && errors.Cause(err) != io.EOF {
			return nil, err
		}
		if !next {
			break
		}
	}
	rest.WriteString("--" + boundary + "--\r\n")
	return rest.Bytes(), nil
}

// opaquePart makes p an attachment that holds a MIME entity unparsed: a
// Content-Type header and body, which a mail client opens as a message.
func opaquePart(p *Part, name, contentType string, body []byte) {
	var b bytes.Buffer
	b.Grow(len(contentType) + len(body) + 20)
	b.WriteString("Content-Type: " + contentType + "\r\n\r\n")
	b.Write(body)
	p.Header = textproto.MIMEHeader{}
	p.ContentType = ctMessageRFC822
	p.ContentTypeParams = nil
	p.Boundary = ""
	p.Disposition = cdAttachment
	p.FileName = name
	p.Charset = ""
	p.Content = b.Bytes()
}

func (p *Part) WithEncoder(e *Encoder) *Part {
	if e != nil {
		p.encoder = e
	}
	return p
}
