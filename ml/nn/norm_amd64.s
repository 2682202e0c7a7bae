//go:build amd64 && !purego

#include "textflag.h"

// Row kernels for LayerNorm and RMSNorm (see norm.go). Each handles n
// elements, n a positive multiple of 8, with the float32 operations of the
// scalar code in the same order (so the elementwise results agree with it
// bit for bit); row sums are accumulated in float64, in lane order.

// func sumSq64AVX2(x *float32, n int, shift float64) (sum, sumsq float64)
//
// sum = Σ (x − shift) and sumsq = Σ (x − shift)², all in float64.
TEXT ·sumSq64AVX2(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSD shift+16(FP), Y6
	SHRQ $3, CX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3

ssloop:
	VCVTPS2PD (SI), Y4
	VCVTPS2PD 16(SI), Y5
	VSUBPD Y6, Y4, Y4
	VSUBPD Y6, Y5, Y5
	VADDPD Y4, Y0, Y0
	VADDPD Y5, Y1, Y1
	VFMADD231PD Y4, Y4, Y2
	VFMADD231PD Y5, Y5, Y3
	ADDQ $32, SI
	DECQ CX
	JNZ ssloop

	VADDPD Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0
	VPERMILPD $1, X0, X1
	VADDSD X1, X0, X0
	MOVSD X0, sum+24(FP)
	VADDPD Y3, Y2, Y2
	VEXTRACTF128 $1, Y2, X3
	VADDPD X3, X2, X2
	VPERMILPD $1, X2, X3
	VADDSD X3, X2, X2
	MOVSD X2, sumsq+32(FP)
	VZEROUPPER
	RET

// func normRowAVX2(out, x, w *float32, n int, m, rs float32)
//
// out = (x − m)·rs·w.
TEXT ·normRowAVX2(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS m+32(FP), Y6
	VBROADCASTSS rs+36(FP), Y7
	SHRQ $3, CX

nrloop:
	VMOVUPS (SI), Y0
	VSUBPS Y6, Y0, Y0
	VMULPS Y7, Y0, Y0
	VMULPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	DECQ CX
	JNZ nrloop
	VZEROUPPER
	RET

// func normRowBiasAVX2(out, x, w, b *float32, n int, m, rs float32)
//
// out = (x − m)·rs·w + b.
TEXT ·normRowBiasAVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ b+24(FP), R8
	MOVQ n+32(FP), CX
	VBROADCASTSS m+40(FP), Y6
	VBROADCASTSS rs+44(FP), Y7
	SHRQ $3, CX

nbloop:
	VMOVUPS (SI), Y0
	VSUBPS Y6, Y0, Y0
	VMULPS Y7, Y0, Y0
	VMULPS (DX), Y0, Y0
	VADDPS (R8), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	ADDQ $32, R8
	DECQ CX
	JNZ nbloop
	VZEROUPPER
	RET

// func normDotsAVX2(gd, w, x *float32, n int, m, rs float32) (sg, sgx float64)
//
// sg = Σ g·w and sgx = Σ (g·w)·((x − m)·rs), products in float32, sums in
// float64.
TEXT ·normDotsAVX2(SB), NOSPLIT, $0-56
	MOVQ gd+0(FP), DX
	MOVQ w+8(FP), R8
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	VBROADCASTSS m+32(FP), Y6
	VBROADCASTSS rs+36(FP), Y7
	SHRQ $3, CX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3

ndloop:
	VMOVUPS (DX), Y4
	VMULPS (R8), Y4, Y4
	VMOVUPS (SI), Y5
	VSUBPS Y6, Y5, Y5
	VMULPS Y7, Y5, Y5
	VMULPS Y4, Y5, Y5
	VCVTPS2PD X4, Y8
	VEXTRACTF128 $1, Y4, X4
	VCVTPS2PD X4, Y9
	VADDPD Y8, Y0, Y0
	VADDPD Y9, Y1, Y1
	VCVTPS2PD X5, Y8
	VEXTRACTF128 $1, Y5, X5
	VCVTPS2PD X5, Y9
	VADDPD Y8, Y2, Y2
	VADDPD Y9, Y3, Y3
	ADDQ $32, DX
	ADDQ $32, R8
	ADDQ $32, SI
	DECQ CX
	JNZ ndloop

	VADDPD Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0
	VPERMILPD $1, X0, X1
	VADDSD X1, X0, X0
	MOVSD X0, sg+40(FP)
	VADDPD Y3, Y2, Y2
	VEXTRACTF128 $1, Y2, X3
	VADDPD X3, X2, X2
	VPERMILPD $1, X2, X3
	VADDSD X3, X2, X2
	MOVSD X2, sgx+48(FP)
	VZEROUPPER
	RET

// func normDxAVX2(dx, gd, w, x *float32, n int, m, rs, mg, mgx float32)
//
// dx += rs·((g·w − mg) − ((x − m)·rs)·mgx).
TEXT ·normDxAVX2(SB), NOSPLIT, $0-56
	MOVQ dx+0(FP), DI
	MOVQ gd+8(FP), DX
	MOVQ w+16(FP), R8
	MOVQ x+24(FP), SI
	MOVQ n+32(FP), CX
	VBROADCASTSS m+40(FP), Y6
	VBROADCASTSS rs+44(FP), Y7
	VBROADCASTSS mg+48(FP), Y10
	VBROADCASTSS mgx+52(FP), Y11
	SHRQ $3, CX

nxloop:
	VMOVUPS (DX), Y4
	VMULPS (R8), Y4, Y4
	VSUBPS Y10, Y4, Y4
	VMOVUPS (SI), Y5
	VSUBPS Y6, Y5, Y5
	VMULPS Y7, Y5, Y5
	VMULPS Y11, Y5, Y5
	VSUBPS Y5, Y4, Y4
	VMULPS Y7, Y4, Y4
	VADDPS (DI), Y4, Y4
	VMOVUPS Y4, (DI)
	ADDQ $32, DI
	ADDQ $32, DX
	ADDQ $32, R8
	ADDQ $32, SI
	DECQ CX
	JNZ nxloop
	VZEROUPPER
	RET

// func normParamAVX2(dw, gd, x *float32, n int, m, rs float32)
//
// dw += g·((x − m)·rs).
TEXT ·normParamAVX2(SB), NOSPLIT, $0-40
	MOVQ dw+0(FP), DI
	MOVQ gd+8(FP), DX
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	VBROADCASTSS m+32(FP), Y6
	VBROADCASTSS rs+36(FP), Y7
	SHRQ $3, CX

nploop:
	VMOVUPS (SI), Y5
	VSUBPS Y6, Y5, Y5
	VMULPS Y7, Y5, Y5
	VMULPS (DX), Y5, Y5
	VADDPS (DI), Y5, Y5
	VMOVUPS Y5, (DI)
	ADDQ $32, DI
	ADDQ $32, DX
	ADDQ $32, SI
	DECQ CX
	JNZ nploop
	VZEROUPPER
	RET

// func accAVX2(dst, src *float32, n int)
//
// dst += src.
TEXT ·accAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX

acloop:
	VMOVUPS (DI), Y0
	VADDPS (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNZ acloop
	VZEROUPPER
	RET

// func addAVX2(out, a, b *float32, n int)
//
// out = a + b.
TEXT ·addAVX2(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX

adloop:
	VMOVUPS (SI), Y0
	VADDPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	DECQ CX
	JNZ adloop
	VZEROUPPER
	RET
