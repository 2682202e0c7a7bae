package optim

import (
	"math"
	"path/filepath"
	"slices"
	"testing"
)

// TestStepScaledMatchesClip checks that clipping fused into the update
// (ClipScale + StepScaled) gives the bits of ClipGradNorm followed by Step.
func TestStepScaledMatchesClip(t *testing.T) {
	a, b := newModel(300, 7), newModel(300, 7)
	oa, ob := NewAdamW(a.params, DefaultAdamW()), NewAdamW(b.params, DefaultAdamW())
	for s := 0; s < 5; s++ {
		a.fillGrads(s)
		b.fillGrads(s)
		for _, p := range a.params {
			for j := range p.Grad {
				p.Grad[j] *= 40 // large enough to clip
			}
		}
		for _, p := range b.params {
			for j := range p.Grad {
				p.Grad[j] *= 40
			}
		}
		ClipGradNorm(a.params, 1)
		oa.Step(1e-2)
		ob.StepScaled(1e-2, ClipScale(GradNorm(b.params), 1))
	}
	for i := range a.params {
		if !slices.Equal(bitsOf(a.params[i].Data), bitsOf(b.params[i].Data)) {
			t.Fatalf("param %d differs between ClipGradNorm+Step and StepScaled", i)
		}
	}
}

func bitsOf(x []float32) []uint32 {
	out := make([]uint32, len(x))
	for i, f := range x {
		out[i] = math.Float32bits(f)
	}
	return out
}

// TestRoundStochastic checks that stochastic rounding lands on one of the
// two neighbouring bf16 values, is unbiased, and keeps specials.
func TestRoundStochastic(t *testing.T) {
	x := float32(1.00123) // between 1 and 1+2⁻⁷
	lo, hi := bf16(0x3f80), bf16(0x3f81)
	var sum float64
	const n = 1 << 16
	for r := uint32(0); r < n; r++ {
		y := bf16(roundStochastic(x, r*0x9e37))
		if y != lo && y != hi {
			t.Fatalf("rounded to %v, not a neighbour of %v", y, x)
		}
		sum += float64(y)
	}
	if mean := sum / n; math.Abs(mean-float64(x)) > 1e-5 {
		t.Errorf("mean of rounded values %v, want %v", mean, x)
	}
	if y := bf16(roundStochastic(float32(math.Inf(1)), 0xffff)); !math.IsInf(float64(y), 1) {
		t.Errorf("+Inf rounds to %v", y)
	}
	if y := bf16(roundStochastic(float32(math.NaN()), 0xffff)); !math.IsNaN(float64(y)) {
		t.Errorf("NaN rounds to %v", y)
	}
}

// TestAdamWBF16State trains with float32 and with bf16 moments on the same
// gradients: the parameters stay within a small fraction of the distance
// they travel, two bf16 runs agree bit for bit, and the state saved
// mid-run restores exactly.
func TestAdamWBF16State(t *testing.T) {
	cfg := DefaultAdamW()
	ref := newModel(4096, 33)
	start := ref.clone()
	o32 := NewAdamW(ref.params, cfg)
	cfg.BF16State = true
	run := func(m *model, o *AdamW, from, to int) {
		for s := from; s < to; s++ {
			m.fillGrads(s)
			o.StepScaled(1e-3, ClipScale(GradNorm(m.params), 1))
		}
	}
	x, y := start.clone(), start.clone()
	ox, oy := NewAdamW(x.params, cfg), NewAdamW(y.params, cfg)
	run(ref, o32, 0, 200)
	run(x, ox, 0, 200)
	run(y, oy, 0, 100)
	path := filepath.Join(t.TempDir(), "state.safetensors")
	if err := oy.SaveState(path); err != nil {
		t.Fatal(err)
	}
	oz := NewAdamW(y.params, cfg)
	if err := oz.LoadStateFile(path); err != nil {
		t.Fatal(err)
	}
	run(y, oz, 100, 200)
	for i := range ref.params {
		var moved, off float64
		for j, w := range ref.params[i].Data {
			d0 := float64(w - start.params[i].Data[j])
			d1 := float64(x.params[i].Data[j] - w)
			moved += d0 * d0
			off += d1 * d1
		}
		if r := math.Sqrt(off / moved); r > 0.02 {
			t.Errorf("param %d: bf16 moments end %.3g of the distance travelled away from float32 ones", i, r)
		}
		if !slices.Equal(bitsOf(x.params[i].Data), bitsOf(y.params[i].Data)) {
			t.Errorf("param %d: a bf16-state run resumed from its saved state differs from one run straight through", i)
		}
	}
}
