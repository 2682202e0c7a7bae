package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBlockedCrossEntropyMatches scores logits block by block (LSEState,
// then CrossEntropyGradBlock) and checks losses and gradients against
// CrossEntropy on the whole rows, for block widths that do and do not
// divide the vocabulary, and that the result does not depend on them
// beyond rounding.
func TestBlockedCrossEntropyMatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	const n, v = 7, 301
	x := make([]float32, n*v)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 3)
	}
	x[5*v+17] = 60 // one dominant logit
	targets := []int32{0, 300, 17, 150, 151, 17, 42}
	g := []float32{0.5, 1, -0.25, 2, 0, 1, 0.125}
	rowLoss := make([]float64, n)
	want := make([]float32, n*v)
	for r := 0; r < n; r++ {
		rs := []float32{g[r]}
		if _, _, err := CrossEntropy(x[r*v:(r+1)*v], targets[r:r+1], 1, v, 1, rs, want[r*v:(r+1)*v], rowLoss[r:r+1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []int{1, 16, 64, 100, 301, 512} {
		st := LSEState{Max: make([]float32, n), Sum: make([]float64, n), Target: make([]float32, n)}
		st.Reset(n)
		block := make([]float32, n*w)
		cut := func(c0, cw int) []float32 {
			b := block[:n*cw]
			for r := 0; r < n; r++ {
				copy(b[r*cw:(r+1)*cw], x[r*v+c0:r*v+c0+cw])
			}
			return b
		}
		for c0 := 0; c0 < v; c0 += w {
			cw := min(w, v-c0)
			st.Update(cut(c0, cw), n, cw, c0, targets)
		}
		lse := make([]float32, n)
		for r := 0; r < n; r++ {
			if d := math.Abs(st.Loss(r) - rowLoss[r]); d > 1e-5*math.Max(1, rowLoss[r]) {
				t.Errorf("w=%d row %d: loss %v, want %v", w, r, st.Loss(r), rowLoss[r])
			}
			lse[r] = float32(st.LSE(r))
		}
		for c0 := 0; c0 < v; c0 += w {
			cw := min(w, v-c0)
			b := cut(c0, cw)
			CrossEntropyGradBlock(b, n, cw, c0, targets, lse, g)
			for r := 0; r < n; r++ {
				for j := 0; j < cw; j++ {
					if d := math.Abs(float64(b[r*cw+j] - want[r*v+c0+j])); d > 1e-6 {
						t.Fatalf("w=%d row %d col %d: grad %v, want %v", w, r, c0+j, b[r*cw+j], want[r*v+c0+j])
					}
				}
			}
		}
	}
}
