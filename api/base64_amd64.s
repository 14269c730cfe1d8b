#include "textflag.h"

// The constants of Muła's base64 encoding with SSSE3: the byte shuffle
// that puts each group's three bytes where the multiplies split them into
// four six-bit values, the masks and multipliers, and the offsets that
// turn a value into its character.
DATA b64shuf<>+0(SB)/8, $0x0405030401020001
DATA b64shuf<>+8(SB)/8, $0x0a0b090a07080607
GLOBL b64shuf<>(SB), RODATA|NOPTR, $16

DATA b64mask1<>+0(SB)/8, $0x0fc0fc000fc0fc00
DATA b64mask1<>+8(SB)/8, $0x0fc0fc000fc0fc00
GLOBL b64mask1<>(SB), RODATA|NOPTR, $16

DATA b64mul1<>+0(SB)/8, $0x0400004004000040
DATA b64mul1<>+8(SB)/8, $0x0400004004000040
GLOBL b64mul1<>(SB), RODATA|NOPTR, $16

DATA b64mask2<>+0(SB)/8, $0x003f03f0003f03f0
DATA b64mask2<>+8(SB)/8, $0x003f03f0003f03f0
GLOBL b64mask2<>(SB), RODATA|NOPTR, $16

DATA b64mul2<>+0(SB)/8, $0x0100001001000010
DATA b64mul2<>+8(SB)/8, $0x0100001001000010
GLOBL b64mul2<>(SB), RODATA|NOPTR, $16

DATA b64n51<>+0(SB)/8, $0x3333333333333333
DATA b64n51<>+8(SB)/8, $0x3333333333333333
GLOBL b64n51<>(SB), RODATA|NOPTR, $16

DATA b64n25<>+0(SB)/8, $0x1919191919191919
DATA b64n25<>+8(SB)/8, $0x1919191919191919
GLOBL b64n25<>(SB), RODATA|NOPTR, $16

// 65, 71, then -4 ten times, -19, -16, 0, 0
DATA b64lut<>+0(SB)/8, $0xfcfcfcfcfcfc4741
DATA b64lut<>+8(SB)/8, $0x0000f0edfcfcfcfc
GLOBL b64lut<>(SB), RODATA|NOPTR, $16

// func encodeBlocksSSSE3(dst, src []byte) int
TEXT ·encodeBlocksSSSE3(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), DX
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), BX
	MOVOU b64shuf<>(SB), X8
	MOVOU b64mask1<>(SB), X9
	MOVOU b64mul1<>(SB), X10
	MOVOU b64mask2<>(SB), X11
	MOVOU b64mul2<>(SB), X12
	MOVOU b64n51<>(SB), X13
	MOVOU b64n25<>(SB), X14
	MOVOU b64lut<>(SB), X7
	XORQ CX, CX // source bytes read

loop:
	// Sixteen bytes must be readable and sixteen writable.
	CMPQ BX, $16
	JLT  done
	CMPQ DX, $16
	JLT  done
	MOVOU (SI), X0
	PSHUFB X8, X0
	MOVO X0, X1
	PAND X9, X1
	PMULHUW X10, X1
	PAND X11, X0
	PMULLW X12, X0
	POR X1, X0 // sixteen six-bit values
	MOVO X0, X2
	PSUBUSB X13, X2 // value - 51, at least 0
	MOVO X0, X3
	PCMPGTB X14, X3 // value > 25
	PSUBB X3, X2    // the offset's index
	MOVO X7, X4
	PSHUFB X2, X4
	PADDB X4, X0
	MOVOU X0, (DI)
	ADDQ $12, SI
	SUBQ $12, BX
	ADDQ $16, DI
	SUBQ $16, DX
	ADDQ $12, CX
	JMP  loop

done:
	MOVQ CX, ret+48(FP)
	RET
