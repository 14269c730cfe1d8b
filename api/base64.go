package api

import (
	"encoding/base64"
	"encoding/binary"
)

// pairs holds the two base64 characters of each 12-bit value, the first in
// the low byte: encoded twelve bits at a time, a large attachment takes
// less than half the time encoding/base64 takes six bits at a time.
var pairs = func() (t [1 << 12]uint16) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for v := range t {
		t[v] = uint16(alphabet[v>>6]) | uint16(alphabet[v&0x3f])<<8
	}
	return t
}()

// encodeBase64 is base64.StdEncoding.Encode(dst, src).
func encodeBase64(dst, src []byte) {
	// Sixteen characters a vector instruction's step where there are.
	if n := encodeBlocks(dst, src); n > 0 {
		src, dst = src[n:], dst[n/3*4:]
	}
	// Six bytes make eight characters; a word is read at a time, so the
	// last groups go to encoding/base64, which also pads.
	for len(src) >= 14 && len(dst) >= 16 {
		x := binary.BigEndian.Uint64(src)
		y := binary.BigEndian.Uint64(src[6:])
		binary.LittleEndian.PutUint64(dst, uint64(pairs[x>>52])|uint64(pairs[x>>40&0xfff])<<16|
			uint64(pairs[x>>28&0xfff])<<32|uint64(pairs[x>>16&0xfff])<<48)
		binary.LittleEndian.PutUint64(dst[8:], uint64(pairs[y>>52])|uint64(pairs[y>>40&0xfff])<<16|
			uint64(pairs[y>>28&0xfff])<<32|uint64(pairs[y>>16&0xfff])<<48)
		src, dst = src[12:], dst[16:]
	}
	for len(src) >= 8 && len(dst) >= 8 {
		x := binary.BigEndian.Uint64(src)
		binary.LittleEndian.PutUint64(dst, uint64(pairs[x>>52])|uint64(pairs[x>>40&0xfff])<<16|
			uint64(pairs[x>>28&0xfff])<<32|uint64(pairs[x>>16&0xfff])<<48)
		src, dst = src[6:], dst[8:]
	}
	base64.StdEncoding.Encode(dst, src)
}
