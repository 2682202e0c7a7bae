package model

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/safetensors"
)

// familyGolden is one case of tools/goldens/model/families.py: a tiny model
// of a family with its quirks turned on, a batch with the logits, loss and
// gradients of an independent float64 PyTorch implementation, a greedy
// continuation computed without a cache, and optionally the same for a
// LoRA adapter.
type familyGolden struct {
	batch     Batch
	tensors   map[string][]float32
	generated []int32
}

func loadFamilyGolden(t *testing.T, path string) familyGolden {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g := familyGolden{tensors: map[string][]float32{}}
	for _, n := range f.Names() {
		v, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		g.tensors[n] = v
	}
	info, _ := f.Info("tokens")
	g.batch.B, g.batch.T = info.Shape[0], info.Shape[1]
	for _, v := range g.tensors["tokens"] {
		g.batch.Tokens = append(g.batch.Tokens, int32(v))
	}
	for _, v := range g.tensors["labels"] {
		g.batch.Labels = append(g.batch.Labels, int32(v))
	}
	for _, v := range g.tensors["generated"] {
		g.generated = append(g.generated, int32(v))
	}
	return g
}

// Tolerances: float32 against float64 on models with weights of about ±0.25
// (logits of a few units).
const (
	goldenLogitTol = 2e-5 // max error relative to the largest logit
	goldenLossTol  = 1e-5
	goldenGradTol  = 1e-4 // max error relative to the tensor's largest gradient
)

var familyCases = []struct {
	name  string
	lora  bool
	check func(t *testing.T, c Config) // the quirks the case must turn on
}{
	{"qwen3", true, func(t *testing.T, c Config) {
		want(t, c.QKNorm && c.TieEmbeddings && !c.QKVBias && c.Window(0) == 0 && c.Window(1) == 5 && c.RopeScaling.Type == "yarn", "Qwen3: q/k norms, tied, window on layers ≥ 1, yarn")
	}},
	{"mistral", false, func(t *testing.T, c Config) {
		want(t, c.Window(0) == 4 && c.Window(2) == 4 && !c.TieEmbeddings, "Mistral: window 4 on every layer")
	}},
	{"gemma2", false, func(t *testing.T, c Config) {
		want(t, c.NormPlusOne && c.PostNorms && c.GeGLU && c.AttnSoftcap == 3 && c.FinalSoftcap == 5 &&
			c.Window(0) == 4 && c.Window(1) == 0 && c.Window(2) == 4 && math.Abs(c.QueryScale-1/math.Sqrt(12)) < 1e-12 &&
			c.EmbedScale > 4.89 && c.EmbedScale < 4.9, "Gemma 2 quirks")
	}},
	{"gemma3", true, func(t *testing.T, c Config) {
		want(t, c.QKNorm && c.NormPlusOne && c.LocalRopeTheta == 100 && c.Window(0) == 3 && c.Window(1) == 0 &&
			c.RopeScaling.Type == "linear", "Gemma 3 quirks")
	}},
	{"phi3", true, func(t *testing.T, c Config) {
		want(t, c.FusedProjections && c.RotaryDim == 6 && c.RopeScaling.Type == "longrope" && c.Window(1) == 6, "Phi-3: fused, partial rotary, longrope, window")
	}},
	{"phi3_short", false, func(t *testing.T, c Config) {
		want(t, c.TieEmbeddings && c.RotaryDim == 6, "Phi-4-mini: tied, partial")
	}},
	{"smollm3", false, func(t *testing.T, c Config) {
		want(t, slices.Equal(c.NoRope, []bool{false, true, false}), "SmolLM3: layer 1 without RoPE")
	}},
	{"qwen3moe", true, func(t *testing.T, c Config) {
		want(t, c.MoE != nil && c.SparseLayer(0) && !c.SparseLayer(1) && c.MoE.NormTopK && c.MoE.AuxLoss, "Qwen3-MoE: dense layer 1, aux loss")
	}},
	{"qwen2", true, func(t *testing.T, c Config) {
		want(t, c.QKVBias && !c.OBias && c.Window(1) == 0 && c.Window(2) == 4, "Qwen2: q/k/v bias, window from layer 2")
	}},
	{"mixtral", false, func(t *testing.T, c Config) {
		want(t, c.MoE != nil && c.MoE.Experts == 3 && c.MoE.NormTopK && !c.MoE.AuxLoss, "Mixtral: 3 experts, top 2")
	}},
}

func want(t *testing.T, ok bool, what string) {
	t.Helper()
	if !ok {
		t.Fatalf("config lacks %s", what)
	}
}

// TestFamilyGoldens checks every family's logits, loss, gradients and
// greedy generation (through the KV cache) against the PyTorch reference,
// then the same for a LoRA adapter where the case has one.
func TestFamilyGoldens(t *testing.T) {
	for _, tc := range familyCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("testdata", "families")
			g := loadFamilyGolden(t, filepath.Join(dir, tc.name+"_golden.safetensors"))
			m, err := Load(filepath.Join(dir, tc.name))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, m.Config())
			m.SetTrainBase(true)
			checkGoldenPass(t, m, g, "", m.Grad)

			out, err := m.Generate(g.batch.Tokens[:5], GenerateOptions{MaxNewTokens: len(g.generated), StopTokens: []int32{}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out, g.generated) {
				t.Errorf("greedy generation %v, reference %v", out, g.generated)
			}
			if !tc.lora {
				return
			}
			m.SetTrainBase(false)
			if err := m.LoadAdapter(filepath.Join(dir, tc.name+"_lora")); err != nil {
				t.Fatal(err)
			}
			checkGoldenPass(t, m, g, "lora.", m.LoRA().grad)
		})
	}
}

// checkGoldenPass compares Logits, Evaluate and ForwardBackward with the
// golden tensors under prefix.
func checkGoldenPass(t *testing.T, m *Model, g familyGolden, prefix string, grad func(string) []float32) {
	t.Helper()
	b := g.batch
	logits, err := m.Logits(Batch{Tokens: b.Tokens, B: b.B, T: b.T})
	if err != nil {
		t.Fatal(err)
	}
	wantLoss := float64(g.tensors[prefix+"loss"][0])
	e := maxRelErr(logits, g.tensors[prefix+"logits"])
	t.Logf("%slogits relative error %.2g, loss %.6f", prefix, e, wantLoss)
	if e > goldenLogitTol {
		t.Errorf("%slogits: relative error %.3g > %g", prefix, e, goldenLogitTol)
	}
	ev, err := m.Evaluate(b, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(ev.Mean() - wantLoss); d > goldenLossTol {
		t.Errorf("%sevaluate loss %.7f, want %.7f", prefix, ev.Mean(), wantLoss)
	}
	m.ZeroGrads()
	loss, err := m.ForwardBackward(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(loss.Mean() - wantLoss); d > goldenLossTol {
		t.Errorf("%straining loss %.7f, want %.7f", prefix, loss.Mean(), wantLoss)
	}
	if aux, ok := g.tensors[prefix+"aux"]; ok {
		if d := math.Abs(m.AuxLoss() - float64(aux[0])); d > 1e-6 {
			t.Errorf("%srouter aux loss %.7f, want %.7f", prefix, m.AuxLoss(), aux[0])
		}
	}
	n, worst := 0, 0.0
	for name, wantG := range g.tensors {
		pname, ok := strings.CutPrefix(name, prefix+"grad.")
		if !ok {
			continue
		}
		n++
		got := grad(pname)
		if len(got) != len(wantG) {
			t.Errorf("%s: %d gradient elements, want %d", pname, len(got), len(wantG))
			continue
		}
		e := maxRelErr(got, wantG)
		worst = max(worst, e)
		if e > goldenGradTol {
			t.Errorf("%s: gradient relative error %.3g > %g", pname, e, goldenGradTol)
		}
	}
	if n == 0 {
		t.Fatalf("golden has no %sgradients", prefix)
	}
	t.Logf("%sgradients of %d tensors: worst relative error %.2g", prefix, n, worst)
}

// TestFamilyGoldensBF16 runs every family's golden batch with bf16 matrix
// products: the loss stays within 1% of the float64 reference and greedy
// generation still runs (its tokens may differ where logits are close).
func TestFamilyGoldensBF16(t *testing.T) {
	for _, tc := range familyCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("testdata", "families")
			g := loadFamilyGolden(t, filepath.Join(dir, tc.name+"_golden.safetensors"))
			m, err := Load(filepath.Join(dir, tc.name))
			if err != nil {
				t.Fatal(err)
			}
			m.SetPrecision(kernel.BF16)
			ev, err := m.Evaluate(g.batch, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := float64(g.tensors["loss"][0])
			if d := math.Abs(ev.Mean()-want) / want; d > 0.01 {
				t.Errorf("bf16 loss %.5f, reference %.5f (%.2g relative)", ev.Mean(), want, d)
			}
			m.SetTrainBase(true)
			if _, err := m.ForwardBackward(g.batch, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Generate(g.batch.Tokens[:5], GenerateOptions{MaxNewTokens: 4}, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}
