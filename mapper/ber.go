package mapper

import (
	"errors"
	"fmt"

	"github.com/smallstep/pkcs7"
)

// maxBERDepth bounds the nesting of a PKCS #7 structure mailbridge parses.
// Real S/MIME nests some ten levels; the PKCS #7 parser recurses once per
// level with no limit of its own, so a crafted structure thousands deep
// overflows the stack, a fault no recover catches.
const maxBERDepth = 64

var errBERTooDeep = errors.New("structure nested too deep")

// parsePKCS7 is pkcs7.Parse of data whose nesting is checked first.
func parsePKCS7(data []byte) (*pkcs7.PKCS7, error) {
	if err := berDepth(data, maxBERDepth); err != nil {
		return nil, err
	}
	return pkcs7.Parse(data)
}

// berDepth walks the BER encoding in data without recursion and fails when
// constructed values nest deeper than limit. It reads only the tag and
// length octets; the contents are the parser's to judge.
func berDepth(data []byte, limit int) error {
	var ends []int // end offsets of the open constructed values; -1: indefinite length
	for i := 0; i < len(data); {
		for len(ends) > 0 && ends[len(ends)-1] >= 0 && i >= ends[len(ends)-1] {
			ends = ends[:len(ends)-1]
		}
		if len(ends) > 0 && ends[len(ends)-1] < 0 && i+1 < len(data) && data[i] == 0 && data[i+1] == 0 {
			ends = ends[:len(ends)-1] // end-of-contents of an indefinite length
			i += 2
			continue
		}
		tag := data[i]
		i++
		if tag&0x1f == 0x1f { // high tag number: base-128 octets
			for i < len(data) && data[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if i >= len(data) {
			return nil // truncated: the parser says so
		}
		l := int(data[i])
		i++
		constructed := tag&0x20 != 0
		switch {
		case l == 0x80:
			if !constructed {
				return nil
			}
			ends = append(ends, -1)
		case l&0x80 != 0:
			n := l & 0x7f
			if n > 4 || i+n > len(data) {
				return nil
			}
			l = 0
			for range n {
				l = l<<8 | int(data[i])
				i++
			}
			fallthrough
		default:
			if constructed {
				ends = append(ends, i+l)
			} else {
				i += l
			}
		}
		if len(ends) > limit {
			return fmt.Errorf("%w: more than %d levels", errBERTooDeep, limit)
		}
	}
	return nil
}
