//go:build unix

package textscan

import (
	"testing"
	"unsafe"

	"github.com/enneo/mailbridge/internal/guardpage"
)

// Index reads only the text it is given: a text that ends or starts at an
// inaccessible page, of every length around the block size, is searched
// without a fault and as a byte at a time.
func TestIndexStaysInText(t *testing.T) {
	g := guardpage.New(t, 200)
	set := NewSet(`"\`)
	for n := range 200 {
		for _, b := range [][]byte{g.End(n), g.Start(n)} {
			for i := range b {
				b[i] = 'a'
			}
			s := string(b) // a copy, for the reference
			if got := set.Index(unsafeString(b)); got != n {
				t.Fatalf("Index of %d plain bytes = %d", n, got)
			}
			if n > 0 {
				b[n-1] = '"'
				if got, want := set.Index(unsafeString(b)), set.indexBytewise(s[:n-1]+`"`); got != want {
					t.Fatalf("Index of %d bytes ending in a quote = %d, want %d", n, got, want)
				}
			}
		}
	}
}

// unsafeString is b as a string where it lies, not copied.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
