//go:build unix

package api

import (
	"encoding/base64"
	"math/rand/v2"
	"testing"

	"github.com/enneo/mailbridge/internal/guardpage"
)

// encodeBase64 reads only src and writes only dst, of the sizes the
// payload gives it (dst just EncodedLen long): each one ends or starts at
// an inaccessible page, and a read or write past it faults.
func TestEncodeBase64StaysInBuffers(t *testing.T) {
	const most = 400
	srcs := guardpage.New(t, most)
	dsts := guardpage.New(t, base64.StdEncoding.EncodedLen(most))
	rng := rand.New(rand.NewPCG(7, 9))
	for n := range most {
		m := base64.StdEncoding.EncodedLen(n)
		for _, src := range [][]byte{srcs.End(n), srcs.Start(n)} {
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			want := base64.StdEncoding.EncodeToString(src)
			for _, dst := range [][]byte{dsts.End(m), dsts.Start(m)} {
				encodeBase64(dst, src)
				if string(dst) != want {
					t.Fatalf("encodeBase64 of %d bytes = %q, want %q", n, dst, want)
				}
			}
		}
	}
}
