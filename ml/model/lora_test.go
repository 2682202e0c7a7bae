package model

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/safetensors"
	"github.com/crucible-net/crucible/ml/tensor"
)

func newLoRAModel(t *testing.T, cfgName string, targets ...string) (*Model, *LoRA) {
	t.Helper()
	m, err := New(tinyConfigs()[cfgName], 21)
	if err != nil {
		t.Fatal(err)
	}
	scaleParams(m, rand.New(rand.NewPCG(5, 5)))
	l, err := m.AddLoRA(LoRAConfig{Rank: 2, Alpha: 4, TargetModules: targets, Seed: 1, BaseModel: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	return m, l
}

func TestLoRAInitIsIdentity(t *testing.T) {
	m, err := New(tinyConfigs()["qwen2-gqa-tied"], 21)
	if err != nil {
		t.Fatal(err)
	}
	b := randomBatch(rand.New(rand.NewPCG(1, 1)), m.cfg.Vocab, 2, 4)
	base, _ := m.Logits(b)
	l, err := m.AddLoRA(LoRAConfig{Rank: 4, Alpha: 8, TargetModules: []string{"q_proj", "v_proj"}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	withLoRA, _ := m.Logits(b)
	if !slices.Equal(base, withLoRA) {
		t.Fatal("a fresh adapter (B = 0) changed the logits")
	}
	if got := len(l.ParamInfos()); got != 2*2*m.cfg.Layers {
		t.Fatalf("%d adapter tensors, want %d", got, 4*m.cfg.Layers)
	}
	var nonzeroA bool
	for _, v := range l.Params()[:l.infos[0].Size] {
		nonzeroA = nonzeroA || v != 0
	}
	if !nonzeroA {
		t.Fatal("A was not initialized")
	}
}

func TestLoRAMerge(t *testing.T) {
	for _, tc := range []struct {
		cfg     string
		targets []string
	}{
		{"qwen2-gqa-tied", []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}},
		{"gpt2", []string{"c_attn", "c_proj", "c_fc"}},
	} {
		t.Run(tc.cfg, func(t *testing.T) {
			m, l := newLoRAModel(t, tc.cfg, tc.targets...)
			rng := rand.New(rand.NewPCG(9, 9))
			for i := range l.params {
				l.params[i] = float32(rng.NormFloat64()) * 0.2
			}
			b := randomBatch(rng, m.cfg.Vocab, 2, 5)
			want, _ := m.Logits(b)
			if err := m.MergeLoRA(); err != nil {
				t.Fatal(err)
			}
			if m.LoRA() != nil {
				t.Fatal("adapter still attached after merge")
			}
			got, _ := m.Logits(b)
			if e := maxAbsErr(got, want); e > 1e-4 {
				t.Fatalf("merged logits differ by %.3g", e)
			}
		})
	}
}

func TestAdapterRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		cfg     string
		targets []string
	}{
		{"llama-mqa-bias", []string{"q_proj", "down_proj"}},
		{"gpt2", []string{"c_attn", "c_fc"}},
	} {
		t.Run(tc.cfg, func(t *testing.T) {
			m, l := newLoRAModel(t, tc.cfg, tc.targets...)
			rng := rand.New(rand.NewPCG(4, 4))
			for i := range l.params {
				l.params[i] = float32(rng.NormFloat64())
			}
			dir := t.TempDir()
			if err := m.SaveAdapter(dir); err != nil {
				t.Fatal(err)
			}
			var ac map[string]any
			data, _ := os.ReadFile(filepath.Join(dir, AdapterConfigFile))
			if err := json.Unmarshal(data, &ac); err != nil {
				t.Fatal(err)
			}
			if ac["peft_type"] != "LORA" || ac["task_type"] != "CAUSAL_LM" || ac["r"] != 2.0 || ac["lora_alpha"] != 4.0 ||
				ac["fan_in_fan_out"] != (tc.cfg == "gpt2") || ac["base_model_name_or_path"] != "tiny" {
				t.Fatalf("adapter_config.json: %s", data)
			}
			f, err := safetensors.Open(filepath.Join(dir, AdapterWeightsFile))
			if err != nil {
				t.Fatal(err)
			}
			names := f.Names()
			f.Close()
			first := "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
			if tc.cfg == "gpt2" {
				first = "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"
			}
			if !slices.Contains(names, first) {
				t.Fatalf("adapter tensors %v lack %s", names, first)
			}
			m2, err := New(tinyConfigs()[tc.cfg], 21)
			if err != nil {
				t.Fatal(err)
			}
			if err := m2.LoadAdapter(dir); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m2.LoRA().Params(), l.Params()) {
				t.Fatal("adapter weights changed on round trip")
			}
		})
	}
}

func TestLoadAdapterRejects(t *testing.T) {
	m, _ := newLoRAModel(t, "qwen2-gqa-tied", "q_proj", "v_proj")
	good := t.TempDir()
	if err := m.SaveAdapter(good); err != nil {
		t.Fatal(err)
	}
	other, _ := newLoRAModel(t, "llama-mqa-bias", "q_proj", "v_proj") // another base
	otherDir := t.TempDir()
	if err := other.SaveAdapter(otherDir); err != nil {
		t.Fatal(err)
	}
	gpt, _ := newLoRAModel(t, "gpt2", "c_attn")
	gptDir := t.TempDir()
	if err := gpt.SaveAdapter(gptDir); err != nil {
		t.Fatal(err)
	}
	copyDir := func(t *testing.T, src string) string {
		dst := t.TempDir()
		for _, n := range []string{AdapterConfigFile, AdapterWeightsFile} {
			data, _ := os.ReadFile(filepath.Join(src, n))
			os.WriteFile(filepath.Join(dst, n), data, 0o644)
		}
		return dst
	}
	for _, tc := range []struct {
		name  string
		dir   func(t *testing.T) string
		wants []string
	}{
		{"other base, same modules", func(t *testing.T) string { return otherDir }, []string{AdapterWeightsFile, "lora_A.weight", "shape"}},
		{"other architecture", func(t *testing.T) string { return gptDir }, []string{AdapterConfigFile, "c_attn"}},
		{"extra tensor", func(t *testing.T) string {
			d := copyDir(t, good)
			f, _ := safetensors.Open(filepath.Join(good, AdapterWeightsFile))
			var ts []safetensors.Tensor
			for _, n := range f.Names() {
				v, _ := f.Float32(n)
				info, _ := f.Info(n)
				ts = append(ts, safetensors.Tensor{Name: n, DType: tensor.F32, Shape: info.Shape, Data: v})
			}
			f.Close()
			ts = append(ts, safetensors.Tensor{Name: "base_model.model.model.layers.7.mlp.up_proj.lora_A.weight", DType: tensor.F32, Shape: []int{1}, Data: []float32{0}})
			safetensors.Write(filepath.Join(d, AdapterWeightsFile), ts, nil)
			return d
		}, []string{AdapterWeightsFile, "layers.7.mlp.up_proj"}},
		{"missing tensor", func(t *testing.T) string {
			d := copyDir(t, good)
			safetensors.Write(filepath.Join(d, AdapterWeightsFile), nil, nil)
			return d
		}, []string{AdapterWeightsFile, "missing tensor", "lora_A.weight"}},
		{"truncated weights", func(t *testing.T) string {
			d := copyDir(t, good)
			p := filepath.Join(d, AdapterWeightsFile)
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)/2], 0o644)
			return d
		}, []string{AdapterWeightsFile}},
		{"not lora", func(t *testing.T) string {
			d := copyDir(t, good)
			os.WriteFile(filepath.Join(d, AdapterConfigFile), []byte(`{"peft_type":"IA3","r":2,"lora_alpha":4,"target_modules":["q_proj"]}`), 0o644)
			return d
		}, []string{AdapterConfigFile, "IA3"}},
		{"rank bomb", func(t *testing.T) string {
			// A few bytes of JSON asking for a rank-16384 adapter on every
			// projection: refused before anything is allocated.
			d := copyDir(t, good)
			os.WriteFile(filepath.Join(d, AdapterConfigFile), []byte(`{"peft_type":"LORA","r":16384,"lora_alpha":4,"target_modules":["q_proj","k_proj","v_proj","o_proj","gate_proj","up_proj","down_proj"]}`), 0o644)
			return d
		}, []string{AdapterConfigFile, "rank 16384", "more than the base model's"}},
		{"regex targets", func(t *testing.T) string {
			d := copyDir(t, good)
			os.WriteFile(filepath.Join(d, AdapterConfigFile), []byte(`{"peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":".*proj"}`), 0o644)
			return d
		}, []string{AdapterConfigFile, "regular expression"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, err := New(tinyConfigs()["qwen2-gqa-tied"], 21)
			if err != nil {
				t.Fatal(err)
			}
			err = base.LoadAdapter(tc.dir(t))
			if err == nil {
				t.Fatal("LoadAdapter succeeded")
			}
			t.Log(err)
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if base.LoRA() != nil {
				t.Error("a rejected adapter stayed attached")
			}
		})
	}
}

// TestLoRAGroupsMatchModules trains adapters on every projection of the
// tiny models with the adapters of q|k|v and gate|up run as groups (one
// product over their shared input) and module by module: losses, adapter
// gradients and evaluation must agree to float32 rounding, in fp32 and
// bf16 arithmetic, and models with separate q, k and v projections must use the groups.
func TestLoRAGroupsMatchModules(t *testing.T) {
	defer func(g bool) { loraGroups = g }(loraGroups)
	for name, cfg := range tinyConfigs() {
		for _, prec := range []kernel.Precision{kernel.FP32, kernel.BF16} {
			t.Run(name+"/"+prec.String(), func(t *testing.T) {
				run := func(groups bool) (float64, float64, []float32, int, int) {
					loraGroups = groups
					m, err := New(cfg, 3)
					if err != nil {
						t.Fatal(err)
					}
					m.SetPrecision(prec)
					l, err := m.AddLoRA(LoRAConfig{Rank: 3, Alpha: 6, TargetModules: DefaultLoRATargets(cfg), Seed: 5})
					if err != nil {
						t.Fatal(err)
					}
					rng := rand.New(rand.NewPCG(25, 26))
					for i := range l.params {
						l.params[i] += float32(rng.NormFloat64()) * 0.1
					}
					b := randomBatch(rng, cfg.Vocab, 3, 7)
					loss, err := m.ForwardBackward(b, 0)
					if err != nil {
						t.Fatal(err)
					}
					ev, err := m.Evaluate(b, nil, nil)
					if err != nil {
						t.Fatal(err)
					}
					return loss.Sum, ev.Sum, append([]float32(nil), l.grads...), m.loraGroupWidth(), loraAdapted(m.blocks[0].qkv)
				}
				l0, e0, g0, _, _ := run(false)
				l1, e1, g1, width, sep := run(true)
				if (sep >= 2) != (width > 0) {
					t.Fatalf("group width %d with %d adapted q/k/v projections", width, sep)
				}
				tol := 1e-5
				if prec == kernel.BF16 {
					tol = 1e-2 // bf16 products summed in another order
				}
				if math.Abs(l1-l0) > tol*math.Abs(l0) || math.Abs(e1-e0) > tol*math.Abs(e0) {
					t.Errorf("loss %v / eval %v grouped, %v / %v by module", l1, e1, l0, e0)
				}
				if d := relDiff(g1, g0); d > tol || math.IsNaN(d) {
					t.Errorf("adapter gradients differ by %.3g between grouped and by module", d)
				}
			})
		}
	}
}
