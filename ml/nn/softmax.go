package nn

import (
	"math"

	"github.com/crucible-net/crucible/ml/kernel"
)

// SoftmaxForward writes out[r, :] = softmax(x[r, :]) for n rows of width v,
// subtracting the row maximum first (numerically stable; the normalizer is
// summed in float64). out may alias x.
func SoftmaxForward(out, x []float32, n, v int) {
	need("SoftmaxForward", "out", out, n*v)
	need("SoftmaxForward", "x", x, n*v)
	kernel.ParallelFor(n, rowGrain(v), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, or := x[r*v:(r+1)*v], out[r*v:(r+1)*v]
			s := expSum64(or, xr, -rowMax(xr))
			scaleTo(or, or, float32(1/s))
		}
	})
}

// SoftmaxBackward accumulates dx += y ⊙ (dy − Σ_j dy_j·y_j) per row, the
// gradient of y = softmax(x), from the forward's output y.
func SoftmaxBackward(dx, dy, y []float32, n, v int) {
	need("SoftmaxBackward", "dx", dx, n*v)
	need("SoftmaxBackward", "dy", dy, n*v)
	need("SoftmaxBackward", "y", y, n*v)
	kernel.ParallelFor(n, rowGrain(v), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			yr, gr, dr := y[r*v:(r+1)*v], dy[r*v:(r+1)*v], dx[r*v:(r+1)*v]
			var s float64
			for j, a := range yr {
				s += float64(a * gr[j])
			}
			s32 := float32(s)
			for j, a := range yr {
				dr[j] += a * (gr[j] - s32)
			}
		}
	})
}

// LogSoftmaxForward writes out[r, :] = x[r, :] − logsumexp(x[r, :]) for n
// rows of width v. out may alias x.
func LogSoftmaxForward(out, x []float32, n, v int) {
	need("LogSoftmaxForward", "out", out, n*v)
	need("LogSoftmaxForward", "x", x, n*v)
	kernel.ParallelFor(n, rowGrain(v), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, or := x[r*v:(r+1)*v], out[r*v:(r+1)*v]
			l := float32(logSumExp(xr))
			for j, a := range xr {
				or[j] = a - l
			}
		}
	})
}

// LogSoftmaxBackward accumulates dx += dy − softmax(x)·Σ_j dy_j per row, the
// gradient of y = logsoftmax(x), from the forward's output y (softmax(x) =
// exp(y)).
func LogSoftmaxBackward(dx, dy, y []float32, n, v int) {
	need("LogSoftmaxBackward", "dx", dx, n*v)
	need("LogSoftmaxBackward", "dy", dy, n*v)
	need("LogSoftmaxBackward", "y", y, n*v)
	kernel.ParallelFor(n, rowGrain(v), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			yr, gr, dr := y[r*v:(r+1)*v], dy[r*v:(r+1)*v], dx[r*v:(r+1)*v]
			var s float64
			for _, g := range gr {
				s += float64(g)
			}
			s32 := float32(s)
			for j, a := range yr {
				dr[j] += gr[j] - expf(a)*s32
			}
		}
	})
}

// rowMax returns the largest element of x (−Inf for an empty row).
func rowMax(x []float32) float32 {
	mx := float32(math.Inf(-1))
	i := 0
	if useAVX2 && len(x) >= 16 {
		i = len(x) &^ 15
		mx = maxAVX2(&x[0], i)
	}
	for _, a := range x[i:] {
		if a > mx {
			mx = a
		}
	}
	return mx
}

// logSumExp returns log Σ exp(x) of a row, stable, with the sum in float64.
func logSumExp(x []float32) float64 {
	mx := rowMax(x)
	return float64(mx) + math.Log(expSum64(nil, x, -mx))
}
