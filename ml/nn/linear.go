package nn

import "github.com/crucible-net/crucible/ml/kernel"

// Layout says how a linear layer's weight matrix is stored.
type Layout int

const (
	// OutIn is torch.nn.Linear's layout: W is [out, in] and y = x·Wᵀ + b.
	// Llama-family checkpoints and lm_head use it.
	OutIn Layout = iota
	// InOut is GPT-2's Conv1D layout: W is [in, out] and y = x·W + b.
	InOut
)

// String names the layout.
func (l Layout) String() string {
	switch l {
	case OutIn:
		return "out-in"
	case InOut:
		return "in-out"
	}
	return "invalid-layout"
}

// LinearForward computes y[n,out] = x[n,in]·W + bias with W stored in the
// given layout. bias [out] may be nil. y is overwritten and must not alias x.
func LinearForward(y, x, w, bias []float32, n, in, out int, layout Layout) {
	need("LinearForward", "y", y, n*out)
	need("LinearForward", "x", x, n*in)
	need("LinearForward", "w", w, in*out)
	needOpt("LinearForward", "bias", bias, out)
	if n == 0 || out == 0 {
		return
	}
	beta := float32(0)
	if bias != nil {
		// Fill every row with the bias and let the product accumulate onto it:
		// one pass over y instead of two.
		kernel.ParallelFor(n, rowGrain(out), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				copy(y[r*out:(r+1)*out], bias[:out])
			}
		})
		beta = 1
	}
	if layout == InOut {
		gemm(false, false, n, out, in, 1, x, in, w, out, beta, y, out)
	} else {
		gemm(false, true, n, out, in, 1, x, in, w, in, beta, y, out)
	}
}

// LinearBackward accumulates the gradients of LinearForward:
// dx[n,in] += dy·Wᵀ (in the layout's terms), dW += the outer products of
// dy and x over rows (in the layout of W), dbias[out] += Σ_rows dy. Any of
// dx, dw, dbias may be nil when that gradient is not needed.
func LinearBackward(dx, dw, dbias, dy, x, w []float32, n, in, out int, layout Layout) {
	need("LinearBackward", "dy", dy, n*out)
	needOpt("LinearBackward", "dx", dx, n*in)
	needOpt("LinearBackward", "dw", dw, in*out)
	needOpt("LinearBackward", "dbias", dbias, out)
	if dx != nil {
		need("LinearBackward", "w", w, in*out)
	}
	if dw != nil {
		need("LinearBackward", "x", x, n*in)
	}
	if n == 0 {
		return
	}
	if dx != nil {
		if layout == InOut {
			gemm(false, true, n, in, out, 1, dy, out, w, out, 1, dx, in)
		} else {
			gemm(false, false, n, in, out, 1, dy, out, w, in, 1, dx, in)
		}
	}
	if dw != nil {
		if layout == InOut {
			gemm(true, false, in, out, n, 1, x, in, dy, out, 1, dw, out)
		} else {
			gemm(true, false, out, in, n, 1, dy, out, x, in, 1, dw, in)
		}
	}
	if dbias != nil {
		sumRowsInto(dbias, dy, n, out, out)
	}
}

// LinearForwardAdd accumulates y[n,out] += alpha·x[n,in]·W (no bias), for
// a branch added onto another layer's output, such as a LoRA update
// y += (α/r)·(x·Aᵀ)·Bᵀ.
func LinearForwardAdd(y, x, w []float32, n, in, out int, layout Layout, alpha float32) {
	need("LinearForwardAdd", "y", y, n*out)
	need("LinearForwardAdd", "x", x, n*in)
	need("LinearForwardAdd", "w", w, in*out)
	if n == 0 || out == 0 {
		return
	}
	if layout == InOut {
		gemm(false, false, n, out, in, alpha, x, in, w, out, 1, y, out)
	} else {
		gemm(false, true, n, out, in, alpha, x, in, w, in, 1, y, out)
	}
}

// LinearAddBackward accumulates the gradients of LinearForwardAdd:
// dx += alpha·dy·Wᵀ and dW += alpha·(outer products of dy and x). Either
// may be nil.
func LinearAddBackward(dx, dw, dy, x, w []float32, n, in, out int, layout Layout, alpha float32) {
	need("LinearAddBackward", "dy", dy, n*out)
	needOpt("LinearAddBackward", "dx", dx, n*in)
	needOpt("LinearAddBackward", "dw", dw, in*out)
	if n == 0 {
		return
	}
	if dx != nil {
		need("LinearAddBackward", "w", w, in*out)
		if layout == InOut {
			gemm(false, true, n, in, out, alpha, dy, out, w, out, 1, dx, in)
		} else {
			gemm(false, false, n, in, out, alpha, dy, out, w, in, 1, dx, in)
		}
	}
	if dw != nil {
		need("LinearAddBackward", "x", x, n*in)
		if layout == InOut {
			gemm(true, false, in, out, n, alpha, x, in, dy, out, 1, dw, out)
		} else {
			gemm(true, false, out, in, n, alpha, dy, out, x, in, 1, dw, in)
		}
	}
}
