#include "textflag.h"

// mask sets AX to a bit per byte of X9 in the class: below 0x20 or from
// 0x80 up (not greater than 0x1f as a signed byte), or equal to one of
// X1-X8.
#define MASK \
	MOVO    X9, X10 \
	PCMPGTB X0, X10 \
	MOVO    X9, X11 \
	PCMPEQB X1, X11 \
	MOVO    X9, X12 \
	PCMPEQB X2, X12 \
	POR     X12, X11 \
	MOVO    X9, X12 \
	PCMPEQB X3, X12 \
	POR     X12, X11 \
	MOVO    X9, X12 \
	PCMPEQB X4, X12 \
	POR     X12, X11 \
	MOVO    X9, X12 \
	PCMPEQB X5, X12 \
	POR     X12, X11 \
	MOVO    X9, X12 \
	PCMPEQB X6, X12 \
	POR     X12, X11 \
	MOVO    X9, X12 \
	PCMPEQB X7, X12 \
	POR     X12, X11 \
	MOVO    X9, X12 \
	PCMPEQB X8, X12 \
	POR     X12, X11 \
	PMOVMSKB X10, AX \
	XORL    $0xffff, AX \
	PMOVMSKB X11, R8 \
	ORL     R8, AX

// func indexSet16(p *byte, n int, set *[9][16]byte) int
TEXT ·indexSet16(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), BX
	MOVQ set+16(FP), DX
	MOVOU 0(DX), X0
	MOVOU 16(DX), X1
	MOVOU 32(DX), X2
	MOVOU 48(DX), X3
	MOVOU 64(DX), X4
	MOVOU 80(DX), X5
	MOVOU 96(DX), X6
	MOVOU 112(DX), X7
	MOVOU 128(DX), X8
	XORQ CX, CX
	MOVQ BX, DI
	SUBQ $16, DI // the last block that starts a full sixteen bytes

loop:
	CMPQ CX, DI
	JGT  tail
	MOVOU (SI)(CX*1), X9
	MASK
	TESTL AX, AX
	JNZ   found
	ADDQ  $16, CX
	JMP   loop

found:
	BSFL AX, AX
	ADDQ CX, AX
	MOVQ AX, ret+24(FP)
	RET

tail:
	// The last n-CX bytes, fewer than sixteen: the block of the last
	// sixteen, with the bits of the bytes read already shifted out.
	CMPQ CX, BX
	JEQ  none
	MOVOU (SI)(DI*1), X9
	MASK
	MOVQ CX, R11
	MOVQ $16, CX
	SUBQ BX, CX
	ADDQ R11, CX // 16 - (n - CX): the bytes read already
	SHRL CX, AX
	TESTL AX, AX
	JZ   none
	BSFL AX, AX
	ADDQ R11, AX
	MOVQ AX, ret+24(FP)
	RET

none:
	MOVQ BX, ret+24(FP)
	RET
