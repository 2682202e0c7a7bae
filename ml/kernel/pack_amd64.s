//go:build amd64 && !purego

#include "textflag.h"

// func transpose8AVX2(dst *float32, dstStride int, src *float32, srcStride int, n int)
// For r < 8 and p < n (n a multiple of 8): dst[p*dstStride+r] = src[r*srcStride+p].
// Strides are in elements. Eight source rows are loaded eight columns at a
// time and transposed in registers (unpack, shuffle, lane permute).
TEXT ·transpose8AVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), R8
	SHLQ $2, R8
	MOVQ src+16(FP), SI
	MOVQ srcStride+24(FP), R9
	SHLQ $2, R9
	MOVQ n+32(FP), CX
	SHRQ $3, CX
	JEQ  done8
	// R10 = SI + 3*stride, R11 = SI + 5*stride, R12 = SI + 7*stride
	LEAQ (R9)(R9*2), R13
	LEAQ (SI)(R13*1), R10
	LEAQ (R9)(R9*4), R13
	LEAQ (SI)(R13*1), R11
	LEAQ (R9)(R9*2), R13
	LEAQ (R11)(R9*2), R12

loop8:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R9*1), Y1
	VMOVUPS (SI)(R9*2), Y2
	VMOVUPS (R10), Y3
	VMOVUPS (SI)(R9*4), Y4
	VMOVUPS (R11), Y5
	VMOVUPS (R10)(R13*1), Y6
	VMOVUPS (R12), Y7

	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15

	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7

	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15

	MOVQ DI, DX
	VMOVUPS Y8, (DX)
	ADDQ R8, DX
	VMOVUPS Y9, (DX)
	ADDQ R8, DX
	VMOVUPS Y10, (DX)
	ADDQ R8, DX
	VMOVUPS Y11, (DX)
	ADDQ R8, DX
	VMOVUPS Y12, (DX)
	ADDQ R8, DX
	VMOVUPS Y13, (DX)
	ADDQ R8, DX
	VMOVUPS Y14, (DX)
	ADDQ R8, DX
	VMOVUPS Y15, (DX)
	ADDQ R8, DX
	MOVQ DX, DI

	ADDQ $32, SI
	ADDQ $32, R10
	ADDQ $32, R11
	ADDQ $32, R12
	DECQ CX
	JNE  loop8

done8:
	VZEROUPPER
	RET

// func transpose4AVX2(dst *float32, dstStride int, src *float32, srcStride int, n int)
// As transpose8AVX2 for four rows: dst[p*dstStride+r] = src[r*srcStride+p], r < 4.
TEXT ·transpose4AVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), R8
	SHLQ $2, R8
	MOVQ src+16(FP), SI
	MOVQ srcStride+24(FP), R9
	SHLQ $2, R9
	MOVQ n+32(FP), CX
	SHRQ $3, CX
	JEQ  done4
	LEAQ (R9)(R9*2), R13
	LEAQ (SI)(R13*1), R10

loop4:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R9*1), Y1
	VMOVUPS (SI)(R9*2), Y2
	VMOVUPS (R10), Y3

	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11

	// Y4..Y7 hold columns (p, p+4), (p+1, p+5), (p+2, p+6), (p+3, p+7)
	// in their low and high 128-bit lanes.
	VSHUFPS $0x44, Y10, Y8, Y4
	VSHUFPS $0xEE, Y10, Y8, Y5
	VSHUFPS $0x44, Y11, Y9, Y6
	VSHUFPS $0xEE, Y11, Y9, Y7

	MOVQ DI, DX
	VMOVUPS X4, (DX)
	ADDQ R8, DX
	VMOVUPS X5, (DX)
	ADDQ R8, DX
	VMOVUPS X6, (DX)
	ADDQ R8, DX
	VMOVUPS X7, (DX)
	ADDQ R8, DX
	VEXTRACTF128 $1, Y4, (DX)
	ADDQ R8, DX
	VEXTRACTF128 $1, Y5, (DX)
	ADDQ R8, DX
	VEXTRACTF128 $1, Y6, (DX)
	ADDQ R8, DX
	VEXTRACTF128 $1, Y7, (DX)
	ADDQ R8, DX
	MOVQ DX, DI

	ADDQ $32, SI
	ADDQ $32, R10
	DECQ CX
	JNE  loop4

done4:
	VZEROUPPER
	RET

// func transposeBF16x8AVX2(dst *float32, dstStride int, src *uint16, srcStride int, n int)
// transpose8AVX2 for a bfloat16 source, widened to float32 on load:
// dst[p*dstStride+r] = float32(src[r*srcStride+p]) for r < 8, p < n (n a
// multiple of 8). Strides are in elements.
TEXT ·transposeBF16x8AVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), R8
	SHLQ $2, R8
	MOVQ src+16(FP), SI
	MOVQ srcStride+24(FP), R9
	SHLQ $1, R9
	MOVQ n+32(FP), CX
	SHRQ $3, CX
	JEQ  donebf8
	// R10 = SI + 3*stride, R11 = SI + 5*stride, R12 = SI + 7*stride
	LEAQ (R9)(R9*2), R13
	LEAQ (SI)(R13*1), R10
	LEAQ (R9)(R9*4), R13
	LEAQ (SI)(R13*1), R11
	LEAQ (R9)(R9*2), R13
	LEAQ (R11)(R9*2), R12

loopbf8:
	VPMOVZXWD (SI), Y0
	VPMOVZXWD (SI)(R9*1), Y1
	VPMOVZXWD (SI)(R9*2), Y2
	VPMOVZXWD (R10), Y3
	VPMOVZXWD (SI)(R9*4), Y4
	VPMOVZXWD (R11), Y5
	VPMOVZXWD (R10)(R13*1), Y6
	VPMOVZXWD (R12), Y7
	VPSLLD $16, Y0, Y0
	VPSLLD $16, Y1, Y1
	VPSLLD $16, Y2, Y2
	VPSLLD $16, Y3, Y3
	VPSLLD $16, Y4, Y4
	VPSLLD $16, Y5, Y5
	VPSLLD $16, Y6, Y6
	VPSLLD $16, Y7, Y7

	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15

	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7

	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15

	MOVQ DI, DX
	VMOVUPS Y8, (DX)
	ADDQ R8, DX
	VMOVUPS Y9, (DX)
	ADDQ R8, DX
	VMOVUPS Y10, (DX)
	ADDQ R8, DX
	VMOVUPS Y11, (DX)
	ADDQ R8, DX
	VMOVUPS Y12, (DX)
	ADDQ R8, DX
	VMOVUPS Y13, (DX)
	ADDQ R8, DX
	VMOVUPS Y14, (DX)
	ADDQ R8, DX
	VMOVUPS Y15, (DX)
	ADDQ R8, DX
	MOVQ DX, DI

	ADDQ $16, SI
	ADDQ $16, R10
	ADDQ $16, R11
	ADDQ $16, R12
	DECQ CX
	JNE  loopbf8

donebf8:
	VZEROUPPER
	RET
