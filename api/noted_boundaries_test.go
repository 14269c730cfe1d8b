package api

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestStoreConversationNotedBoundaries: noted body fields whose escaped
// bytes end just below, at and just past the sizes where writeTo writes
// them from where they are (directMin) and where its writes are cut
// (bodyChunk), sent through net/http, reach the API as encoding/json
// writes them.
func TestStoreConversationNotedBoundaries(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, n := range []int{directMin - 1, directMin, directMin + 1, bodyChunk - 1, bodyChunk, bodyChunk + 1, 2*bodyChunk + 3} {
		conv := testConversation()
		// Escapes of two and six bytes around the boundary.
		text := strings.Repeat("x", n-8) + "\"\u2028\xff"
		conv.BodyPlain = text
		conv.BodyClean = text[:len(text)-rng.IntN(3)-1]
		conv.Body = text + "<br>"
		for _, s := range []string{conv.BodyPlain, conv.BodyClean} {
			esc, _ := AppendEscaped(nil, s, math.MaxInt)
			conv.NoteJSON(s, esc)
		}
		conv.Attachments = []Attachment{{Name: "a", Content: randomBytes(rng, rng.IntN(3*bodyChunk))}}
		var b bytes.Buffer
		if err := conv.WriteJSON(&b); err != nil || !bytes.Equal(b.Bytes(), referenceJSON(t, conv)) {
			t.Fatalf("%d: WriteJSON differs from encoding/json (%v)", n, err)
		}
		storeCountingWrites(t, conv, bodyDialer)
	}
}
