package mapper

// Eight bytes at a time: the body checks run over every byte of a text,
// and a large mail's text is megabytes of plain ASCII in which they find
// nothing. Each word test below is exact as a whole (non-zero if and only
// if a byte of the word qualifies); which bytes qualify it does not say.

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// load8 is s[i:i+8] as a little-endian word.
func load8(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// hasZero is non-zero if a byte of x is 0.
func hasZero(x uint64) uint64 { return (x - ones) &^ x & highs }

// hasByte is non-zero if a byte of x is b.
func hasByte(x uint64, b byte) uint64 { return hasZero(x ^ (ones * uint64(b))) }

// hasLess is non-zero if a byte of x is below n (n <= 128).
func hasLess(x uint64, n byte) uint64 { return (x - ones*uint64(n)) &^ x & highs }

// jsonPlain8 reports whether each byte of x takes one byte in a JSON
// string: printable ASCII or DEL, neither '"' nor '\\'.
func jsonPlain8(x uint64) bool {
	return (x&highs)|hasLess(x, 0x20)|hasByte(x, '"')|hasByte(x, '\\') == 0
}

// noControls8 reports whether x holds no C0 control and no DEL.
func noControls8(x uint64) bool {
	return hasLess(x, 0x20)|hasByte(x, 0x7f) == 0
}
