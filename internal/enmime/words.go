package enmime

import (
	"mime"

	"github.com/enneo/mailbridge/internal/enmime/internal/coding"
)

// NewWordDecoder returns an RFC 2047 decoder that knows every charset
// enmime does, for callers that tokenize a header themselves and must decode
// encoded-words only after the syntax is split (RFC 2047 section 5: an
// encoded-word never carries specials into the syntax). Its DecodeHeader
// decodes the encoded-words of a text; net/mail's AddressParser takes it as
// WordDecoder.
func NewWordDecoder() *mime.WordDecoder {
	return coding.NewExtMimeDecoder()
}
