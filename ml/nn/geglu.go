package nn

import "github.com/crucible-net/crucible/ml/kernel"

// GeGLU is the gated MLP activation of Gemma: h = GELU(gate)·up with the
// tanh approximation of GELU (transformers' "gelu_pytorch_tanh", the same
// function as GPT-2's "gelu_new").

// GeGLURowsForward computes h [n, inter] from a fused gate/up projection gu
// [n, 2·inter] (each row the gate half, then the up half).
func GeGLURowsForward(h, gu []float32, n, inter int) {
	need("GeGLURowsForward", "h", h, n*inter)
	need("GeGLURowsForward", "gu", gu, 2*n*inter)
	kernel.ParallelFor(n, rowGrain(inter), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			hr := h[r*inter : (r+1)*inter]
			g, u := gu[2*r*inter:(2*r+1)*inter], gu[(2*r+1)*inter:(2*r+2)*inter]
			for i, v := range g {
				hr[i] = v / (1 + expf(v*(geluA+geluB*v*v))) * u[i]
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
		for r := lo; r < hi; r++ {
			gi, ui := 2*r*inter, (2*r+1)*inter
			g, u := gu[gi:gi+inter], gu[ui:ui+inter]
			dg, du := dgu[gi:gi+inter], dgu[ui:ui+inter]
			d := dh[r*inter : (r+1)*inter]
			for i, v := range g {
				v2 := v * v
				s := 1 / (1 + expf(v*(geluA+geluB*v2)))
				du[i] += d[i] * v * s
				dg[i] += d[i] * u[i] * (s + v*s*(1-s)*(geluC1+geluC3*v2))
			}
		}
	})
}
