package smtp

import "testing"

// A message's buffer doubles up to a MB, then grows by a quarter, and
// goes to the declared size at once when the client gave one.
func TestNextDataCap(t *testing.T) {
	const kb, mb = 1 << 10, 1 << 20
	for _, tc := range []struct {
		c, size, want int64
	}{
		{0, 0, dataChunk},
		{dataChunk, 0, 2 * dataChunk},
		{512 * kb, 0, mb},
		{mb, 0, mb + mb/4},
		{8 * mb, 0, 10 * mb},
		{0, 10 * kb, 14 * kb},             // declared: a little over it
		{0, 5 * mb, declaredReserve},      // not all before the data shows it
		{declaredReserve, 5 * mb, 2 * mb}, // then doubling towards it,
		{4 * mb, 5 * mb, 5*mb + 4*kb},     // and to the declaration when that is nearer
		{mb, mb + 10*kb, mb + 14*kb},      // just over a MB: not two
		{14 * kb, 10 * kb, dataChunk},     // more than declared: growth as without
		{2 * mb, 10 * kb, 2*mb + mb/2},    // the same, large
	} {
		if got := nextDataCap(tc.c, tc.size); got != tc.want {
			t.Errorf("nextDataCap(%d, %d) = %d, want %d", tc.c, tc.size, got, tc.want)
		}
	}
	// Growth is growth.
	for c := int64(0); c < 64*mb; c = nextDataCap(c, 0) {
		if n := nextDataCap(c, 0); n <= c {
			t.Fatalf("nextDataCap(%d, 0) = %d", c, n)
		}
	}
}
