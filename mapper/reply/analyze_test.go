package reply

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// sameAnalysis reports where analyze and the reference analysis differ
// on text: the cut, the dropped lines, and the text both return.
func sameAnalysis(t *testing.T, text string) {
	t.Helper()
	a, ref := analyze(text), referenceAnalyze(text)
	drop := a.drop
	if drop == nil {
		drop = make([]bool, len(a.lines))
	}
	if a.cut != ref.cut || !slices.Equal(drop, ref.drop) {
		t.Fatalf("analyze(%q): cut %d, drop %v; the reference says cut %d, drop %v", text, a.cut, drop, ref.cut, ref.drop)
	}
	if got, want := Text(text, ""), referenceText(text, ""); got != want {
		t.Fatalf("Text(%q) = %q, the reference says %q", text, got, want)
	}
}

func TestAnalyzeMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	n := 30000
	if testing.Short() {
		n = 3000
	}
	for range n {
		sameAnalysis(t, randomAnalysisText(rng))
	}
	for _, c := range loadCorpus(t) {
		sameAnalysis(t, sanitize(c.plain))
	}
}

// TestInertEveryByte: a line made of a prose line with any one byte put
// at the places inert looks at (either end, the edge of its head) is
// judged as the reference judges it.
func TestInertEveryByte(t *testing.T) {
	base := "Hello support team, the invoice wrote"
	for c := range 256 {
		for _, at := range []int{0, 1, 2, 3, 9, 10, 14, 15, 16, 17, len(base) - 1, len(base)} {
			l := base[:at] + string(rune(c)) + base[at:]
			if c >= 0x80 {
				l = base[:at] + string([]byte{byte(c)}) + base[at:]
			}
			for _, text := range []string{l, l + "\nOn 1 May 2024 Jane <", "Jane:\n" + l, l + "\n> q", "x\n" + l + "\n\nFrom: a\nSent: b\nTo: c"} {
				sameAnalysis(t, text)
			}
		}
	}
}

func FuzzAnalyzeMatchesReference(f *testing.F) {
	rng := rand.New(rand.NewPCG(13, 14))
	for range 20 {
		f.Add(randomAnalysisText(rng))
	}
	f.Fuzz(func(t *testing.T, text string) {
		sameAnalysis(t, sanitize(text))
	})
}

// BenchmarkAnalyzeProse is the reply parser on a 1 MB text of prose
// without quote or signature, the large mail's case.
func BenchmarkAnalyzeProse(b *testing.B) {
	text := strings.Repeat("Hello support team, the invoice for order 4711 still shows the old address. "+
		"Could you please correct it and send a new copy? Thanks a lot for your help.\n", 6700)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		Text(text, "")
	}
}
