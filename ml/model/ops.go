package model

import (
	"fmt"

	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/nn"
)

// The model's layer operations: projections over strided column windows of
// fused activations (q|k|v), and thin adapters onto ml/nn's norm kernels.
// Gradients accumulate (+=) so that several consumers of one activation can
// add their contributions.

// rowGrain is the number of rows of the given width that make a parallel chunk.
func rowGrain(width int) int { return max(1, 8192/max(width, 1)) }

// gemm calls kernel.GemmPrec (float32 or bf16 arithmetic, see
// Model.SetPrecision) on shapes the model has already validated; an error
// here is a bug in this package, not bad input.
func gemm(p kernel.Precision, tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if err := kernel.GemmPrec(p, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); err != nil {
		panic(fmt.Sprintf("model: internal shape error: %v", err))
	}
}

// normFwd computes y = RMSNorm(x)·w (nm.b == nil) or LayerNorm(x)·w + b
// for rows rows of width c, saving rstd (and mean for LayerNorm).
func normFwd(nm *norm, x, y []float32, mean, rstd []float32, rows, c int, eps float32) {
	if nm.b != nil {
		nn.LayerNormForward(y[:rows*c], mean[:rows], rstd[:rows], x[:rows*c], nm.w, nm.b, rows, c, eps)
		return
	}
	nn.RMSNormForward(y[:rows*c], rstd[:rows], x[:rows*c], nm.scale(), rows, c, eps)
}

// normRecompute rebuilds y from x and the saved statistics.
func normRecompute(nm *norm, x, y, mean, rstd []float32, rows, c int) {
	if nm.b != nil {
		nn.LayerNormRecompute(y[:rows*c], x[:rows*c], nm.w, nm.b, mean[:rows], rstd[:rows], rows, c)
		return
	}
	nn.RMSNormRecompute(y[:rows*c], x[:rows*c], nm.scale(), rstd[:rows], rows, c)
}

// normBwd adds the input gradient to dx and, when nm.gw is set, the weight
// (and bias) gradients to nm.gw (nm.gb).
func normBwd(nm *norm, dy, x, mean, rstd, dx []float32, rows, c int) {
	if nm.b != nil {
		nn.LayerNormBackward(dx[:rows*c], nm.gw, nm.gb, dy[:rows*c], x[:rows*c], nm.w, mean[:rows], rstd[:rows], rows, c)
		return
	}
	nn.RMSNormBackward(dx[:rows*c], nm.gw, dy[:rows*c], x[:rows*c], nm.scale(), rstd[:rows], rows, c)
}

// linearFwd computes y = x·Wᵀ (+ b) (or x·W for Conv1D) for n rows; x and y
// may be column windows of wider buffers (leading dimensions ldx, ldy). With
// accumulate, the product is added to y.
func (m *Model) linearFwd(l *linear, x []float32, ldx int, y []float32, ldy int, n int, accumulate bool) {
	beta := float32(0)
	if accumulate {
		beta = 1
	}
	if l.conv1d {
		m.gemmW(false, false, n, l.out, l.in, 1, x, ldx, l.w, l.w16, l.out, beta, y, ldy)
	} else {
		m.gemmW(false, true, n, l.out, l.in, 1, x, ldx, l.w, l.w16, l.in, beta, y, ldy)
	}
	if l.b != nil {
		addBias(y, ldy, l.b, n)
	}
}

func addBias(y []float32, ldy int, b []float32, n int) {
	w := len(b)
	kernel.ParallelFor(n, rowGrain(w), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			yr := y[r*ldy : r*ldy+w]
			for i, v := range b {
				yr[i] += v
			}
		}
	})
}

// linearBwdData computes dx (+)= dy·W (or dy·Wᵀ for Conv1D).
func (m *Model) linearBwdData(l *linear, dy []float32, lddy int, dx []float32, lddx int, n int, accumulate bool) {
	beta := float32(0)
	if accumulate {
		beta = 1
	}
	if l.conv1d {
		m.gemmW(false, true, n, l.in, l.out, 1, dy, lddy, l.w, l.w16, l.out, beta, dx, lddx)
	} else {
		m.gemmW(false, false, n, l.in, l.out, 1, dy, lddy, l.w, l.w16, l.in, beta, dx, lddx)
	}
}

// linearBwdWeight adds dW = dyᵀ·x (xᵀ·dy for Conv1D) and db = Σ dy.
func linearBwdWeight(p kernel.Precision, l *linear, dy []float32, lddy int, x []float32, ldx int, n int) {
	if l.gw == nil {
		return
	}
	if l.conv1d {
		gemm(p, true, false, l.in, l.out, n, 1, x, ldx, dy, lddy, 1, l.gw, l.out)
	} else {
		gemm(p, true, false, l.out, l.in, n, 1, dy, lddy, x, ldx, 1, l.gw, l.in)
	}
	if l.gb != nil {
		colSum(l.gb, dy, lddy, n)
	}
}

// colSum adds the column sums of the n×len(dst) window of src to dst.
func colSum(dst, src []float32, ld, n int) {
	kernel.ParallelFor(len(dst), 64, func(lo, hi int) {
		d := dst[lo:hi]
		for r := 0; r < n; r++ {
			s := src[r*ld+lo : r*ld+hi]
			for i, v := range s {
				d[i] += v
			}
		}
	})
}
