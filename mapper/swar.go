package mapper

import "math/bits"

// Eight bytes at a time: the body checks run over every byte of a text,
// and a large mail's text is megabytes of plain ASCII in which they find
// nothing. Each word test below is exact as a whole (non-zero if and only
// if a byte of the word qualifies); which bytes qualify it does not say,
// but for the lowest set bit, which is in the first byte that qualifies:
// a test can flag a byte wrongly only above one it flags rightly.

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// load8 is s[i:i+8] as a little-endian word.
func load8(s string, i int) uint64 {
	w := s[i : i+8]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// hasZero is non-zero if a byte of x is 0.
func hasZero(x uint64) uint64 { return (x - ones) &^ x & highs }

// hasByte is non-zero if a byte of x is b.
func hasByte(x uint64, b byte) uint64 { return hasZero(x ^ (ones * uint64(b))) }

// jsonPlain8 reports whether each byte of x takes one byte in a JSON
// string: printable ASCII or DEL, neither '"' nor '\\'.
func jsonPlain8(x uint64) bool {
	return (x|(x-ones*0x20)&^x|zeros(x^(ones*'"'))|zeros(x^(ones*'\\')))&highs == 0
}

// noControls8 reports whether x holds no C0 control and no DEL.
func noControls8(x uint64) bool {
	return ((x-ones*0x20)&^x|zeros(x^(ones*0x7f)))&highs == 0
}

// The exact tests: the high bit of each byte of the result is set if and
// only if that byte of ASCII word x (no byte above 0x7f) qualifies.

// below32 flags the bytes below 0x20.
func below32(x uint64) uint64 { return ^(x + ones*(0x80-0x20)) & highs }

// equal flags the bytes that are b.
func equal(x uint64, b byte) uint64 {
	y := x ^ ones*uint64(b)
	return ^(y + ones*0x7f) & highs
}

// jsonExtra8 is how many bytes more than eight ASCII word x takes in a
// JSON string, if each of its bytes takes one or two (a quote, a
// backslash, a line feed, a carriage return or a tab).
func jsonExtra8(x uint64) (int, bool) {
	two := equal(x, '"') | equal(x, '\\') | equal(x, '\n') | equal(x, '\r') | equal(x, '\t')
	if below32(x)&^two != 0 {
		return 0, false
	}
	return bits.OnesCount64(two), true
}

// htmlSpecial8 is non-zero if a byte of x is one htmlEscape replaces:
// & ' < > " or a line feed.
func htmlSpecial8(x uint64) uint64 {
	return hasZero(x&(ones*0xfd)^(ones*'<')) | hasZero(x&(ones*0xfe)^(ones*'&')) |
		hasByte(x, '"') | hasByte(x, '\n')
}

// zeros is hasZero before its mask: its high bits are hasZero's, and
// others set.
func zeros(x uint64) uint64 { return (x - ones) &^ x }
