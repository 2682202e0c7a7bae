package nn

import "github.com/crucible-net/crucible/ml/kernel"

// Activations: GELU (tanh approximation, GPT-2's "gelu_new"), SiLU and the
// fused SwiGLU of Llama's MLP. All are elementwise over n = len(out) values.

const geluK = 0.7978845608028654 // sqrt(2/π)

// GELUForward writes out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
// out may alias x only when no backward will follow (backward needs x).
func GELUForward(out, x []float32) {
	n := len(out)
	need("GELUForward", "x", x, n)
	kernel.ParallelFor(n, elemGrain, func(lo, hi int) {
		o, xs := out[lo:hi], x[lo:hi]
		for i, v := range xs {
			u := geluK * (v + 0.044715*v*v*v)
			o[i] = 0.5 * v * (1 + tanhf(u))
		}
	})
}

// GELUBackward accumulates dx += dout·GELU'(x).
func GELUBackward(dx, dout, x []float32) {
	n := len(dx)
	need("GELUBackward", "dout", dout, n)
	need("GELUBackward", "x", x, n)
	kernel.ParallelFor(n, elemGrain, func(lo, hi int) {
		d, g, xs := dx[lo:hi], dout[lo:hi], x[lo:hi]
		for i, v := range xs {
			u := geluK * (v + 0.044715*v*v*v)
			th := tanhf(u)
			sech2 := 1 - th*th
			grad := 0.5*(1+th) + 0.5*v*sech2*geluK*(1+3*0.044715*v*v)
			d[i] += g[i] * grad
		}
	})
}

// SiLUForward writes out = x·σ(x). out may alias x only when no backward
// will follow.
func SiLUForward(out, x []float32) {
	n := len(out)
	need("SiLUForward", "x", x, n)
	kernel.ParallelFor(n, elemGrain, func(lo, hi int) {
		o, xs := out[lo:hi], x[lo:hi]
		for i, v := range xs {
			o[i] = v * sigmoidf(v)
		}
	})
}

// SiLUBackward accumulates dx += dout·σ(x)·(1 + x·(1 − σ(x))).
func SiLUBackward(dx, dout, x []float32) {
	n := len(dx)
	need("SiLUBackward", "dout", dout, n)
	need("SiLUBackward", "x", x, n)
	kernel.ParallelFor(n, elemGrain, func(lo, hi int) {
		d, g, xs := dx[lo:hi], dout[lo:hi], x[lo:hi]
		for i, v := range xs {
			s := sigmoidf(v)
			d[i] += g[i] * s * (1 + v*(1-s))
		}
	})
}

// SwiGLUForward writes h = silu(gate) ⊙ up, elementwise over len(h) values.
func SwiGLUForward(h, gate, up []float32) {
	n := len(h)
	need("SwiGLUForward", "gate", gate, n)
	need("SwiGLUForward", "up", up, n)
	kernel.ParallelFor(n, elemGrain, func(lo, hi int) {
		o, gs, us := h[lo:hi], gate[lo:hi], up[lo:hi]
		for i, g := range gs {
			o[i] = g * sigmoidf(g) * us[i]
		}
	})
}

// SwiGLUBackward accumulates the gradients of SwiGLUForward:
// dgate += dh·up·silu'(gate) and dup += dh·silu(gate). Either may be nil.
func SwiGLUBackward(dgate, dup, dh, gate, up []float32) {
	n := len(dh)
	need("SwiGLUBackward", "gate", gate, n)
	need("SwiGLUBackward", "up", up, n)
	needOpt("SwiGLUBackward", "dgate", dgate, n)
	needOpt("SwiGLUBackward", "dup", dup, n)
	kernel.ParallelFor(n, elemGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g := gate[i]
			s := sigmoidf(g)
			si := g * s
			if dup != nil {
				dup[i] += dh[i] * si
			}
			if dgate != nil {
				dgate[i] += dh[i] * up[i] * s * (1 + g*(1-s))
			}
		}
	})
}

// SwiGLURowsForward is SwiGLUForward for a fused gate/up projection: gu is
// [n, 2·inter] with each row holding the gate half then the up half, and h
// is [n, inter].
func SwiGLURowsForward(h, gu []float32, n, inter int) {
	need("SwiGLURowsForward", "h", h, n*inter)
	need("SwiGLURowsForward", "gu", gu, 2*n*inter)
	kernel.ParallelFor(n, rowGrain(inter), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			gs := gu[2*r*inter : (2*r+1)*inter]
			us := gu[(2*r+1)*inter : (2*r+2)*inter]
			o := h[r*inter : (r+1)*inter]
			for i, g := range gs {
				o[i] = g * sigmoidf(g) * us[i]
			}
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
			gs := gu[2*r*inter : (2*r+1)*inter]
			us := gu[(2*r+1)*inter : (2*r+2)*inter]
			dg := dgu[2*r*inter : (2*r+1)*inter]
			du := dgu[(2*r+1)*inter : (2*r+2)*inter]
			d := dh[r*inter : (r+1)*inter]
			for i, g := range gs {
				s := sigmoidf(g)
				du[i] += d[i] * (g * s)
				dg[i] += d[i] * us[i] * s * (1 + g*(1-s))
			}
		}
	})
}
