package nn

import "testing"

// TestGeGLURows checks the fused GeGLU rows against the reference tanh GELU
// times up, and its gradients against finite differences.
func TestGeGLURows(t *testing.T) {
	const rows, inter = 3, 300 // more than a block, and a ragged tail
	r := newRand(31)
	gu := randVec(r, rows*2*inter, 3)
	f := func(in [][]float64) []float64 {
		o := make([]float64, rows*inter)
		for rr := 0; rr < rows; rr++ {
			for i := 0; i < inter; i++ {
				o[rr*inter+i] = refGELU(in[0][2*rr*inter+i]) * in[0][(2*rr+1)*inter+i]
			}
		}
		return o
	}
	in := [][]float64{to64(gu)}
	h := make([]float32, rows*inter)
	GeGLURowsForward(h, gu, rows, inter)
	if e := maxAbsErr(h, f(in)); e > 1e-5 {
		t.Fatalf("forward max error %.3g", e)
	}
	dh := randVec(r, rows*inter, 1)
	dgu, dgu0 := prefilled(r, rows*2*inter)
	GeGLURowsBackward(dgu, dh, gu, rows, inter)
	checkGrad(t, "dgu", dgu, dgu0, fdGrad(f, in, to64(dh), 0), 1e-3)
}
