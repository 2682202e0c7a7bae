package model

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// tinyConfigs are the whole-model shapes the gradient checks cover.
func tinyConfigs() map[string]Config {
	qwen := NewLlamaConfig(24, 40, 2, 4, 2, 37, 32) // GQA, head_dim 6
	qwen.Architecture, qwen.ModelType = "Qwen2ForCausalLM", "qwen2"
	qwen.QKVBias, qwen.TieEmbeddings = true, true
	llama := NewLlamaConfig(16, 24, 2, 2, 1, 29, 32) // MQA, untied, all biases, llama3 scaling
	llama.QKVBias, llama.OBias, llama.MLPBias = true, true, true
	llama.RopeScaling = &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPos: 8}
	gpt2 := NewGPT2Config(16, 2, 2, 31, 16)
	out := map[string]Config{"qwen2-gqa-tied": qwen, "llama-mqa-bias": llama, "gpt2": gpt2}
	// The families' golden configs: every quirk turned on somewhere.
	for _, name := range []string{"qwen3", "mistral", "gemma2", "gemma3", "phi3", "smollm3", "qwen3moe", "mixtral", "qwen2"} {
		c, err := ReadConfig(filepath.Join("testdata", "families", name))
		if err != nil {
			panic(err)
		}
		out[name] = c
	}
	return out
}

// randomBatch returns B·T tokens and labels with a few ignored positions.
func randomBatch(rng *rand.Rand, vocab, B, T int) Batch {
	b := Batch{B: B, T: T, Tokens: make([]int32, B*T), Labels: make([]int32, B*T)}
	for i := range b.Tokens {
		b.Tokens[i] = int32(rng.IntN(vocab))
		b.Labels[i] = int32(rng.IntN(vocab))
	}
	b.Labels[0], b.Labels[B*T-1] = IgnoreIndex, IgnoreIndex
	return b
}

// scaleParams makes a freshly initialized model less trivial: larger weights
// and non-unit norms and biases, so that every path carries gradient.
func scaleParams(m *Model, rng *rand.Rand) {
	for i := range m.params {
		m.params[i] = m.params[i]*4 + float32(rng.NormFloat64())*0.02
	}
}

// fdCheck compares analytic gradients with central differences at a sample
// of coordinates of every tensor in infos.
func fdCheck(t *testing.T, infos []ParamInfo, params, grads []float32, loss func() float64, rng *rand.Rand) {
	t.Helper()
	const eps = 2e-3
	var num, den float64
	checked := 0
	for _, p := range infos {
		for s := 0; s < 3; s++ {
			i := p.Offset + rng.IntN(p.Size)
			old := params[i]
			params[i] = old + eps
			lp := loss()
			params[i] = old - eps
			lm := loss()
			params[i] = old
			fd := (lp - lm) / (2 * eps)
			g := float64(grads[i])
			num += (fd - g) * (fd - g)
			den += g * g
			checked++
			if math.Abs(fd-g) > 2e-3+0.05*math.Abs(g) {
				t.Errorf("%s[%d]: analytic %.6g, finite difference %.6g", p.Name, i-p.Offset, g, fd)
			}
		}
	}
	if rel := math.Sqrt(num / max(den, 1e-30)); rel > 1e-2 {
		t.Errorf("relative gradient error over %d coordinates: %.3g > 1e-2", checked, rel)
	}
	if den == 0 {
		t.Error("all sampled gradients are zero")
	}
}

func TestGradientsFiniteDifference(t *testing.T) {
	for name, cfg := range tinyConfigs() {
		if cfg.MoE != nil {
			// A nudge can change an expert choice, which the loss is not
			// differentiable across; the PyTorch goldens cover mixtures.
			continue
		}
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			m, err := New(cfg, 7)
			if err != nil {
				t.Fatal(err)
			}
			scaleParams(m, rng)
			m.SetTrainBase(true)
			b := randomBatch(rng, cfg.Vocab, 2, 5)
			if _, err := m.ForwardBackward(b, 0); err != nil {
				t.Fatal(err)
			}
			grads := append([]float32(nil), m.Grads()...)
			loss := func() float64 {
				l, err := m.Evaluate(b, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				return l.Mean()
			}
			fdCheck(t, m.ParamInfos(), m.Params(), grads, loss, rng)
		})
	}
}

func TestLoRAGradientsFiniteDifference(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		targets []string
		dropout float64
	}{
		{"qwen2", tinyConfigs()["qwen2-gqa-tied"], []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}, 0},
		{"gpt2-dropout", tinyConfigs()["gpt2"], []string{"c_attn", "c_proj", "c_fc"}, 0.25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			m, err := New(tc.cfg, 9)
			if err != nil {
				t.Fatal(err)
			}
			scaleParams(m, rng)
			l, err := m.AddLoRA(LoRAConfig{Rank: 3, Alpha: 6, Dropout: tc.dropout, TargetModules: tc.targets, Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			if m.Grads() != nil {
				t.Fatal("AddLoRA left base gradients on")
			}
			for i := range l.params {
				l.params[i] = float32(rng.NormFloat64()) * 0.1 // B is zero after init; make both non-trivial
			}
			b := randomBatch(rng, tc.cfg.Vocab, 2, 5)
			// With dropout the loss depends on the step; hold it fixed.
			loss := func() float64 {
				m.step = 0
				clear(l.grads)
				r, err := m.ForwardBackward(b, 0)
				if err != nil {
					t.Fatal(err)
				}
				return r.Mean()
			}
			loss()
			grads := append([]float32(nil), l.grads...)
			fdCheck(t, l.infos, l.params, grads, loss, rng)
		})
	}
}
