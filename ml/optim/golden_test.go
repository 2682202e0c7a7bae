package optim

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// The goldens are made by tools/goldens/optim/make_goldens.py with
// PyTorch's torch.optim.AdamW and torch.nn.utils.clip_grad_norm_.

type adamwCase struct {
	Name        string               `json:"name"`
	Beta1       float64              `json:"beta1"`
	Beta2       float64              `json:"beta2"`
	Eps         float64              `json:"eps"`
	WeightDecay float64              `json:"weight_decay"`
	Init        map[string][]float64 `json:"init"`
	Steps       []struct {
		LR       float64              `json:"lr"`
		Grads    map[string][]float64 `json:"grads"`
		Params   map[string][]float64 `json:"params"`
		ExpAvg   map[string][]float64 `json:"exp_avg"`
		ExpAvgSq map[string][]float64 `json:"exp_avg_sq"`
	} `json:"steps"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func f32s(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// relErr returns |got-want| / max(|want|, floor).
func relErr(got float32, want, floor float64) float64 {
	return math.Abs(float64(got)-want) / max(math.Abs(want), floor)
}

func TestAdamWMatchesPyTorch(t *testing.T) {
	var golden struct {
		Torch string      `json:"torch"`
		Cases []adamwCase `json:"cases"`
	}
	readJSON(t, "testdata/adamw.json", &golden)
	if len(golden.Cases) == 0 {
		t.Fatal("no cases")
	}
	names := []string{"bias", "emb", "w"}
	for _, c := range golden.Cases {
		t.Run(c.Name, func(t *testing.T) {
			var params []*Param
			for _, n := range names {
				params = append(params, &Param{Name: n, Data: f32s(c.Init[n]), Grad: make([]float32, len(c.Init[n])), NoDecay: n == "bias"})
			}
			o := NewAdamW(params, AdamWConfig{LR: 1e-3, Beta1: c.Beta1, Beta2: c.Beta2, Eps: c.Eps, WeightDecay: c.WeightDecay})
			worst := 0.0
			for s, st := range c.Steps {
				for _, p := range params {
					copy(p.Grad, f32s(st.Grads[p.Name]))
				}
				o.Step(st.LR)
				for i, p := range params {
					for j := range p.Data {
						// Params: relative 1e-6 (floor 1e-3 for values near zero).
						if e := relErr(p.Data[j], st.Params[p.Name][j], 1e-3); e > 1e-6 {
							t.Fatalf("step %d: %s[%d] = %v, torch %v (rel err %.2g)", s+1, p.Name, j, p.Data[j], st.Params[p.Name][j], e)
						} else {
							worst = max(worst, e)
						}
						if e := relErr(o.m[i][j], st.ExpAvg[p.Name][j], 1e-9); e > 1e-5 {
							t.Fatalf("step %d: %s.exp_avg[%d] = %v, torch %v", s+1, p.Name, j, o.m[i][j], st.ExpAvg[p.Name][j])
						}
						if e := relErr(o.v[i][j], st.ExpAvgSq[p.Name][j], 1e-12); e > 1e-5 {
							t.Fatalf("step %d: %s.exp_avg_sq[%d] = %v, torch %v", s+1, p.Name, j, o.v[i][j], st.ExpAvgSq[p.Name][j])
						}
					}
				}
			}
			t.Logf("%d steps, worst param relative error vs torch %s: %.3g", len(c.Steps), golden.Torch, worst)
		})
	}
}

func TestClipGradNormMatchesPyTorch(t *testing.T) {
	var golden struct {
		Cases []struct {
			Name    string      `json:"name"`
			MaxNorm float64     `json:"max_norm"`
			Grads   [][]float64 `json:"grads"`
			Norm    float64     `json:"norm"`
			Clipped [][]float64 `json:"clipped"`
		} `json:"cases"`
	}
	readJSON(t, "testdata/clip.json", &golden)
	for _, c := range golden.Cases {
		var params []*Param
		for _, g := range c.Grads {
			params = append(params, &Param{Data: make([]float32, len(g)), Grad: f32s(g)})
		}
		norm := ClipGradNorm(params, c.MaxNorm)
		if math.Abs(norm-c.Norm) > 1e-6*c.Norm {
			t.Errorf("%s: norm %v, torch %v", c.Name, norm, c.Norm)
		}
		for i, p := range params {
			for j, g := range p.Grad {
				if e := relErr(g, c.Clipped[i][j], 1e-6); e > 1e-6 {
					t.Fatalf("%s: grad %d[%d] = %v, torch %v", c.Name, i, j, g, c.Clipped[i][j])
				}
			}
		}
	}
}
