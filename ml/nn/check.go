package nn

import (
	"fmt"

	"github.com/crucible-net/crucible/ml/kernel"
)

// need panics when an operand is shorter than its shape requires. Shapes are
// the engine's responsibility, so a violation is a programming error.
func need(op, name string, x []float32, n int) {
	if len(x) < n {
		panic(fmt.Sprintf("nn.%s: %s has %d elements, shape needs %d", op, name, len(x), n))
	}
}

// needOpt is need for an optional operand: nil is allowed.
func needOpt(op, name string, x []float32, n int) {
	if x != nil {
		need(op, name, x, n)
	}
}

// gemm calls kernel.Gemm and panics on a shape error, which inside this
// package can only be a bug.
func gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemmP(kernel.FP32, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmP is gemm in the given precision.
func gemmP(p kernel.Precision, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if err := kernel.GemmPrec(p, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); err != nil {
		panic("nn: " + err.Error())
	}
}

// rowGrain is the number of rows of width c that makes a parallel chunk
// worth its scheduling cost (about 16K elements).
func rowGrain(c int) int {
	return max(1, (1<<14)/max(c, 1))
}

// elemGrain is the chunk size for purely elementwise loops.
const elemGrain = 1 << 15

// elemAlign is the alignment of elementwise chunk boundaries. Vector code
// handles whole groups of 8 and scalar code the rest, and the two may round
// differently; aligned chunks put every element on the same path whatever
// the number of chunks, so results do not depend on GOMAXPROCS.
const elemAlign = 64

// parallelElems runs f over [0, n) in chunks whose boundaries are
// multiples of elemAlign.
func parallelElems(n int, f func(lo, hi int)) {
	kernel.ParallelFor((n+elemAlign-1)/elemAlign, elemGrain/elemAlign, func(lo, hi int) {
		f(lo*elemAlign, min(hi*elemAlign, n))
	})
}

// colBlock is the width of a column block when a reduction over rows is
// partitioned over columns (parameter gradients).
const colBlock = 64

// sumRowsInto adds Σ_rows x[r, :] to dst[:c] for x of n rows with leading
// dimension ld. It is partitioned over columns and sums rows in order, so it
// is deterministic and independent of GOMAXPROCS.
func sumRowsInto(dst, x []float32, n, c, ld int) {
	nb := (c + colBlock - 1) / colBlock
	kernel.ParallelFor(nb, max(1, 4096/max(n, 1)), func(lo, hi int) {
		c0, c1 := lo*colBlock, min(hi*colBlock, c)
		for r := 0; r < n; r++ {
			accumulate(dst[c0:c1], x[r*ld+c0:r*ld+c1])
		}
	})
}
