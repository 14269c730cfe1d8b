// Package textscan finds the next byte of a class in text, sixteen bytes
// at a time where the machine has vector instructions (amd64's SSE2):
// escaping text for JSON or HTML stops at such bytes, and between them
// copies whole runs.
package textscan

// Set is a class of bytes: those below 0x20, those from 0x80 up, and up
// to eight more given to NewSet.
type Set struct {
	// vec is 0x1f then each extra byte sixteen times over, padded with
	// 0x00, a byte of the class already (the vector compare's operands).
	vec [9][16]byte
	in  [256]bool
}

// NewSet is the class of the bytes below 0x20, from 0x80 up, and those
// of extra (at most eight).
func NewSet(extra string) *Set {
	if len(extra) > 8 {
		panic("textscan: more than eight extra bytes")
	}
	t := &Set{}
	for i := range t.vec[0] {
		t.vec[0][i] = 0x1f
	}
	for k := 0; k < len(extra); k++ {
		for i := range t.vec[k+1] {
			t.vec[k+1][i] = extra[k]
		}
	}
	for c := range t.in {
		t.in[c] = c < 0x20 || c >= 0x80
	}
	for k := 0; k < len(extra); k++ {
		t.in[extra[k]] = true
	}
	return t
}

// Has reports whether c is in the class.
func (t *Set) Has(c byte) bool { return t.in[c] }

// Index is the index of the first byte of s in the class, or len(s).
func (t *Set) Index(s string) int {
	i := 0
	if len(s) >= vectorMin {
		i = index16(s, t)
		if i < len(s) {
			return i
		}
		return len(s)
	}
	for ; i < len(s); i++ {
		if t.in[s[i]] {
			return i
		}
	}
	return len(s)
}

// indexBytewise is Index a byte at a time, the reference for index16.
func (t *Set) indexBytewise(s string) int {
	for i := 0; i < len(s); i++ {
		if t.in[s[i]] {
			return i
		}
	}
	return len(s)
}
