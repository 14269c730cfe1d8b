package coding

import (
	"fmt"
	"io"
)

// base64CleanerTable notes byte values that should be stripped (-2), stripped w/ error (-1).
var base64CleanerTable = []int8{
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -2, -2, -1, -1, -2, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-2, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -2, -1, -1,
	-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
}

// Base64Cleaner improves the tolerance of in Go's built-in base64 decoder by stripping out
// characters that would cause decoding to fail.
//
// It also drops the last character of a stream that ends one character into a 4-character
// group: the data was cut off (a mail truncated by a size limit), and that character holds
// less than a byte, while the decoder would reject the whole stream for it. To know which
// character is the last, one character is held back until more follow or the input ends.
type Base64Cleaner struct {
	// Report of non-whitespace characters detected while cleaning base64 data.
	Errors []error

	r      io.Reader
	buffer [1024]byte // read into, and cleaned in place
	out    []byte     // cleaned characters not yet returned, in buffer
	count  int        // characters returned so far
	err    error      // error of r, returned once out is drained
}

// Enforce io.Reader interface.
var _ io.Reader = &Base64Cleaner{}

// NewBase64Cleaner returns a Base64Cleaner object for the specified reader.  Base64Cleaner
// implements the io.Reader interface.
func NewBase64Cleaner(r io.Reader) *Base64Cleaner {
	return &Base64Cleaner{
		Errors: make([]error, 0),
		r:      r,
	}
}

// Read method for io.Reader interface.
func (bc *Base64Cleaner) Read(p []byte) (n int, err error) {
	for len(bc.out) < 2 && bc.err == nil {
		held := copy(bc.buffer[:], bc.out)
		bn, rerr := bc.r.Read(bc.buffer[held:])
		w := held
		for i := held; i < held+bn; i++ {
			switch c := bc.buffer[i]; base64CleanerTable[c&0x7f] {
			case -2:
				// Strip these silently: tab, \n, \r, space, equals sign.
			case -1:
				// Strip these, but warn the client.
				bc.Errors = append(bc.Errors, fmt.Errorf("unexpected %q in base64 stream", c))
			default:
				bc.buffer[w] = c
				w++
			}
		}
		bc.out = bc.buffer[:w]
		if rerr != nil {
			bc.err = rerr
			if (bc.count+len(bc.out))%4 == 1 {
				bc.out = bc.out[:len(bc.out)-1]
				bc.Errors = append(bc.Errors, fmt.Errorf(
					"base64 data is truncated (it ends one character into a 4-character group): "+
						"the %d bytes before the cut are kept", (bc.count+len(bc.out))/4*3))
			}
		}
	}
	avail := bc.out
	if bc.err == nil {
		avail = avail[:len(avail)-1]
	}
	n = copy(p, avail)
	bc.out = bc.out[n:]
	bc.count += n
	if len(bc.out) == 0 && bc.err != nil {
		return n, bc.err
	}
	return n, nil
}
