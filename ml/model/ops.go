package model

import (
	"fmt"
	"math"

	"github.com/crucible-net/crucible/ml/kernel"
)

// The elementwise kernels below work on row-major [n, width] activations,
// split rows across the kernel pool, and accumulate gradients (+=) so that
// several consumers of one activation can add their contributions.

// rowGrain is the number of rows of the given width that make a parallel chunk.
func rowGrain(width int) int { return max(1, 8192/max(width, 1)) }

// gemm calls kernel.Gemm on shapes the model has already validated; an error
// here is a bug in this package, not bad input.
func gemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if err := kernel.Gemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); err != nil {
		panic(fmt.Sprintf("model: internal shape error: %v", err))
	}
}

// normFwd computes y = RMSNorm(x)·w (n.b == nil) or LayerNorm(x)·w + b for
// each of rows rows of width c, saving rstd (and mean for LayerNorm).
func normFwd(nm *norm, x, y []float32, mean, rstd []float32, rows, c int, eps float32) {
	kernel.ParallelFor(rows, rowGrain(c), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x[r*c:(r+1)*c], y[r*c:(r+1)*c]
			var mu float32
			if nm.b != nil {
				var s float32
				for _, v := range xr {
					s += v
				}
				mu = s / float32(c)
				mean[r] = mu
			}
			var ss float32
			for _, v := range xr {
				d := v - mu
				ss += d * d
			}
			rs := float32(1 / math.Sqrt(float64(ss/float32(c)+eps)))
			rstd[r] = rs
			w := nm.w[:c]
			if nm.b != nil {
				b := nm.b[:c]
				for i, v := range xr {
					yr[i] = (v-mu)*rs*w[i] + b[i]
				}
			} else {
				for i, v := range xr {
					yr[i] = v * rs * w[i]
				}
			}
		}
	})
}

// normRecompute rebuilds y from x and the saved statistics.
func normRecompute(nm *norm, x, y, mean, rstd []float32, rows, c int) {
	kernel.ParallelFor(rows, rowGrain(c), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x[r*c:(r+1)*c], y[r*c:(r+1)*c]
			rs, w := rstd[r], nm.w[:c]
			if nm.b != nil {
				mu, b := mean[r], nm.b[:c]
				for i, v := range xr {
					yr[i] = (v-mu)*rs*w[i] + b[i]
				}
			} else {
				for i, v := range xr {
					yr[i] = v * rs * w[i]
				}
			}
		}
	})
}

// normBwd adds the input gradient to dx and, when nm.gw is set, the weight
// (and bias) gradients to nm.gw (nm.gb).
func normBwd(nm *norm, dy, x, mean, rstd, dx []float32, rows, c int) {
	layer := nm.b != nil
	kernel.ParallelFor(rows, rowGrain(c), func(lo, hi int) {
		w := nm.w[:c]
		for r := lo; r < hi; r++ {
			xr, dyr, dxr := x[r*c:(r+1)*c], dy[r*c:(r+1)*c], dx[r*c:(r+1)*c]
			rs := rstd[r]
			var mu float32
			if layer {
				mu = mean[r]
			}
			var sumG, sumGX float32 // Σ g, Σ g·x̂ with g = dy·w
			for i, v := range xr {
				g := dyr[i] * w[i]
				sumG += g
				sumGX += g * (v - mu) * rs
			}
			mG, mGX := sumG/float32(c), sumGX/float32(c)
			if !layer {
				mG = 0
			}
			for i, v := range xr {
				xh := (v - mu) * rs
				dxr[i] += rs * (dyr[i]*w[i] - mG - xh*mGX)
			}
		}
	})
	if nm.gw == nil {
		return
	}
	kernel.ParallelFor(c, 64, func(lo, hi int) {
		gw := nm.gw[lo:hi]
		var gb []float32
		if layer && nm.gb != nil {
			gb = nm.gb[lo:hi]
		}
		for r := 0; r < rows; r++ {
			xr, dyr := x[r*c+lo:r*c+hi], dy[r*c+lo:r*c+hi]
			rs := rstd[r]
			var mu float32
			if layer {
				mu = mean[r]
			}
			for i, v := range xr {
				gw[i] += dyr[i] * (v - mu) * rs
			}
			if gb != nil {
				for i, d := range dyr {
					gb[i] += d
				}
			}
		}
	})
}

// linearFwd computes y = x·Wᵀ (+ b) (or x·W for Conv1D) for n rows; x and y
// may be column windows of wider buffers (leading dimensions ldx, ldy). With
// accumulate, the product is added to y.
func linearFwd(l *linear, x []float32, ldx int, y []float32, ldy int, n int, accumulate bool) {
	beta := float32(0)
	if accumulate {
		beta = 1
	}
	if l.conv1d {
		gemm(false, false, n, l.out, l.in, 1, x, ldx, l.w, l.out, beta, y, ldy)
	} else {
		gemm(false, true, n, l.out, l.in, 1, x, ldx, l.w, l.in, beta, y, ldy)
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
func linearBwdData(l *linear, dy []float32, lddy int, dx []float32, lddx int, n int, accumulate bool) {
	beta := float32(0)
	if accumulate {
		beta = 1
	}
	if l.conv1d {
		gemm(false, true, n, l.in, l.out, 1, dy, lddy, l.w, l.out, beta, dx, lddx)
	} else {
		gemm(false, false, n, l.in, l.out, 1, dy, lddy, l.w, l.in, beta, dx, lddx)
	}
}

// linearBwdWeight adds dW = dyᵀ·x (xᵀ·dy for Conv1D) and db = Σ dy.
func linearBwdWeight(l *linear, dy []float32, lddy int, x []float32, ldx int, n int) {
	if l.gw == nil {
		return
	}
	if l.conv1d {
		gemm(true, false, l.in, l.out, n, 1, x, ldx, dy, lddy, 1, l.gw, l.out)
	} else {
		gemm(true, false, l.out, l.in, n, 1, dy, lddy, x, ldx, 1, l.gw, l.in)
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

const geluC = 0.7978845608028654 // √(2/π)

// geluFwd writes the tanh-approximated GELU of x into y.
func geluFwd(x, y []float32) {
	kernel.ParallelFor(len(x), 8192, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := x[i]
			t := tanhf(geluC * (v + 0.044715*v*v*v))
			y[i] = 0.5 * v * (1 + t)
		}
	})
}

// geluFwdDeriv writes GELU(x) into y and its derivative into d, so that the
// backward pass evaluates tanh once per element.
func geluFwdDeriv(x, y, d []float32) {
	kernel.ParallelFor(len(x), 8192, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := x[i]
			t := tanhf(geluC * (v + 0.044715*v*v*v))
			y[i] = 0.5 * v * (1 + t)
			d[i] = 0.5*(1+t) + 0.5*v*(1-t*t)*geluC*(1+3*0.044715*v*v)
		}
	})
}

// mulInto computes dst *= src elementwise.
func mulInto(dst, src []float32) {
	kernel.ParallelFor(len(dst), 16384, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] *= src[i]
		}
	})
}

// swigluFwdSig writes h = silu(g)·u and sig = σ(g) for the backward pass.
func swigluFwdSig(g, u, h, sig []float32) {
	kernel.ParallelFor(len(g), 8192, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			s := sigmoid(g[i])
			sig[i] = s
			h[i] = g[i] * s * u[i]
		}
	})
}

// swigluBwdSig turns dh into dg (in place) and sig into du, given g, u and
// sig = σ(g) from swigluFwdSig.
func swigluBwdSig(g, u, dh, sig []float32) {
	kernel.ParallelFor(len(g), 8192, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			s, d := sig[i], dh[i]
			sig[i] = d * g[i] * s
			dh[i] = d * u[i] * s * (1 + g[i]*(1-s))
		}
	})
}

func sigmoid(x float32) float32 { return 1 / (1 + expf(-x)) }

// tanhf is tanh through expf: 1 − 2/(e^{2x}+1), exact at the extremes.
func tanhf(x float32) float32 {
	if x > 9 {
		return 1
	}
	if x < -9 {
		return -1
	}
	if x > -0.0625 && x < 0.0625 {
		x2 := x * x // the series avoids cancellation near 0
		return x * (1 - x2*(1.0/3-x2*(2.0/15-x2*(17.0/315))))
	}
	return 1 - 2/(expf(2*x)+1)
}

// swigluFwd writes h = silu(g)·u.
func swigluFwd(g, u, h []float32) {
	kernel.ParallelFor(len(g), 8192, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			s := sigmoid(g[i])
			h[i] = g[i] * s * u[i]
		}
	})
}

// expf is a float32 exp accurate to about 2 ulp and several times faster
// than math.Exp; softmax, cross-entropy and GELU spend most of their time
// here. The polynomial is evaluated in Estrin form to shorten the
// dependency chain.
func expf(x float32) float32 {
	if !(x >= -87.33654 && x <= 88.72283) {
		switch {
		case x != x:
			return x
		case x < 0:
			return 0
		}
		return float32(math.Inf(1))
	}
	const log2e, ln2hi, ln2lo = 1.4426950408889634, 0.693145751953125, 1.428606765330187045e-06
	const magic = 12582912 // 1.5·2²³: adding and subtracting it rounds to an integer
	kf := (x*log2e + magic) - magic
	r := x - kf*ln2hi - kf*ln2lo
	r2 := r * r
	p := (1 + r) + r2*((0.5+r*(1.0/6))+r2*((1.0/24+r*(1.0/120))+r2*(1.0/720)))
	return p * math.Float32frombits(uint32(int32(kf)+127)<<23)
}
