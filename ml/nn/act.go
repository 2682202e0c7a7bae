package nn

import "github.com/crucible-net/crucible/ml/kernel"

// Activations: GELU (tanh approximation, GPT-2's "gelu_new"), SiLU and the
// fused SwiGLU of Llama's MLP. All are elementwise over n = len(out) values.

// GELU constants: 0.5·(1 + tanh(u)) = σ(2u), and 2u = −x·(geluA + geluB·x²).
const (
	geluK  = 0.7978845608028654 // sqrt(2/π)
	geluA  = -2 * geluK
	geluB  = -2 * geluK * 0.044715
	geluC1 = 2 * geluK
	geluC3 = 3 * 2 * geluK * 0.044715
)

// GELUForward writes out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))),
// computed as x·σ(2u). out may alias x only when no backward will follow
// (backward needs x).
func GELUForward(out, x []float32) {
	n := len(out)
	need("GELUForward", "x", x, n)
	parallelElems(n, func(lo, hi int) {
		i := lo
		if useAVX2 && hi-lo >= 8 {
			i = lo + (hi-lo)&^7
			geluFwdAVX2(&out[lo], &x[lo], i-lo)
		}
		for ; i < hi; i++ {
			v := x[i]
			out[i] = v / (1 + expf(v*(geluA+geluB*v*v)))
		}
	})
}

// GELUBackward accumulates dx += dout·GELU'(x).
func GELUBackward(dx, dout, x []float32) {
	n := len(dx)
	need("GELUBackward", "dout", dout, n)
	need("GELUBackward", "x", x, n)
	parallelElems(n, func(lo, hi int) {
		i := lo
		if useAVX2 && hi-lo >= 8 {
			i = lo + (hi-lo)&^7
			geluBwdAVX2(&dx[lo], &dout[lo], &x[lo], i-lo)
		}
		for ; i < hi; i++ {
			v := x[i]
			v2 := v * v
			s := 1 / (1 + expf(v*(geluA+geluB*v2)))
			dx[i] += dout[i] * (s + v*s*(1-s)*(geluC1+geluC3*v2))
		}
	})
}

// SiLUForward writes out = x·σ(x). out may alias x only when no backward
// will follow.
func SiLUForward(out, x []float32) {
	n := len(out)
	need("SiLUForward", "x", x, n)
	parallelElems(n, func(lo, hi int) {
		i := lo
		if useAVX2 && hi-lo >= 8 {
			i = lo + (hi-lo)&^7
			siluFwdAVX2(&out[lo], &x[lo], i-lo)
		}
		for ; i < hi; i++ {
			v := x[i]
			out[i] = v / (1 + expf(-v))
		}
	})
}

// SiLUBackward accumulates dx += dout·σ(x)·(1 + x·(1 − σ(x))).
func SiLUBackward(dx, dout, x []float32) {
	n := len(dx)
	need("SiLUBackward", "dout", dout, n)
	need("SiLUBackward", "x", x, n)
	parallelElems(n, func(lo, hi int) {
		i := lo
		if useAVX2 && hi-lo >= 8 {
			i = lo + (hi-lo)&^7
			siluBwdAVX2(&dx[lo], &dout[lo], &x[lo], i-lo)
		}
		for ; i < hi; i++ {
			v := x[i]
			s := 1 / (1 + expf(-v))
			dx[i] += dout[i] * (((1-s)*v + 1) * s)
		}
	})
}

// SwiGLUForward writes h = silu(gate) ⊙ up, elementwise over len(h) values.
func SwiGLUForward(h, gate, up []float32) {
	n := len(h)
	need("SwiGLUForward", "gate", gate, n)
	need("SwiGLUForward", "up", up, n)
	parallelElems(n, func(lo, hi int) {
		swigluFwd(h[lo:hi], gate[lo:hi], up[lo:hi])
	})
}

func swigluFwd(h, gate, up []float32) {
	n := len(h)
	gate, up = gate[:n], up[:n]
	i := 0
	if useAVX2 && n >= 8 {
		i = n &^ 7
		swigluFwdAVX2(&h[0], &gate[0], &up[0], i)
	}
	for ; i < n; i++ {
		g := gate[i]
		h[i] = g * up[i] / (1 + expf(-g))
	}
}

// SwiGLUBackward accumulates the gradients of SwiGLUForward:
// dgate += dh·up·silu'(gate) and dup += dh·silu(gate). Either may be nil.
func SwiGLUBackward(dgate, dup, dh, gate, up []float32) {
	n := len(dh)
	need("SwiGLUBackward", "gate", gate, n)
	need("SwiGLUBackward", "up", up, n)
	needOpt("SwiGLUBackward", "dgate", dgate, n)
	needOpt("SwiGLUBackward", "dup", dup, n)
	parallelElems(n, func(lo, hi int) {
		var dg, du []float32
		if dgate != nil {
			dg = dgate[lo:hi]
		}
		if dup != nil {
			du = dup[lo:hi]
		}
		swigluBwd(dg, du, dh[lo:hi], gate[lo:hi], up[lo:hi])
	})
}

func swigluBwd(dgate, dup, dh, gate, up []float32) {
	n := len(dh)
	gate, up = gate[:n], up[:n]
	i := 0
	if useAVX2 && n >= 8 && dgate != nil && dup != nil {
		i = n &^ 7
		swigluBwdAVX2(&dgate[0], &dup[0], &dh[0], &gate[0], &up[0], i)
	}
	for ; i < n; i++ {
		g := gate[i]
		s := 1 / (1 + expf(-g))
		if dup != nil {
			dup[i] += dh[i] * (g * s)
		}
		if dgate != nil {
			dgate[i] += dh[i] * ((1-s)*g + 1) * s * up[i]
		}
	}
}

// SwiGLURowsForward is SwiGLUForward for a fused gate/up projection: gu is
// [n, 2·inter] with each row holding the gate half then the up half, and h
// is [n, inter].
func SwiGLURowsForward(h, gu []float32, n, inter int) {
	need("SwiGLURowsForward", "h", h, n*inter)
	need("SwiGLURowsForward", "gu", gu, 2*n*inter)
	kernel.ParallelFor(n, rowGrain(inter), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			swigluFwd(h[r*inter:(r+1)*inter], gu[2*r*inter:(2*r+1)*inter], gu[(2*r+1)*inter:(2*r+2)*inter])
		}
	})
}

// SwiGLURowsBackward accumulates the gradients of SwiGLURowsForward into
// dgu [n, 2·inter] (gate half, then up half, per row).
func SwiGLURowsBackward(dgu, dh, gu []float32, n, inter int) {
	need("SwiGLURowsBackward", "dh", dh, n*inter)
	need("SwiGLURowsBackward", "gu", gu, 2*n*inter)
	need("SwiGLURowsBackward", "dgu", dgu, 2*n*inter)
	kernel.ParallelFor(n, rowGrain(inter), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			g, u := 2*r*inter, (2*r+1)*inter
			swigluBwd(dgu[g:g+inter], dgu[u:u+inter], dh[r*inter:(r+1)*inter], gu[g:g+inter], gu[u:u+inter])
		}
	})
}
