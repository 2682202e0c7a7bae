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

// TestFusedCrossEntropyGrad folds blocks with UpdateExp into a running
// e^(x−Max)·W sum (rescaled as the maximum grows) and checks that the
// losses match CrossEntropy's and that g·(A/Sum − W[target]) is the
// gradient times W, for block widths that do and do not divide the
// vocabulary.
func TestFusedCrossEntropyGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	const n, v, d = 6, 257, 5
	x := make([]float32, n*v)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 3)
	}
	x[2*v+200] = 50 // a dominant logit late in a row: the maximum grows
	w := make([]float32, v*d)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	targets := []int32{0, 256, 200, 7, 128, 129}
	g := []float32{1, 0.5, -2, 0, 1, 0.25}
	grad := make([]float32, n*v)
	rowLoss := make([]float64, n)
	for r := 0; r < n; r++ {
		if _, _, err := CrossEntropy(x[r*v:(r+1)*v], targets[r:r+1], 1, v, 1, g[r:r+1], grad[r*v:(r+1)*v], rowLoss[r:r+1]); err != nil {
			t.Fatal(err)
		}
	}
	want := make([]float64, n*d)
	for r := 0; r < n; r++ {
		for j := 0; j < v; j++ {
			for k := 0; k < d; k++ {
				want[r*d+k] += float64(grad[r*v+j]) * float64(w[j*d+k])
			}
		}
	}
	for _, bw := range []int{1, 32, 100, 257, 300} {
		st := LSEState{Max: make([]float32, n), Sum: make([]float64, n), Target: make([]float32, n)}
		st.Reset(n)
		acc := make([]float64, n*d)
		rescale := make([]float32, n)
		block := make([]float32, n*bw)
		for c0 := 0; c0 < v; c0 += bw {
			cw := min(bw, v-c0)
			b := block[:n*cw]
			for r := 0; r < n; r++ {
				copy(b[r*cw:(r+1)*cw], x[r*v+c0:r*v+c0+cw])
			}
			st.UpdateExp(b, n, cw, c0, targets, rescale)
			for r := 0; r < n; r++ {
				for k := 0; k < d; k++ {
					acc[r*d+k] *= float64(rescale[r])
					for j := 0; j < cw; j++ {
						acc[r*d+k] += float64(b[r*cw+j]) * float64(w[(c0+j)*d+k])
					}
				}
			}
		}
		for r := 0; r < n; r++ {
			if diff := math.Abs(st.Loss(r) - rowLoss[r]); diff > 1e-5*math.Max(1, rowLoss[r]) {
				t.Errorf("w=%d row %d: loss %v, want %v", bw, r, st.Loss(r), rowLoss[r])
			}
			for k := 0; k < d; k++ {
				got := float64(g[r]) * (acc[r*d+k]/st.Sum[r] - float64(w[int(targets[r])*d+k]))
				if diff := math.Abs(got - want[r*d+k]); diff > 1e-5 {
					t.Errorf("w=%d row %d col %d: grad·W %v, want %v", bw, r, k, got, want[r*d+k])
				}
			}
		}
	}
}
