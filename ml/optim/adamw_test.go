package optim

import (
	"math"
	"testing"
)

// TestAdamWFirstStep checks one step against the closed form: on the first
// step m̂ = g and v̂ = g², so p ← p(1−lr·wd) − lr·g/(|g|+ε).
func TestAdamWFirstStep(t *testing.T) {
	cfg := DefaultAdamW()
	p := &Param{Name: "w", Data: []float32{1, -2, 0.5}, Grad: []float32{0.3, -0.1, 0}}
	b := &Param{Name: "b", Data: []float32{1}, Grad: []float32{2}, NoDecay: true}
	o := NewAdamW([]*Param{p, b}, cfg)
	const lr = 0.01
	want := make([]float64, 3)
	for i := range want {
		x, g := float64(p.Data[i]), float64(p.Grad[i])
		want[i] = x*(1-lr*cfg.WeightDecay) - lr*g/(math.Abs(g)+cfg.Eps)
	}
	wantB := 1 - lr*2/(2+cfg.Eps)
	o.Step(lr)
	for i := range want {
		if math.Abs(float64(p.Data[i])-want[i]) > 1e-6*math.Abs(want[i]) {
			t.Errorf("w[%d] = %v, want %v", i, p.Data[i], want[i])
		}
	}
	if math.Abs(float64(b.Data[0])-wantB) > 1e-7 {
		t.Errorf("b = %v, want %v (no decay)", b.Data[0], wantB)
	}
	if o.StepCount() != 1 {
		t.Errorf("StepCount = %d", o.StepCount())
	}
	o.ZeroGrad()
	for _, g := range append(p.Grad, b.Grad...) {
		if g != 0 {
			t.Fatal("ZeroGrad left a non-zero gradient")
		}
	}
}
