//go:build !amd64

package textscan

import "math"

// vectorMin is the shortest text index16 reads: no vector code here.
const vectorMin = math.MaxInt

func index16(s string, t *Set) int { return t.indexBytewise(s) }
