//go:build openblas && cgo

package openblas

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/crucible-net/crucible/ml/kernel"
)

// TestMatchesReference checks the binding (argument order, transposes,
// leading dimensions) against kernel.GemmRef.
func TestMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const m, n, k = 37, 29, 41
	for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
		lda, ldb, ldc := k+2, n+1, n+3
		if tr[0] {
			lda = m + 2
		}
		if tr[1] {
			ldb = k + 1
		}
		a := randSlice(rng, 64*64)
		b := randSlice(rng, 64*64)
		c := randSlice(rng, m*ldc)
		want := append([]float32(nil), c...)
		kernel.GemmRef(tr[0], tr[1], m, n, k, 0.5, a, lda, b, ldb, 2, want, ldc)
		if err := kernel.GemmVariant("openblas", tr[0], tr[1], m, n, k, 0.5, a, lda, b, ldb, 2, c, ldc); err != nil {
			t.Fatal(err)
		}
		for i := range c {
			if math.Abs(float64(c[i]-want[i])) > 1e-4 {
				t.Fatalf("tA=%v tB=%v: C[%d] = %g, want %g", tr[0], tr[1], i, c[i], want[i])
			}
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}
