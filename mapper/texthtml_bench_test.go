package mapper

import (
	"strings"
	"testing"
)

// benchText is the large mail's text: a MiB of prose lines.
func benchText() string {
	return strings.Repeat("Hello support team, the invoice for order 4711 still shows the old address. "+
		"Could you please correct it and send a new copy? Thanks a lot for your help.\n", 1<<20/155)
}

func BenchmarkTextHTML1MB(b *testing.B) {
	lf := benchText()
	b.SetBytes(int64(len(lf)))
	b.ReportAllocs()
	for b.Loop() {
		textHTML(lf, DefaultBodyMaxBytes, fullTextName, true)
	}
}

func BenchmarkCutPlain1MB(b *testing.B) {
	lf := benchText()
	b.SetBytes(int64(len(lf)))
	b.ReportAllocs()
	for b.Loop() {
		cutPlain(lf, DefaultBodyMaxBytes, fullTextName, true)
	}
}

func BenchmarkCRLFToLF1MB(b *testing.B) {
	s := strings.ReplaceAll(benchText(), "\n", "\r\n")
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		crlfToLF(s)
	}
}
