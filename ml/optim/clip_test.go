package optim

import (
	"math"
	"testing"
)

func TestClipGradNorm(t *testing.T) {
	tests := []struct {
		name    string
		grads   [][]float32
		maxNorm float64
		norm    float64
		after   [][]float32
	}{
		{"below", [][]float32{{3}, {4}}, 10, 5, [][]float32{{3}, {4}}},
		{"equal", [][]float32{{3}, {4}}, 5, 5, [][]float32{{3}, {4}}},
		{"above", [][]float32{{3, 0}, {4}}, 1, 5, [][]float32{{0.6, 0}, {0.8}}},
		{"zero", [][]float32{{0, 0}, {}}, 1, 0, [][]float32{{0, 0}, {}}},
		{"no params", nil, 1, 0, nil},
	}
	for _, tt := range tests {
		var ps []*Param
		for _, g := range tt.grads {
			ps = append(ps, &Param{Data: make([]float32, len(g)), Grad: append([]float32(nil), g...)})
		}
		if got := ClipGradNorm(ps, tt.maxNorm); math.Abs(got-tt.norm) > 1e-12 {
			t.Errorf("%s: norm %v, want %v", tt.name, got, tt.norm)
		}
		for i, p := range ps {
			for j, g := range p.Grad {
				if math.Abs(float64(g-tt.after[i][j])) > 1e-6 {
					t.Errorf("%s: grad[%d][%d] = %v, want %v", tt.name, i, j, g, tt.after[i][j])
				}
			}
		}
	}
	// A non-finite norm is reported and nothing is scaled.
	ps := []*Param{{Grad: []float32{1, float32(math.Inf(1))}}, {Grad: []float32{2}}}
	if n := ClipGradNorm(ps, 1); !math.IsInf(n, 1) || ps[1].Grad[0] != 2 {
		t.Errorf("inf: norm %v, grads %v", n, ps[1].Grad)
	}
	ps = []*Param{{Grad: []float32{float32(math.NaN()), 2}}}
	if n := ClipGradNorm(ps, 1); !math.IsNaN(n) || ps[0].Grad[1] != 2 {
		t.Errorf("NaN: norm %v, grads %v", n, ps[0].Grad)
	}
	// float64 accumulation: float32 squares of 1e20 overflow, the norm does not.
	ps = []*Param{{Grad: []float32{1e20, 1e20}}}
	if n := GradNorm(ps); math.Abs(n-math.Sqrt2*1e20)/n > 1e-7 {
		t.Errorf("large: norm %v", n)
	}
}

// TestGradientAccumulation: summing k micro-batch gradients and scaling by
// 1/k gives the mean gradient.
func TestGradientAccumulation(t *testing.T) {
	micro := [][]float32{{1, 2, 3}, {3, 2, 1}, {2, -4, 8}, {-2, 0, 0}}
	p := &Param{Data: make([]float32, 3), Grad: make([]float32, 3)}
	ZeroGrads([]*Param{p})
	for _, g := range micro {
		for i := range g {
			p.Grad[i] += g[i]
		}
	}
	ScaleGrads([]*Param{p}, 1/float32(len(micro)))
	want := []float32{1, 0, 3}
	for i := range want {
		if p.Grad[i] != want[i] {
			t.Fatalf("mean grad %v, want %v", p.Grad, want)
		}
	}
}

func TestAdamWConfigValidate(t *testing.T) {
	if err := DefaultAdamW().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []func(*AdamWConfig){
		func(c *AdamWConfig) { c.LR = -1 },
		func(c *AdamWConfig) { c.LR = math.NaN() },
		func(c *AdamWConfig) { c.Beta1 = 1 },
		func(c *AdamWConfig) { c.Beta2 = -0.1 },
		func(c *AdamWConfig) { c.Eps = 0 },
		func(c *AdamWConfig) { c.WeightDecay = math.Inf(1) },
	}
	for i, edit := range bad {
		c := DefaultAdamW()
		edit(&c)
		if c.Validate() == nil {
			t.Errorf("case %d: %+v accepted", i, c)
		}
	}
	o := NewAdamW([]*Param{{Name: "x", Data: make([]float32, 3), Grad: make([]float32, 2)}}, DefaultAdamW())
	if err := o.Check(); err == nil {
		t.Error("Check accepted a short gradient")
	}
}
