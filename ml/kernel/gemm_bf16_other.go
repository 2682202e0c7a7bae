//go:build !amd64 || purego

package kernel

// asmBF16Variants is empty off amd64 (or with the purego tag): the
// portable Go kernel emulates the bf16 arithmetic.
func asmBF16Variants() []*bf16Variant { return nil }

func bf16PeakLoops() map[string]peakLoop { return nil }

func packABF16(dst []uint16, transA bool, a Operand, lda, ic, pc, mc, kc int, alpha float32) {
	if a.BF16 != nil && alpha == 1 && !transA {
		packANBF16Copy(dst, a.BF16, lda, ic, pc, mc, kc)
		return
	}
	packARegion(dst, transA, a, lda, ic, pc, mc, kc, alpha, 0, roundUp(mc, 32), 0, roundUp(kc, 32))
}

func packBBF16(dst []uint16, transB bool, b Operand, ldb, pc, jc, kc, nc int) {
	packBRegion(dst, transB, b, ldb, pc, jc, kc, nc, 0, roundUp(kc, 32), 0, roundUp(nc, 32))
}
