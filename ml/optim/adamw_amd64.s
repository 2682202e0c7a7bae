//go:build amd64 && !purego

#include "textflag.h"

// The AdamW update and the gradient's sum of squares, eight lanes at a
// time. Every operation is the one the Go loops in adamw.go,
// adamw_bf16.go and clip.go perform, in the same order and with the same
// rounding (no FMA; square roots and quotients are correctly rounded in
// both), so the results are bit-identical to theirs.

// Offsets of the adamwConsts fields.
#define DECAY 0
#define B1 4
#define W1 8
#define B2 12
#define W2 16
#define BC2 20
#define EPS 24
#define STEP 28
#define GS 32
#define SEED 36

// func adamwAVX2(data, grad, m, v *float32, n int, k *adamwConsts)
// n is a multiple of 8.
TEXT ·adamwAVX2(SB), NOSPLIT, $0-48
	MOVQ data+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ m+16(FP), R8
	MOVQ v+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ k+40(FP), AX
	VBROADCASTSS DECAY(AX), Y8
	VBROADCASTSS B1(AX), Y9
	VBROADCASTSS W1(AX), Y10
	VBROADCASTSS B2(AX), Y11
	VBROADCASTSS W2(AX), Y12
	VBROADCASTSS BC2(AX), Y13
	VBROADCASTSS EPS(AX), Y14
	VBROADCASTSS STEP(AX), Y15
	VBROADCASTSS GS(AX), Y7
	SHRQ $3, CX
	JEQ adone
aloop:
	VMOVUPS (SI), Y0
	VMULPS Y7, Y0, Y0         // g = grad·gs
	VMULPS (DI), Y8, Y1       // x = data·decay
	VMULPS (R8), Y9, Y2       // m·b1
	VMULPS Y0, Y10, Y3        // w1·g
	VADDPS Y3, Y2, Y2         // mj
	VMULPS Y0, Y0, Y4         // g·g
	VMULPS Y4, Y12, Y4        // w2·g²
	VMULPS (R9), Y11, Y3      // v·b2
	VADDPS Y4, Y3, Y3         // vj
	VMOVUPS Y2, (R8)
	VMOVUPS Y3, (R9)
	VSQRTPS Y3, Y3
	VDIVPS Y13, Y3, Y3        // √vj/bc2
	VADDPS Y14, Y3, Y3        // denom
	VDIVPS Y3, Y2, Y2         // mj/denom
	VMULPS Y2, Y15, Y2        // stepSize·(mj/denom)
	VSUBPS Y2, Y1, Y1         // x − …
	VMOVUPS Y1, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	DECQ CX
	JNE aloop
adone:
	VZEROUPPER
	RET

DATA hashK1<>+0(SB)/4, $0x9e3779b1
GLOBL hashK1<>(SB), RODATA|NOPTR, $4
DATA hashK2<>+0(SB)/4, $0x7feb352d
GLOBL hashK2<>(SB), RODATA|NOPTR, $4
DATA hashK3<>+0(SB)/4, $0x846ca68b
GLOBL hashK3<>(SB), RODATA|NOPTR, $4
DATA expMask<>+0(SB)/4, $0x7f800000
GLOBL expMask<>(SB), RODATA|NOPTR, $4
DATA mantMask<>+0(SB)/4, $0x007fffff
GLOBL mantMask<>(SB), RODATA|NOPTR, $4
DATA quiet<>+0(SB)/4, $0x00400000
GLOBL quiet<>(SB), RODATA|NOPTR, $4
DATA low16<>+0(SB)/4, $0x0000ffff
GLOBL low16<>(SB), RODATA|NOPTR, $4
DATA lanes<>+0(SB)/4, $0
DATA lanes<>+4(SB)/4, $1
DATA lanes<>+8(SB)/4, $2
DATA lanes<>+12(SB)/4, $3
DATA lanes<>+16(SB)/4, $4
DATA lanes<>+20(SB)/4, $5
DATA lanes<>+24(SB)/4, $6
DATA lanes<>+28(SB)/4, $7
GLOBL lanes<>(SB), RODATA|NOPTR, $32

// SROUND rounds the float32 lanes of X (bits) stochastically with the
// random low 16 bits of R into bf16 values in the low half of each lane of
// D, keeping infinities and quieting NaNs (see roundStochastic); T1 and T2
// are scratch.
#define SROUND(X, R, D, T1, T2) \
	VPADDD R, X, D; \
	VPSRLD $16, D, D; \
	VPBROADCASTD expMask<>(SB), T1; \
	VPAND X, T1, T2; \
	VPCMPEQD T1, T2, T2; \
	VPBROADCASTD mantMask<>(SB), T1; \
	VPAND X, T1, T1; \
	VPXOR R, R, R; \
	VPCMPEQD R, T1, T1; \
	VPANDN T2, T1, T1; \
	VPBROADCASTD quiet<>(SB), R; \
	VPAND R, T1, T1; \
	VPOR X, T1, T1; \
	VPSRLD $16, T1, T1; \
	VPBLENDVB T2, T1, D, D

// func adamwBF16AVX2(data, grad *float32, m, v *uint16, n int, base uint32, k *adamwConsts)
// n is a multiple of 8; base is the flat index of the first element.
TEXT ·adamwBF16AVX2(SB), NOSPLIT, $0-56
	MOVQ data+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ m+16(FP), R8
	MOVQ v+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ k+48(FP), AX
	MOVL base+40(FP), BX
	VMOVD BX, X6
	VPBROADCASTD X6, Y6
	VPADDD lanes<>(SB), Y6, Y6    // element indices
	SHRQ $3, CX
	JEQ bdone
bloop:
	// r = hash(index, seed) (see srBits).
	VPBROADCASTD hashK1<>(SB), Y0
	VPMULLD Y0, Y6, Y5
	VPBROADCASTD SEED(AX), Y0
	VPADDD Y0, Y5, Y5
	VPSRLD $16, Y5, Y0
	VPXOR Y0, Y5, Y5
	VPBROADCASTD hashK2<>(SB), Y0
	VPMULLD Y0, Y5, Y5
	VPSRLD $15, Y5, Y0
	VPXOR Y0, Y5, Y5
	VPBROADCASTD hashK3<>(SB), Y0
	VPMULLD Y0, Y5, Y5
	VPSRLD $16, Y5, Y0
	VPXOR Y0, Y5, Y5              // Y5 = r

	VMOVUPS (SI), Y0
	VBROADCASTSS GS(AX), Y1
	VMULPS Y1, Y0, Y0             // g
	VPMOVZXWD (R8), Y2
	VPSLLD $16, Y2, Y2            // m
	VBROADCASTSS B1(AX), Y1
	VMULPS Y1, Y2, Y2
	VBROADCASTSS W1(AX), Y1
	VMULPS Y0, Y1, Y1
	VADDPS Y1, Y2, Y2             // mj
	VPMOVZXWD (R9), Y3
	VPSLLD $16, Y3, Y3            // v
	VBROADCASTSS B2(AX), Y1
	VMULPS Y1, Y3, Y3
	VMULPS Y0, Y0, Y4
	VBROADCASTSS W2(AX), Y1
	VMULPS Y4, Y1, Y4
	VADDPS Y4, Y3, Y3             // vj

	// Store mj with the low 16 bits of r, vj with the high 16.
	VPBROADCASTD low16<>(SB), Y1
	VPAND Y1, Y5, Y1
	SROUND(Y2, Y1, Y4, Y7, Y8)
	VPACKUSDW Y4, Y4, Y4
	VPERMQ $0x08, Y4, Y4
	VMOVDQU X4, (R8)
	VPSRLD $16, Y5, Y1
	SROUND(Y3, Y1, Y4, Y7, Y8)
	VPACKUSDW Y4, Y4, Y4
	VPERMQ $0x08, Y4, Y4
	VMOVDQU X4, (R9)

	VMOVUPS (DI), Y1
	VBROADCASTSS DECAY(AX), Y4
	VMULPS Y4, Y1, Y1             // x
	VSQRTPS Y3, Y3
	VBROADCASTSS BC2(AX), Y4
	VDIVPS Y4, Y3, Y3
	VBROADCASTSS EPS(AX), Y4
	VADDPS Y4, Y3, Y3             // denom
	VDIVPS Y3, Y2, Y2
	VBROADCASTSS STEP(AX), Y4
	VMULPS Y2, Y4, Y2
	VSUBPS Y2, Y1, Y1
	VMOVUPS Y1, (DI)

	VPCMPEQD Y0, Y0, Y0
	VPSRLD $31, Y0, Y0
	VPSLLD $3, Y0, Y0             // 8 in every lane
	VPADDD Y0, Y6, Y6
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $16, R8
	ADDQ $16, R9
	DECQ CX
	JNE bloop
bdone:
	VZEROUPPER
	RET

// func sumSqAVX2(x *float32, n int, acc *[8]float64)
// acc[j%8] += float64(x[j])² for j < n (a multiple of 8), lane by lane.
TEXT ·sumSqAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ acc+16(FP), DI
	VMOVUPD (DI), Y0
	VMOVUPD 32(DI), Y1
	SHRQ $3, CX
	JEQ sdone
sloop:
	VCVTPS2PD (SI), Y2
	VCVTPS2PD 16(SI), Y3
	VMULPD Y2, Y2, Y2
	VMULPD Y3, Y3, Y3
	VADDPD Y2, Y0, Y0
	VADDPD Y3, Y1, Y1
	ADDQ $32, SI
	DECQ CX
	JNE sloop
sdone:
	VMOVUPD Y0, (DI)
	VMOVUPD Y1, 32(DI)
	VZEROUPPER
	RET
