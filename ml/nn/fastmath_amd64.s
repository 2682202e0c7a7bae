//go:build amd64 && !purego

#include "textflag.h"

// Constants for expShiftAVX2, each broadcast to 8 lanes (see fastmath.go).
DATA expLog2e<>+0(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+4(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+8(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+12(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+16(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+20(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+24(SB)/4, $0x3fb8aa3b
DATA expLog2e<>+28(SB)/4, $0x3fb8aa3b
GLOBL expLog2e<>(SB), RODATA|NOPTR, $32
DATA expMagic<>+0(SB)/4, $0x4b400000
DATA expMagic<>+4(SB)/4, $0x4b400000
DATA expMagic<>+8(SB)/4, $0x4b400000
DATA expMagic<>+12(SB)/4, $0x4b400000
DATA expMagic<>+16(SB)/4, $0x4b400000
DATA expMagic<>+20(SB)/4, $0x4b400000
DATA expMagic<>+24(SB)/4, $0x4b400000
DATA expMagic<>+28(SB)/4, $0x4b400000
GLOBL expMagic<>(SB), RODATA|NOPTR, $32
DATA expLn2Hi<>+0(SB)/4, $0x3f318000
DATA expLn2Hi<>+4(SB)/4, $0x3f318000
DATA expLn2Hi<>+8(SB)/4, $0x3f318000
DATA expLn2Hi<>+12(SB)/4, $0x3f318000
DATA expLn2Hi<>+16(SB)/4, $0x3f318000
DATA expLn2Hi<>+20(SB)/4, $0x3f318000
DATA expLn2Hi<>+24(SB)/4, $0x3f318000
DATA expLn2Hi<>+28(SB)/4, $0x3f318000
GLOBL expLn2Hi<>(SB), RODATA|NOPTR, $32
DATA expLn2Lo<>+0(SB)/4, $0xb95e8083
DATA expLn2Lo<>+4(SB)/4, $0xb95e8083
DATA expLn2Lo<>+8(SB)/4, $0xb95e8083
DATA expLn2Lo<>+12(SB)/4, $0xb95e8083
DATA expLn2Lo<>+16(SB)/4, $0xb95e8083
DATA expLn2Lo<>+20(SB)/4, $0xb95e8083
DATA expLn2Lo<>+24(SB)/4, $0xb95e8083
DATA expLn2Lo<>+28(SB)/4, $0xb95e8083
GLOBL expLn2Lo<>(SB), RODATA|NOPTR, $32
DATA expC5<>+0(SB)/4, $0x39506967
DATA expC5<>+4(SB)/4, $0x39506967
DATA expC5<>+8(SB)/4, $0x39506967
DATA expC5<>+12(SB)/4, $0x39506967
DATA expC5<>+16(SB)/4, $0x39506967
DATA expC5<>+20(SB)/4, $0x39506967
DATA expC5<>+24(SB)/4, $0x39506967
DATA expC5<>+28(SB)/4, $0x39506967
GLOBL expC5<>(SB), RODATA|NOPTR, $32
DATA expC4<>+0(SB)/4, $0x3ab743ce
DATA expC4<>+4(SB)/4, $0x3ab743ce
DATA expC4<>+8(SB)/4, $0x3ab743ce
DATA expC4<>+12(SB)/4, $0x3ab743ce
DATA expC4<>+16(SB)/4, $0x3ab743ce
DATA expC4<>+20(SB)/4, $0x3ab743ce
DATA expC4<>+24(SB)/4, $0x3ab743ce
DATA expC4<>+28(SB)/4, $0x3ab743ce
GLOBL expC4<>(SB), RODATA|NOPTR, $32
DATA expC3<>+0(SB)/4, $0x3c088908
DATA expC3<>+4(SB)/4, $0x3c088908
DATA expC3<>+8(SB)/4, $0x3c088908
DATA expC3<>+12(SB)/4, $0x3c088908
DATA expC3<>+16(SB)/4, $0x3c088908
DATA expC3<>+20(SB)/4, $0x3c088908
DATA expC3<>+24(SB)/4, $0x3c088908
DATA expC3<>+28(SB)/4, $0x3c088908
GLOBL expC3<>(SB), RODATA|NOPTR, $32
DATA expC2<>+0(SB)/4, $0x3d2aa9c1
DATA expC2<>+4(SB)/4, $0x3d2aa9c1
DATA expC2<>+8(SB)/4, $0x3d2aa9c1
DATA expC2<>+12(SB)/4, $0x3d2aa9c1
DATA expC2<>+16(SB)/4, $0x3d2aa9c1
DATA expC2<>+20(SB)/4, $0x3d2aa9c1
DATA expC2<>+24(SB)/4, $0x3d2aa9c1
DATA expC2<>+28(SB)/4, $0x3d2aa9c1
GLOBL expC2<>(SB), RODATA|NOPTR, $32
DATA expC1<>+0(SB)/4, $0x3e2aaaaa
DATA expC1<>+4(SB)/4, $0x3e2aaaaa
DATA expC1<>+8(SB)/4, $0x3e2aaaaa
DATA expC1<>+12(SB)/4, $0x3e2aaaaa
DATA expC1<>+16(SB)/4, $0x3e2aaaaa
DATA expC1<>+20(SB)/4, $0x3e2aaaaa
DATA expC1<>+24(SB)/4, $0x3e2aaaaa
DATA expC1<>+28(SB)/4, $0x3e2aaaaa
GLOBL expC1<>(SB), RODATA|NOPTR, $32
DATA expC0<>+0(SB)/4, $0x3f000000
DATA expC0<>+4(SB)/4, $0x3f000000
DATA expC0<>+8(SB)/4, $0x3f000000
DATA expC0<>+12(SB)/4, $0x3f000000
DATA expC0<>+16(SB)/4, $0x3f000000
DATA expC0<>+20(SB)/4, $0x3f000000
DATA expC0<>+24(SB)/4, $0x3f000000
DATA expC0<>+28(SB)/4, $0x3f000000
GLOBL expC0<>(SB), RODATA|NOPTR, $32
DATA expHi<>+0(SB)/4, $0x42b00000
DATA expHi<>+4(SB)/4, $0x42b00000
DATA expHi<>+8(SB)/4, $0x42b00000
DATA expHi<>+12(SB)/4, $0x42b00000
DATA expHi<>+16(SB)/4, $0x42b00000
DATA expHi<>+20(SB)/4, $0x42b00000
DATA expHi<>+24(SB)/4, $0x42b00000
DATA expHi<>+28(SB)/4, $0x42b00000
GLOBL expHi<>(SB), RODATA|NOPTR, $32
DATA expLo<>+0(SB)/4, $0xc2aeac4f
DATA expLo<>+4(SB)/4, $0xc2aeac4f
DATA expLo<>+8(SB)/4, $0xc2aeac4f
DATA expLo<>+12(SB)/4, $0xc2aeac4f
DATA expLo<>+16(SB)/4, $0xc2aeac4f
DATA expLo<>+20(SB)/4, $0xc2aeac4f
DATA expLo<>+24(SB)/4, $0xc2aeac4f
DATA expLo<>+28(SB)/4, $0xc2aeac4f
GLOBL expLo<>(SB), RODATA|NOPTR, $32
DATA expOne<>+0(SB)/4, $0x3f800000
DATA expOne<>+4(SB)/4, $0x3f800000
DATA expOne<>+8(SB)/4, $0x3f800000
DATA expOne<>+12(SB)/4, $0x3f800000
DATA expOne<>+16(SB)/4, $0x3f800000
DATA expOne<>+20(SB)/4, $0x3f800000
DATA expOne<>+24(SB)/4, $0x3f800000
DATA expOne<>+28(SB)/4, $0x3f800000
GLOBL expOne<>(SB), RODATA|NOPTR, $32
DATA expBias<>+0(SB)/4, $0x0000007f
DATA expBias<>+4(SB)/4, $0x0000007f
DATA expBias<>+8(SB)/4, $0x0000007f
DATA expBias<>+12(SB)/4, $0x0000007f
DATA expBias<>+16(SB)/4, $0x0000007f
DATA expBias<>+20(SB)/4, $0x0000007f
DATA expBias<>+24(SB)/4, $0x0000007f
DATA expBias<>+28(SB)/4, $0x0000007f
GLOBL expBias<>(SB), RODATA|NOPTR, $32

// func expShiftAVX2(dst, src *float32, n int, shift float32) (sum float32)
//
// dst[i] = exp(src[i] + shift) for i < n (n a positive multiple of 8) and
// returns the sum of the results. Same algorithm as expf in fastmath.go,
// with fused multiply-adds; inputs below expLo give 0, above expHi e^88.
TEXT ·expShiftAVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS shift+24(FP), Y8
	VMOVUPS expMagic<>(SB), Y15
	VMOVUPS expLog2e<>(SB), Y14
	VMOVUPS expLn2Hi<>(SB), Y13
	VMOVUPS expLn2Lo<>(SB), Y12
	VMOVUPS expHi<>(SB), Y11
	VMOVUPS expLo<>(SB), Y10
	VMOVUPS expOne<>(SB), Y9
	VMOVUPS expBias<>(SB), Y6
	VXORPS Y7, Y7, Y7
	SHRQ $3, CX

loop:
	VMOVUPS (SI), Y0
	VADDPS Y8, Y0, Y0
	VCMPPS $1, Y10, Y0, Y5
	VMINPS Y0, Y11, Y0
	VMAXPS Y0, Y10, Y0
	VMOVAPS Y14, Y1
	VFMADD213PS Y15, Y0, Y1
	VSUBPS Y15, Y1, Y1
	VMOVAPS Y0, Y2
	VFNMADD231PS Y13, Y1, Y2
	VFNMADD231PS Y12, Y1, Y2
	VMULPS Y2, Y2, Y4
	VMOVUPS expC5<>(SB), Y0
	VFMADD213PS expC4<>(SB), Y2, Y0
	VFMADD213PS expC3<>(SB), Y2, Y0
	VFMADD213PS expC2<>(SB), Y2, Y0
	VFMADD213PS expC1<>(SB), Y2, Y0
	VFMADD213PS expC0<>(SB), Y2, Y0
	VFMADD213PS Y2, Y4, Y0
	VADDPS Y9, Y0, Y0
	VCVTTPS2DQ Y1, Y1
	VPADDD Y6, Y1, Y1
	VPSLLD $23, Y1, Y1
	VMULPS Y1, Y0, Y0
	VANDNPS Y0, Y5, Y0
	VMOVUPS Y0, (DI)
	VADDPS Y0, Y7, Y7
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ loop

	VEXTRACTF128 $1, Y7, X0
	VADDPS X0, X7, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	MOVSS X0, sum+32(FP)
	VZEROUPPER
	RET

// func scaleAVX2(dst, src *float32, n int, s float32)
//
// dst[i] = src[i]·s for i < n (n a positive multiple of 8).
TEXT ·scaleAVX2(SB), NOSPLIT, $0-28
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS s+24(FP), Y1
	SHRQ $3, CX

scaleloop:
	VMULPS (SI), Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ scaleloop
	VZEROUPPER
	RET

// GELU and SwiGLU constants, broadcast to 8 lanes.
DATA geluA<>+0(SB)/4, $0xbfcc422a
DATA geluA<>+4(SB)/4, $0xbfcc422a
DATA geluA<>+8(SB)/4, $0xbfcc422a
DATA geluA<>+12(SB)/4, $0xbfcc422a
DATA geluA<>+16(SB)/4, $0xbfcc422a
DATA geluA<>+20(SB)/4, $0xbfcc422a
DATA geluA<>+24(SB)/4, $0xbfcc422a
DATA geluA<>+28(SB)/4, $0xbfcc422a
GLOBL geluA<>(SB), RODATA|NOPTR, $32
DATA geluB<>+0(SB)/4, $0xbd922279
DATA geluB<>+4(SB)/4, $0xbd922279
DATA geluB<>+8(SB)/4, $0xbd922279
DATA geluB<>+12(SB)/4, $0xbd922279
DATA geluB<>+16(SB)/4, $0xbd922279
DATA geluB<>+20(SB)/4, $0xbd922279
DATA geluB<>+24(SB)/4, $0xbd922279
DATA geluB<>+28(SB)/4, $0xbd922279
GLOBL geluB<>(SB), RODATA|NOPTR, $32
DATA geluC1<>+0(SB)/4, $0x3fcc422a
DATA geluC1<>+4(SB)/4, $0x3fcc422a
DATA geluC1<>+8(SB)/4, $0x3fcc422a
DATA geluC1<>+12(SB)/4, $0x3fcc422a
DATA geluC1<>+16(SB)/4, $0x3fcc422a
DATA geluC1<>+20(SB)/4, $0x3fcc422a
DATA geluC1<>+24(SB)/4, $0x3fcc422a
DATA geluC1<>+28(SB)/4, $0x3fcc422a
GLOBL geluC1<>(SB), RODATA|NOPTR, $32
DATA geluC3<>+0(SB)/4, $0x3e5b33b6
DATA geluC3<>+4(SB)/4, $0x3e5b33b6
DATA geluC3<>+8(SB)/4, $0x3e5b33b6
DATA geluC3<>+12(SB)/4, $0x3e5b33b6
DATA geluC3<>+16(SB)/4, $0x3e5b33b6
DATA geluC3<>+20(SB)/4, $0x3e5b33b6
DATA geluC3<>+24(SB)/4, $0x3e5b33b6
DATA geluC3<>+28(SB)/4, $0x3e5b33b6
GLOBL geluC3<>(SB), RODATA|NOPTR, $32
DATA signMask<>+0(SB)/4, $0x80000000
DATA signMask<>+4(SB)/4, $0x80000000
DATA signMask<>+8(SB)/4, $0x80000000
DATA signMask<>+12(SB)/4, $0x80000000
DATA signMask<>+16(SB)/4, $0x80000000
DATA signMask<>+20(SB)/4, $0x80000000
DATA signMask<>+24(SB)/4, $0x80000000
DATA signMask<>+28(SB)/4, $0x80000000
GLOBL signMask<>(SB), RODATA|NOPTR, $32

// EXP8 sets R = e^X lane by lane (X is clobbered; T1, T2 are temporaries),
// with the range reduction and polynomial of expShiftAVX2; the polynomial
// is evaluated as 1 + r·(1 + r·p).
#define EXP8(X, R, T1, T2) \
	VCMPPS $1, expLo<>(SB), X, T2; \
	VMINPS expHi<>(SB), X, X; \
	VMAXPS expLo<>(SB), X, X; \
	VMOVUPS expLog2e<>(SB), T1; \
	VFMADD213PS expMagic<>(SB), X, T1; \
	VSUBPS expMagic<>(SB), T1, T1; \
	VFNMADD231PS expLn2Hi<>(SB), T1, X; \
	VFNMADD231PS expLn2Lo<>(SB), T1, X; \
	VCVTTPS2DQ T1, T1; \
	VPADDD expBias<>(SB), T1, T1; \
	VPSLLD $23, T1, T1; \
	VMOVUPS expC5<>(SB), R; \
	VFMADD213PS expC4<>(SB), X, R; \
	VFMADD213PS expC3<>(SB), X, R; \
	VFMADD213PS expC2<>(SB), X, R; \
	VFMADD213PS expC1<>(SB), X, R; \
	VFMADD213PS expC0<>(SB), X, R; \
	VFMADD213PS expOne<>(SB), X, R; \
	VFMADD213PS expOne<>(SB), X, R; \
	VMULPS T1, R, R; \
	VANDNPS R, T2, R

// func geluFwdAVX2(out, x *float32, n int)
//
// out = x·σ(2u) = x / (1 + e^(x·(A + B·x²))), u = √(2/π)·(x + 0.044715·x³).
TEXT ·geluFwdAVX2(SB), NOSPLIT, $0-24
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX

gfloop:
	VMOVUPS (SI), Y0
	VMULPS Y0, Y0, Y1
	VMOVUPS geluB<>(SB), Y2
	VFMADD213PS geluA<>(SB), Y1, Y2
	VMULPS Y0, Y2, Y2
	EXP8(Y2, Y3, Y4, Y5)
	VADDPS expOne<>(SB), Y3, Y3
	VDIVPS Y3, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ gfloop
	VZEROUPPER
	RET

// func geluBwdAVX2(dx, dout, x *float32, n int)
//
// dx += dout·(s + x·s·(1−s)·(C1 + C3·x²)) with s = σ(2u).
TEXT ·geluBwdAVX2(SB), NOSPLIT, $0-32
	MOVQ dx+0(FP), DI
	MOVQ dout+8(FP), DX
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	SHRQ $3, CX

gbloop:
	VMOVUPS (SI), Y0
	VMULPS Y0, Y0, Y1
	VMOVUPS geluB<>(SB), Y2
	VFMADD213PS geluA<>(SB), Y1, Y2
	VMULPS Y0, Y2, Y2
	EXP8(Y2, Y3, Y4, Y5)
	VADDPS expOne<>(SB), Y3, Y3
	VMOVUPS expOne<>(SB), Y6
	VDIVPS Y3, Y6, Y3
	VSUBPS Y3, Y6, Y6
	VMULPS Y3, Y6, Y6
	VMULPS Y0, Y6, Y6
	VMOVUPS geluC3<>(SB), Y7
	VFMADD213PS geluC1<>(SB), Y1, Y7
	VFMADD213PS Y3, Y7, Y6
	VMOVUPS (DI), Y8
	VFMADD231PS (DX), Y6, Y8
	VMOVUPS Y8, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	DECQ CX
	JNZ gbloop
	VZEROUPPER
	RET

// func swigluFwdAVX2(h, gate, up *float32, n int)
//
// h = gate·up / (1 + e^(−gate)).
TEXT ·swigluFwdAVX2(SB), NOSPLIT, $0-32
	MOVQ h+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
	SHRQ $3, CX

sfloop:
	VMOVUPS (SI), Y0
	VXORPS signMask<>(SB), Y0, Y2
	EXP8(Y2, Y3, Y4, Y5)
	VADDPS expOne<>(SB), Y3, Y3
	VMULPS (DX), Y0, Y0
	VDIVPS Y3, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	DECQ CX
	JNZ sfloop
	VZEROUPPER
	RET

// func swigluBwdAVX2(dgate, dup, dh, gate, up *float32, n int)
//
// With s = σ(gate): dup += dh·gate·s; dgate += dh·up·s·(1 + gate·(1−s)).
TEXT ·swigluBwdAVX2(SB), NOSPLIT, $0-48
	MOVQ dgate+0(FP), DI
	MOVQ dup+8(FP), R8
	MOVQ dh+16(FP), DX
	MOVQ gate+24(FP), SI
	MOVQ up+32(FP), R9
	MOVQ n+40(FP), CX
	SHRQ $3, CX

sbloop:
	VMOVUPS (SI), Y0
	VXORPS signMask<>(SB), Y0, Y2
	EXP8(Y2, Y3, Y4, Y5)
	VADDPS expOne<>(SB), Y3, Y3
	VMOVUPS expOne<>(SB), Y6
	VDIVPS Y3, Y6, Y3
	VMOVUPS (DX), Y1
	VMULPS Y0, Y3, Y7
	VMOVUPS (R8), Y8
	VFMADD231PS Y1, Y7, Y8
	VMOVUPS Y8, (R8)
	VSUBPS Y3, Y6, Y7
	VFMADD213PS Y6, Y0, Y7
	VMULPS Y3, Y7, Y7
	VMULPS (R9), Y7, Y7
	VMOVUPS (DI), Y8
	VFMADD231PS Y1, Y7, Y8
	VMOVUPS Y8, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	ADDQ $32, R8
	ADDQ $32, R9
	DECQ CX
	JNZ sbloop
	VZEROUPPER
	RET

// func maxAVX2(x *float32, n int) float32
//
// The largest of x[0:n] (n a positive multiple of 16); NaNs are skipped
// like the scalar code skips them, unless every element is NaN.
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	SHRQ $4, CX

mxloop:
	VMAXPS (SI), Y0, Y0
	VMAXPS 32(SI), Y1, Y1
	ADDQ $64, SI
	DECQ CX
	JNZ mxloop

	VMAXPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VMAXPS X1, X0, X0
	VMOVSHDUP X0, X1
	VMAXSS X1, X0, X0
	MOVSS X0, ret+16(FP)
	VZEROUPPER
	RET

// func mulSubAVX2(d, p *float32, n int, c float32)
//
// d = p·(d − c) for i < n (n a positive multiple of 8): the softmax
// backward step dS = P ⊙ (dP − rowsum(dO ⊙ O)).
TEXT ·mulSubAVX2(SB), NOSPLIT, $0-28
	MOVQ d+0(FP), DI
	MOVQ p+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS c+24(FP), Y1
	SHRQ $3, CX

msloop:
	VMOVUPS (DI), Y0
	VSUBPS Y1, Y0, Y0
	VMULPS (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNZ msloop
	VZEROUPPER
	RET

// func ropeAVX2(out, x, cos, sin *float32, h int, sign float32, acc int)
//
// Rotates one head in the rotate_half convention: with x1 = x[0:h],
// x2 = x[h:2h] and s = sign·sin, out1 = x1·cos − x2·s and
// out2 = x2·cos + x1·s; added onto out when acc != 0. h is a positive
// multiple of 8. Same operations as the scalar code in rope.go.
TEXT ·ropeAVX2(SB), NOSPLIT, $0-56
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ cos+16(FP), DX
	MOVQ sin+24(FP), R8
	MOVQ h+32(FP), CX
	VBROADCASTSS sign+40(FP), Y7
	MOVQ acc+48(FP), R9
	LEAQ (SI)(CX*4), R10
	LEAQ (DI)(CX*4), R11
	SHRQ $3, CX

rploop:
	VMOVUPS (SI), Y0
	VMOVUPS (R10), Y1
	VMOVUPS (DX), Y2
	VMULPS (R8), Y7, Y3
	VMULPS Y2, Y0, Y4
	VMULPS Y3, Y1, Y5
	VSUBPS Y5, Y4, Y4
	VMULPS Y2, Y1, Y5
	VMULPS Y3, Y0, Y6
	VADDPS Y6, Y5, Y5
	TESTQ R9, R9
	JZ rpstore
	VADDPS (DI), Y4, Y4
	VADDPS (R11), Y5, Y5

rpstore:
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, (R11)
	ADDQ $32, SI
	ADDQ $32, R10
	ADDQ $32, DI
	ADDQ $32, R11
	ADDQ $32, DX
	ADDQ $32, R8
	DECQ CX
	JNZ rploop
	VZEROUPPER
	RET

// func siluFwdAVX2(out, x *float32, n int)
//
// out = x / (1 + e^(−x)).
TEXT ·siluFwdAVX2(SB), NOSPLIT, $0-24
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX

slfloop:
	VMOVUPS (SI), Y0
	VXORPS signMask<>(SB), Y0, Y2
	EXP8(Y2, Y3, Y4, Y5)
	VADDPS expOne<>(SB), Y3, Y3
	VDIVPS Y3, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ slfloop
	VZEROUPPER
	RET

// func siluBwdAVX2(dx, dout, x *float32, n int)
//
// With s = σ(x): dx += dout·s·(1 + x·(1−s)).
TEXT ·siluBwdAVX2(SB), NOSPLIT, $0-32
	MOVQ dx+0(FP), DI
	MOVQ dout+8(FP), DX
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	SHRQ $3, CX

slbloop:
	VMOVUPS (SI), Y0
	VXORPS signMask<>(SB), Y0, Y2
	EXP8(Y2, Y3, Y4, Y5)
	VADDPS expOne<>(SB), Y3, Y3
	VMOVUPS expOne<>(SB), Y6
	VDIVPS Y3, Y6, Y3
	VSUBPS Y3, Y6, Y7
	VFMADD213PS Y6, Y0, Y7
	VMULPS Y3, Y7, Y7
	VMOVUPS (DI), Y8
	VFMADD231PS (DX), Y7, Y8
	VMOVUPS Y8, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	DECQ CX
	JNZ slbloop
	VZEROUPPER
	RET
