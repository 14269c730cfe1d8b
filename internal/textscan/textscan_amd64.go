package textscan

import "unsafe"

// vectorMin is the shortest text index16 reads.
const vectorMin = 16

// indexSet16 is index16 on the text at p, n bytes (n >= 16).
//
//go:noescape
func indexSet16(p *byte, n int, set *[9][16]byte) int

// index16 is Index for s of at least sixteen bytes.
func index16(s string, t *Set) int {
	return indexSet16(unsafe.StringData(s), len(s), &t.vec)
}
