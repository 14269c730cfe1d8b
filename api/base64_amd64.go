package api

import "golang.org/x/sys/cpu"

// encodeBlocksSSSE3 encodes src to dst twelve bytes to sixteen characters
// at a time while sixteen bytes of src are left to read and sixteen of dst
// to write, and returns how many bytes of src it encoded.
//
//go:noescape
func encodeBlocksSSSE3(dst, src []byte) int

// encodeBlocks is encodeBlocksSSSE3 where the processor has SSSE3, else
// nothing (0).
func encodeBlocks(dst, src []byte) int {
	if !cpu.X86.HasSSSE3 {
		return 0
	}
	return encodeBlocksSSSE3(dst, src)
}
