package api

import "github.com/segmentio/asm/base64"

// encodeBase64 is encoding/base64's StdEncoding.Encode(dst, src). A large
// mail's attachment, or its full text, is base64-encoded on its way to
// the socket, a megabyte and more: segmentio/asm encodes it with AVX2
// where the processor has it, several times as fast, and falls back to
// encoding/base64 where not.
func encodeBase64(dst, src []byte) {
	base64.StdEncoding.Encode(dst, src)
}
