package coding

import (
	"bytes"
	"errors"
	"regexp"
)

// UUBlock is a uuencoded file inside text: text[Start:End] is its whole
// block, "begin" line to "end" line.
type UUBlock struct {
	Start, End int
	Name       string
	Data       []byte
}

// uuBegin matches the first line of a uuencoded file: "begin 644 name".
var uuBegin = regexp.MustCompile(`^begin[ \t]+[0-7]{3,4}[ \t]+(.+?)[ \t\r]*$`)

// FindUUBlocks returns the uuencoded files in text (Eudora, Pegasus and
// old Outlook Express put them in the text part itself). A block counts
// only if at least one line of data follows its begin line and an "end"
// line closes it, so prose that happens to start with "begin" stays text.
func FindUUBlocks(text []byte) []UUBlock {
	var blocks []UUBlock
	for off := 0; off < len(text); {
		i := indexLineStart(text[off:], "begin ")
		if i < 0 {
			break
		}
		start := off + i
		line, next := lineAt(text, start)
		m := uuBegin.FindSubmatch(line)
		if m == nil {
			off = next
			continue
		}
		data, end, ok := decodeUULines(text, next, true)
		if !ok {
			off = next
			continue
		}
		blocks = append(blocks, UUBlock{Start: start, End: end, Name: string(m[1]), Data: data})
		off = end
	}
	return blocks
}

// ErrNoUUData is returned by UUDecode for content without uuencoded lines.
var ErrNoUUData = errors.New("no uuencoded data")

// UUDecode decodes the content of a part whose Content-Transfer-Encoding
// is x-uuencode (or x-uue, uuencode): a begin/end block, whose name it
// returns, or bare uuencoded lines.
func UUDecode(content []byte) (name string, data []byte, err error) {
	if bs := FindUUBlocks(content); len(bs) > 0 {
		return bs[0].Name, bs[0].Data, nil
	}
	start := 0
	for start < len(content) && (content[start] == '\r' || content[start] == '\n') {
		start++
	}
	data, _, ok := decodeUULines(content, start, false)
	if !ok {
		return "", nil, ErrNoUUData
	}
	return "", data, nil
}

// decodeUULines decodes the uuencoded lines of text from offset off on. It
// stops at an "end" line (needEnd: which must come) or, without needEnd,
// at the first line that is not uuencoded. end is the offset after the
// last line taken.
func decodeUULines(text []byte, off int, needEnd bool) (data []byte, end int, ok bool) {
	lines := 0
	for off < len(text) {
		line, next := lineAt(text, off)
		line = bytes.TrimRight(line, "\r")
		if bytes.Equal(bytes.TrimSpace(line), []byte("end")) {
			return data, next, lines > 0
		}
		dec, valid := uuLine(line)
		if !valid {
			return data, off, !needEnd && lines > 0
		}
		data = append(data, dec...)
		lines++
		off = next
	}
	return data, off, !needEnd && lines > 0
}

// uuLine decodes one uuencoded line: a length character, then groups of
// four characters of six bits each. Trailing blanks that mail transport
// stripped are taken as zero bits; a checksum character some encoders
// append is ignored.
func uuLine(line []byte) ([]byte, bool) {
	if len(line) == 0 {
		return nil, false
	}
	n := int((line[0] - ' ') & 0x3f)
	if line[0] < ' ' || line[0] > '`' {
		return nil, false
	}
	if n == 0 {
		return nil, true // the empty line before "end"
	}
	body := line[1:]
	need := (n + 2) / 3 * 4
	if len(body) > need+1 || len(body) < need-3 || len(body) == 0 {
		return nil, false
	}
	out := make([]byte, 0, n)
	var quad [4]byte
	for g := 0; g < need; g += 4 {
		for k := 0; k < 4; k++ {
			c := byte(' ')
			if g+k < len(body) {
				c = body[g+k]
			}
			if c < ' ' || c > '`' {
				return nil, false
			}
			quad[k] = (c - ' ') & 0x3f
		}
		out = append(out, quad[0]<<2|quad[1]>>4, quad[1]<<4|quad[2]>>2, quad[2]<<6|quad[3])
	}
	return out[:n], true
}

// indexLineStart returns the index of the first line of text starting with
// prefix, or -1.
func indexLineStart(text []byte, prefix string) int {
	for off := 0; ; {
		i := bytes.Index(text[off:], []byte(prefix))
		if i < 0 {
			return -1
		}
		if at := off + i; at == 0 || text[at-1] == '\n' {
			return at
		}
		off += i + len(prefix)
	}
}

// lineAt returns the line of text at off without its "\n", and the offset
// of the next line.
func lineAt(text []byte, off int) (line []byte, next int) {
	if i := bytes.IndexByte(text[off:], '\n'); i >= 0 {
		return text[off : off+i], off + i + 1
	}
	return text[off:], len(text)
}
