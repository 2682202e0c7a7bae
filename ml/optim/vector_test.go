package optim

import (
	"math"
	"slices"
	"testing"
)

// TestVectorMatchesGo runs AdamW (float32 and bf16 moments, clipped,
// decayed and not) and the gradient norm with the vector kernels and with
// the Go loops, and checks that they agree bit for bit, specials included.
func TestVectorMatchesGo(t *testing.T) {
	if !useAVX2 {
		t.Skip("no vector kernels on this CPU")
	}
	defer func() { useAVX2 = true }()
	for _, bf := range []bool{false, true} {
		run := func(vec bool) (*model, float64) {
			useAVX2 = vec
			m := newModel(1000, 37, 8, 3)
			cfg := DefaultAdamW()
			cfg.BF16State = bf
			o := NewAdamW(m.params, cfg)
			var norm float64
			for s := 0; s < 4; s++ {
				m.fillGrads(s)
				if s == 2 {
					m.params[0].Grad[5] = float32(math.Inf(1)) // specials through the update
					m.params[0].Grad[9] = float32(math.NaN())
				}
				norm = GradNorm(m.params)
				o.StepScaled(1e-2, ClipScale(norm, 0.5))
			}
			return m, norm
		}
		a, na := run(true)
		b, nb := run(false)
		if math.Float64bits(na) != math.Float64bits(nb) && !(math.IsNaN(na) && math.IsNaN(nb)) {
			t.Errorf("bf16=%v: gradient norm %v (vector) vs %v (Go)", bf, na, nb)
		}
		for i := range a.params {
			if !slices.Equal(bitsOf(a.params[i].Data), bitsOf(b.params[i].Data)) {
				t.Errorf("bf16=%v: param %d differs between the vector and Go updates", bf, i)
			}
		}
	}
}
