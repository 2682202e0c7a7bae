package nn

import (
	"math"

	"github.com/crucible-net/crucible/ml/kernel"
)

// LayerNormForward normalizes each of the n rows of x [n, c] to zero mean
// and unit variance, then scales by w and shifts by b (both [c]; b may be
// nil): out = (x − mean)·rstd·w + b with rstd = 1/sqrt(var + eps) and the
// biased variance, as torch.nn.LayerNorm. mean and rstd ([n] each) receive
// the statistics LayerNormBackward needs; both may be nil when no backward
// will follow. Row statistics are accumulated in float64. out may alias x.
func LayerNormForward(out, mean, rstd, x, w, b []float32, n, c int, eps float32) {
	need("LayerNormForward", "out", out, n*c)
	need("LayerNormForward", "x", x, n*c)
	need("LayerNormForward", "w", w, c)
	needOpt("LayerNormForward", "b", b, c)
	needOpt("LayerNormForward", "mean", mean, n)
	needOpt("LayerNormForward", "rstd", rstd, n)
	kernel.ParallelFor(n, rowGrain(c), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*c : (r+1)*c]
			shift := float64(xr[0])
			s, ss := sumSq64(xr, shift)
			d := s / float64(c)
			variance := max(ss/float64(c)-d*d, 0)
			m32 := float32(shift + d)
			rs32 := float32(1 / math.Sqrt(variance+float64(eps)))
			normRow(out[r*c:(r+1)*c], xr, w[:c], b, m32, rs32)
			if mean != nil {
				mean[r] = m32
			}
			if rstd != nil {
				rstd[r] = rs32
			}
		}
	})
}

// LayerNormRecompute rebuilds LayerNormForward's output from x and the
// saved mean and rstd, bit for bit, without recomputing the statistics: a
// model may drop norm outputs after the forward pass and rebuild them in
// the backward pass to save memory.
func LayerNormRecompute(out, x, w, b, mean, rstd []float32, n, c int) {
	need("LayerNormRecompute", "out", out, n*c)
	need("LayerNormRecompute", "x", x, n*c)
	need("LayerNormRecompute", "w", w, c)
	needOpt("LayerNormRecompute", "b", b, c)
	need("LayerNormRecompute", "mean", mean, n)
	need("LayerNormRecompute", "rstd", rstd, n)
	kernel.ParallelFor(n, rowGrain(c), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			normRow(out[r*c:(r+1)*c], x[r*c:(r+1)*c], w[:c], b, mean[r], rstd[r])
		}
	})
}

// LayerNormBackward accumulates the gradients of LayerNormForward:
// dx [n, c], dw [c] and db [c] (each may be nil), from dout, the input x,
// the weight w and the saved mean and rstd. dx must not alias dout.
func LayerNormBackward(dx, dw, db, dout, x, w, mean, rstd []float32, n, c int) {
	need("LayerNormBackward", "dout", dout, n*c)
	need("LayerNormBackward", "x", x, n*c)
	need("LayerNormBackward", "w", w, c)
	need("LayerNormBackward", "mean", mean, n)
	need("LayerNormBackward", "rstd", rstd, n)
	needOpt("LayerNormBackward", "dx", dx, n*c)
	needOpt("LayerNormBackward", "dw", dw, c)
	needOpt("LayerNormBackward", "db", db, c)
	normBackward(dx, dw, db, dout, x, w, mean, rstd, n, c)
}

// RMSNormForward computes out = x·rstd·w per row of x [n, c], with
// rstd = 1/sqrt(mean(x²) + eps) (Llama's RMSNorm, statistics in float64).
// rstd [n] receives what RMSNormBackward needs and may be nil. out may alias x.
func RMSNormForward(out, rstd, x, w []float32, n, c int, eps float32) {
	need("RMSNormForward", "out", out, n*c)
	need("RMSNormForward", "x", x, n*c)
	need("RMSNormForward", "w", w, c)
	needOpt("RMSNormForward", "rstd", rstd, n)
	kernel.ParallelFor(n, rowGrain(c), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*c : (r+1)*c]
			_, ss := sumSq64(xr, 0)
			rs := float32(1 / math.Sqrt(ss/float64(c)+float64(eps)))
			normRow(out[r*c:(r+1)*c], xr, w[:c], nil, 0, rs)
			if rstd != nil {
				rstd[r] = rs
			}
		}
	})
}

// RMSNormRecompute rebuilds RMSNormForward's output from x and the saved
// rstd, bit for bit (see LayerNormRecompute).
func RMSNormRecompute(out, x, w, rstd []float32, n, c int) {
	need("RMSNormRecompute", "out", out, n*c)
	need("RMSNormRecompute", "x", x, n*c)
	need("RMSNormRecompute", "w", w, c)
	need("RMSNormRecompute", "rstd", rstd, n)
	kernel.ParallelFor(n, rowGrain(c), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			normRow(out[r*c:(r+1)*c], x[r*c:(r+1)*c], w[:c], nil, 0, rstd[r])
		}
	})
}

// RMSNormBackward accumulates the gradients of RMSNormForward: dx [n, c] and
// dw [c] (either may be nil), from dout, the input x, w and the saved rstd.
// dx must not alias dout.
func RMSNormBackward(dx, dw, dout, x, w, rstd []float32, n, c int) {
	need("RMSNormBackward", "dout", dout, n*c)
	need("RMSNormBackward", "x", x, n*c)
	need("RMSNormBackward", "w", w, c)
	need("RMSNormBackward", "rstd", rstd, n)
	needOpt("RMSNormBackward", "dx", dx, n*c)
	needOpt("RMSNormBackward", "dw", dw, c)
	normBackward(dx, dw, nil, dout, x, w, nil, rstd, n, c)
}

// normBackward is the backward of both norms; mean == nil means RMSNorm
// (zero mean, and no mean term in dx). With x̂ = (x − mean)·rstd and
// g = dout·w: dx += rstd·(g − mean(g) − x̂·mean(g·x̂)), dw += Σ dout·x̂,
// db += Σ dout.
func normBackward(dx, dw, db, dout, x, w, mean, rstd []float32, n, c int) {
	if dx != nil {
		kernel.ParallelFor(n, rowGrain(c), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				xr, gr := x[r*c:(r+1)*c], dout[r*c:(r+1)*c]
				var m float32
				if mean != nil {
					m = mean[r]
				}
				rs := rstd[r]
				sg, sgx := normDots(gr, w[:c], xr, m, rs)
				var mg float32
				if mean != nil {
					mg = float32(sg / float64(c))
				}
				normDx(dx[r*c:(r+1)*c], gr, w[:c], xr, m, rs, mg, float32(sgx/float64(c)))
			}
		})
	}
	if dw == nil && db == nil {
		return
	}
	// Parameter gradients: partitioned over columns, rows summed in order.
	nb := (c + colBlock - 1) / colBlock
	kernel.ParallelFor(nb, max(1, 4096/max(n, 1)), func(lo, hi int) {
		c0, c1 := lo*colBlock, min(hi*colBlock, c)
		for r := 0; r < n; r++ {
			xr, gr := x[r*c+c0:r*c+c1], dout[r*c+c0:r*c+c1]
			if dw != nil {
				var m float32
				if mean != nil {
					m = mean[r]
				}
				normParam(dw[c0:c1], gr, xr, m, rstd[r])
			}
			if db != nil {
				accumulate(db[c0:c1], gr)
			}
		}
	})
}

// sumSq64 returns Σ(x − shift) and Σ(x − shift)² in float64. A shift near
// the mean (such as the row's first element) keeps the variance
// Σ(x−shift)²/n − (Σ(x−shift)/n)² accurate when the mean is large.
func sumSq64(x []float32, shift float64) (s, ss float64) {
	i := 0
	if useAVX2 && len(x) >= 8 {
		i = len(x) &^ 7
		s, ss = sumSq64AVX2(&x[0], i, shift)
	}
	for ; i < len(x); i++ {
		v := float64(x[i]) - shift
		s += v
		ss += v * v
	}
	return s, ss
}

// normRow writes out = (x − m)·rs·w (+ b when b is not nil).
func normRow(out, x, w, b []float32, m, rs float32) {
	n := len(out)
	x, w = x[:n], w[:n]
	i := 0
	if useAVX2 && n >= 8 {
		i = n &^ 7
		if b != nil {
			normRowBiasAVX2(&out[0], &x[0], &w[0], &b[0], i, m, rs)
		} else {
			normRowAVX2(&out[0], &x[0], &w[0], i, m, rs)
		}
	}
	if b != nil {
		b = b[:n]
		for ; i < n; i++ {
			out[i] = (x[i]-m)*rs*w[i] + b[i]
		}
		return
	}
	for ; i < n; i++ {
		out[i] = (x[i] - m) * rs * w[i]
	}
}

// normDots returns Σ g·w and Σ (g·w)·((x − m)·rs) in float64.
func normDots(g, w, x []float32, m, rs float32) (sg, sgx float64) {
	n := len(g)
	w, x = w[:n], x[:n]
	i := 0
	if useAVX2 && n >= 8 {
		i = n &^ 7
		sg, sgx = normDotsAVX2(&g[0], &w[0], &x[0], i, m, rs)
	}
	for ; i < n; i++ {
		gw := g[i] * w[i]
		sg += float64(gw)
		sgx += float64(gw * ((x[i] - m) * rs))
	}
	return sg, sgx
}

// normDx accumulates dx += rs·((g·w − mg) − ((x − m)·rs)·mgx).
func normDx(dx, g, w, x []float32, m, rs, mg, mgx float32) {
	n := len(dx)
	g, w, x = g[:n], w[:n], x[:n]
	i := 0
	if useAVX2 && n >= 8 {
		i = n &^ 7
		normDxAVX2(&dx[0], &g[0], &w[0], &x[0], i, m, rs, mg, mgx)
	}
	for ; i < n; i++ {
		dx[i] += rs * ((g[i]*w[i] - mg) - ((x[i]-m)*rs)*mgx)
	}
}

// normParam accumulates dw += g·((x − m)·rs).
func normParam(dw, g, x []float32, m, rs float32) {
	n := len(dw)
	g, x = g[:n], x[:n]
	i := 0
	if useAVX2 && n >= 8 {
		i = n &^ 7
		normParamAVX2(&dw[0], &g[0], &x[0], i, m, rs)
	}
	for ; i < n; i++ {
		dw[i] += g[i] * ((x[i] - m) * rs)
	}
}

// accumulate adds dst += src.
func accumulate(dst, src []float32) {
	n := len(dst)
	src = src[:n]
	i := 0
	if useAVX2 && n >= 8 {
		i = n &^ 7
		accAVX2(&dst[0], &src[0], i)
	}
	for ; i < n; i++ {
		dst[i] += src[i]
	}
}

// add writes out = a + b.
func add(out, a, b []float32) {
	n := len(out)
	a, b = a[:n], b[:n]
	i := 0
	if useAVX2 && n >= 8 {
		i = n &^ 7
		addAVX2(&out[0], &a[0], &b[0], i)
	}
	for ; i < n; i++ {
		out[i] = a[i] + b[i]
	}
}
