package kernel

import (
	"math"
	"unsafe"
)

// The bf16 kernels read op(A) in panels of 32 rows and op(B) in panels of
// 32 columns, both cut along k into chunks of 32 (zero padded), each chunk
// 1024 bf16 values (2 KiB):
//
//	A chunk: 32 rows × 32 k, row i at 32·i       (two AMX tiles of 16 rows)
//	B chunk: 16 k-pairs × 32 columns × 2, pair-row q at 64·q, column j's
//	         pair (B[2q][j], B[2q+1][j]) at 64·q + 2·j   (two AMX tiles)
//
// A panel of kc32 = kc rounded up to 32 holds kc32/32 chunks, 32·kc32
// values. Packing rounds float32 to bf16 as VCVTNE2PS2BF16 does, so that
// the assembly packers (gemm_bf16_amd64.s) and the Go ones here give the
// same bits: these Go loops pack whatever the fast paths leave (every
// operand off amd64; the edges of the matrices on it).

// roundBF16 rounds f to bfloat16 to nearest even with subnormals flushed to
// zero, as VCVTNE2PS2BF16 does.
func roundBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7f800000 == 0 {
		return uint16(u>>16) & 0x8000
	}
	return Float32ToBF16(f)
}

// at returns element (r, c) of the row-major operand as float32.
func (o Operand) at(r, c, ld int) float32 {
	if o.BF16 != nil {
		return BF16ToFloat32(o.BF16[r*ld+c])
	}
	return o.F32[r*ld+c]
}

// aIndex is the position of op(A) element (r, k) of a packed block.
func aIndex(r, k, kc32 int) int {
	return r/32*32*kc32 + k/32*1024 + r%32*32 + k%32
}

// bIndex is the position of op(B) element (k, j) of a packed block.
func bIndex(k, j, kc32 int) int {
	return j/32*32*kc32 + k/32*1024 + k%32/2*64 + j%32*2 + k%2
}

// packARegion packs rows [r0, r1) and depth [k0, k1) of a packed A block of
// mc×kc (rows and depth past those are zero), taking op(A) row r, depth p
// from A at (ic+r, pc+p), scaled by alpha.
func packARegion(dst []uint16, transA bool, a Operand, lda, ic, pc, mc, kc int, alpha float32, r0, r1, k0, k1 int) {
	kc32 := roundUp(kc, 32)
	for r := r0; r < r1; r++ {
		for p := k0; p < k1; p++ {
			var x uint16
			if r < mc && p < kc {
				var f float32
				if transA {
					f = a.at(pc+p, ic+r, lda)
				} else {
					f = a.at(ic+r, pc+p, lda)
				}
				if alpha == 1 && a.BF16 != nil {
					if transA {
						x = a.BF16[(pc+p)*lda+ic+r]
					} else {
						x = a.BF16[(ic+r)*lda+pc+p]
					}
				} else {
					x = roundBF16(alpha * f)
				}
			}
			dst[aIndex(r, p, kc32)] = x
		}
	}
}

// packANF32Rows is packARegion for a float32 A, not transposed, over rows
// [r0, r1) and depth [k0, kc32) (k0 a multiple of 32): a row's chunk at a
// time rather than element by element, for the products whose depth is
// under 32 (a LoRA rank) or ends in a partial chunk. It packs the same bits.
func packANF32Rows(dst []uint16, a []float32, lda, ic, pc, mc, kc int, alpha float32, r0, r1, k0 int) {
	kc32 := roundUp(kc, 32)
	for r := r0; r < r1; r++ {
		var row []float32
		if r < mc {
			row = a[(ic+r)*lda+pc : (ic+r)*lda+pc+kc]
		}
		for k := k0; k < kc32; k += 32 {
			seg := dst[r/32*32*kc32+k/32*1024+r%32*32:][:32]
			n := 0
			if k < len(row) {
				n = min(32, len(row)-k)
				for i, f := range row[k : k+n] {
					seg[i] = roundBF16(alpha * f)
				}
			}
			clear(seg[n:])
		}
	}
}

// packBRegion packs depth [k0, k1) and columns [j0, j1) of a packed B block
// of kc×nc (depth and columns past those are zero), taking op(B) depth p,
// column j from B at (pc+p, jc+j).
func packBRegion(dst []uint16, transB bool, b Operand, ldb, pc, jc, kc, nc int, k0, k1, j0, j1 int) {
	kc32 := roundUp(kc, 32)
	for p := k0; p < k1; p++ {
		for j := j0; j < j1; j++ {
			var x uint16
			if p < kc && j < nc {
				r, c := pc+p, jc+j
				if transB {
					r, c = c, r
				}
				if b.BF16 != nil {
					x = b.BF16[r*ldb+c]
				} else {
					x = roundBF16(b.F32[r*ldb+c])
				}
			}
			dst[bIndex(p, j, kc32)] = x
		}
	}
}

// goBlockBF16 is the portable block kernel: for each element of the 32×32
// block, the products of the bf16 pairs (exact in float32) are added in
// increasing k to C's value (load 1) or to zero.
func goBlockBF16(k32 int, ap, bp *uint16, cp *float32, ldc int, load int) {
	a := unsafe.Slice(ap, k32*1024)
	b := unsafe.Slice(bp, k32*1024)
	c := unsafe.Slice(cp, 31*ldc+32)
	var acc [32]float32
	for i := 0; i < 32; i++ {
		row := c[i*ldc : i*ldc+32]
		if load != 0 {
			copy(acc[:], row)
		} else {
			acc = [32]float32{}
		}
		for ch := 0; ch < k32; ch++ {
			ar := a[ch*1024+i*32:][:32]
			bc := b[ch*1024:][:1024]
			for q := 0; q < 16; q++ {
				x0, x1 := BF16ToFloat32(ar[2*q]), BF16ToFloat32(ar[2*q+1])
				br := bc[q*64:][:64]
				for j := range acc {
					acc[j] += x0 * BF16ToFloat32(br[2*j])
					acc[j] += x1 * BF16ToFloat32(br[2*j+1])
				}
			}
		}
		copy(row, acc[:])
	}
}

// packANBF16Copy packs a row-major bf16 A (alpha 1): each row's values are
// copied chunk by chunk, the rest zeroed.
func packANBF16Copy(dst []uint16, a []uint16, lda, ic, pc, mc, kc int) {
	kc32 := roundUp(kc, 32)
	for r := 0; r < roundUp(mc, 32); r++ {
		for ch := 0; ch < kc32/32; ch++ {
			d := dst[aIndex(r, 32*ch, kc32):][:32]
			n := 0
			if r < mc {
				n = copy(d, a[(ic+r)*lda+pc+32*ch:][:min(32, kc-32*ch)])
			}
			clear(d[n:])
		}
	}
}
