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
			var s float64
			for _, v := range xr {
				s += float64(v)
			}
			m := s / float64(c)
			var ss float64
			for _, v := range xr {
				d := float64(v) - m
				ss += d * d
			}
			rs := 1 / math.Sqrt(ss/float64(c)+float64(eps))
			m32, rs32 := float32(m), float32(rs)
			or := out[r*c : (r+1)*c]
			if b != nil {
				for j, v := range xr {
					or[j] = (v-m32)*rs32*w[j] + b[j]
				}
			} else {
				for j, v := range xr {
					or[j] = (v - m32) * rs32 * w[j]
				}
			}
			if mean != nil {
				mean[r] = m32
			}
			if rstd != nil {
				rstd[r] = rs32
			}
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
	if dx != nil {
		// dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dout·w.
		kernel.ParallelFor(n, rowGrain(c), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				xr, gr, dr := x[r*c:(r+1)*c], dout[r*c:(r+1)*c], dx[r*c:(r+1)*c]
				m, rs := mean[r], rstd[r]
				var sg, sgx float64
				for j, v := range xr {
					g := gr[j] * w[j]
					sg += float64(g)
					sgx += float64(g * ((v - m) * rs))
				}
				mg := float32(sg / float64(c))
				mgx := float32(sgx / float64(c))
				for j, v := range xr {
					xh := (v - m) * rs
					dr[j] += rs * (gr[j]*w[j] - mg - xh*mgx)
				}
			}
		})
	}
	if dw == nil && db == nil {
		return
	}
	nb := (c + colBlock - 1) / colBlock
	kernel.ParallelFor(nb, max(1, 4096/max(n, 1)), func(lo, hi int) {
		c0, c1 := lo*colBlock, min(hi*colBlock, c)
		for r := 0; r < n; r++ {
			xr, gr := x[r*c+c0:r*c+c1], dout[r*c+c0:r*c+c1]
			m, rs := mean[r], rstd[r]
			if dw != nil {
				d := dw[c0:c1]
				for j, v := range xr {
					d[j] += gr[j] * ((v - m) * rs)
				}
			}
			if db != nil {
				d := db[c0:c1]
				for j, g := range gr {
					d[j] += g
				}
			}
		}
	})
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
			var ss float64
			for _, v := range xr {
				ss += float64(v) * float64(v)
			}
			rs := float32(1 / math.Sqrt(ss/float64(c)+float64(eps)))
			or := out[r*c : (r+1)*c]
			for j, v := range xr {
				or[j] = v * rs * w[j]
			}
			if rstd != nil {
				rstd[r] = rs
			}
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
	if dx != nil {
		// dx = rstd·(g − x̂·mean(g·x̂)) with g = dout·w, x̂ = x·rstd.
		kernel.ParallelFor(n, rowGrain(c), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				xr, gr, dr := x[r*c:(r+1)*c], dout[r*c:(r+1)*c], dx[r*c:(r+1)*c]
				rs := rstd[r]
				var sgx float64
				for j, v := range xr {
					sgx += float64(gr[j] * w[j] * v)
				}
				k := float32(sgx/float64(c)) * rs * rs
				for j, v := range xr {
					dr[j] += rs * (gr[j]*w[j] - v*k)
				}
			}
		})
	}
	if dw == nil {
		return
	}
	nb := (c + colBlock - 1) / colBlock
	kernel.ParallelFor(nb, max(1, 4096/max(n, 1)), func(lo, hi int) {
		c0, c1 := lo*colBlock, min(hi*colBlock, c)
		d := dw[c0:c1]
		for r := 0; r < n; r++ {
			xr, gr := x[r*c+c0:r*c+c1], dout[r*c+c0:r*c+c1]
			rs := rstd[r]
			for j, v := range xr {
				d[j] += gr[j] * (v * rs)
			}
		}
	})
}
