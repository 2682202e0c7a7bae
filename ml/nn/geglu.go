package nn

import "github.com/crucible-net/crucible/ml/kernel"

// GeGLU is the gated MLP activation of Gemma: h = GELU(gate)·up with the
// tanh approximation of GELU (transformers' "gelu_pytorch_tanh", the same
// function as GPT-2's "gelu_new"). The GELU parts run on the vectorized
// GELU kernels, a stack block of gegluBlock values at a time.

const gegluBlock = 256

// GeGLURowsForward computes h [n, inter] from a fused gate/up projection gu
// [n, 2·inter] (each row the gate half, then the up half).
func GeGLURowsForward(h, gu []float32, n, inter int) {
	need("GeGLURowsForward", "h", h, n*inter)
	need("GeGLURowsForward", "gu", gu, 2*n*inter)
	kernel.ParallelFor(n, rowGrain(inter), func(lo, hi int) {
		var tmp [gegluBlock]float32
		for r := lo; r < hi; r++ {
			hr := h[r*inter : (r+1)*inter]
			g, u := gu[2*r*inter:(2*r+1)*inter], gu[(2*r+1)*inter:(2*r+2)*inter]
			for c0 := 0; c0 < inter; c0 += gegluBlock {
				c1 := min(c0+gegluBlock, inter)
				t := tmp[:c1-c0]
				geluBlock(t, g[c0:c1])
				for i, v := range t {
					hr[c0+i] = v * u[c0+i]
				}
			}
		}
	})
}

// GeGLURowsBackward accumulates the gradients of GeGLURowsForward into dgu
// [n, 2·inter] (gate half, then up half, per row).
func GeGLURowsBackward(dgu, dh, gu []float32, n, inter int) {
	need("GeGLURowsBackward", "dh", dh, n*inter)
	need("GeGLURowsBackward", "gu", gu, 2*n*inter)
	need("GeGLURowsBackward", "dgu", dgu, 2*n*inter)
	kernel.ParallelFor(n, rowGrain(inter), func(lo, hi int) {
		var tmp [gegluBlock]float32
		for r := lo; r < hi; r++ {
			gi, ui := 2*r*inter, (2*r+1)*inter
			g, u := gu[gi:gi+inter], gu[ui:ui+inter]
			dg, du := dgu[gi:gi+inter], dgu[ui:ui+inter]
			d := dh[r*inter : (r+1)*inter]
			for c0 := 0; c0 < inter; c0 += gegluBlock {
				c1 := min(c0+gegluBlock, inter)
				t := tmp[:c1-c0]
				// d(up) = dh·GELU(gate)
				geluBlock(t, g[c0:c1])
				for i, v := range t {
					du[c0+i] += d[c0+i] * v
				}
				// d(gate) = (dh·up)·GELU'(gate)
				for i := range t {
					t[i] = d[c0+i] * u[c0+i]
				}
				geluBwdBlock(dg[c0:c1], t, g[c0:c1])
			}
		}
	})
}

// geluBlock writes GELU(x) into out (same length), vectorized where the CPU
// allows.
func geluBlock(out, x []float32) {
	n, i := len(out), 0
	if useAVX2 && n >= 8 {
		i = n &^ 7
		geluFwdAVX2(&out[0], &x[0], i)
	}
	for ; i < n; i++ {
		v := x[i]
		out[i] = v / (1 + expf(v*(geluA+geluB*v*v)))
	}
}

// geluBwdBlock accumulates dx += dout·GELU'(x).
func geluBwdBlock(dx, dout, x []float32) {
	n, i := len(dx), 0
	if useAVX2 && n >= 8 {
		i = n &^ 7
		geluBwdAVX2(&dx[0], &dout[0], &x[0], i)
	}
	for ; i < n; i++ {
		v := x[i]
		v2 := v * v
		s := 1 / (1 + expf(v*(geluA+geluB*v2)))
		dx[i] += dout[i] * (s + v*s*(1-s)*(geluC1+geluC3*v2))
	}
}
