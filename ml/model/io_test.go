package model

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/ml/safetensors"
	"github.com/crucible-net/crucible/ml/tensor"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	for name, cfg := range tinyConfigs() {
		t.Run(name, func(t *testing.T) {
			m, err := New(cfg, 11)
			if err != nil {
				t.Fatal(err)
			}
			scaleParams(m, rand.New(rand.NewPCG(1, 1)))
			dir := t.TempDir()
			if err := m.Save(dir); err != nil {
				t.Fatal(err)
			}
			m2, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.Params(), m2.Params()) {
				t.Fatal("reloaded parameters differ")
			}
			c1, c2 := m.Config(), m2.Config()
			c1.raw, c2.raw = nil, nil
			if !configEqual(c1, c2) {
				t.Fatalf("config changed on round trip:\n%+v\n%+v", c1, c2)
			}
			b := randomBatch(rand.New(rand.NewPCG(2, 2)), cfg.Vocab, 1, 6)
			l1, _ := m.Logits(b)
			l2, _ := m2.Logits(b)
			if !slices.Equal(l1, l2) {
				t.Fatal("reloaded model computes different logits")
			}
			// The config names the architecture and dtype as transformers expects.
			var raw map[string]any
			data, _ := os.ReadFile(filepath.Join(dir, "config.json"))
			if err := json.Unmarshal(data, &raw); err != nil {
				t.Fatal(err)
			}
			if raw["torch_dtype"] != "float32" || raw["architectures"].([]any)[0] != cfg.Architecture {
				t.Fatalf("config.json lacks torch_dtype/architectures: %s", data)
			}
		})
	}
}

func configEqual(a, b Config) bool { return reflect.DeepEqual(a, b) }

func TestLoadSharded(t *testing.T) {
	m, err := New(tinyConfigs()["qwen2-gqa-tied"], 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "model.safetensors"))
	var ts []safetensors.Tensor
	for _, p := range m.ParamInfos() {
		ts = append(ts, safetensors.Tensor{Name: p.Name, DType: tensor.BF16, Shape: p.Shape, Data: m.Param(p.Name)})
	}
	if err := safetensors.WriteDir(dir, ts, map[string]string{"format": "pt"}, 4096); err != nil {
		t.Fatal(err)
	}
	m2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range m.Params() {
		if want := tensor.BF16ToF32(tensor.F32ToBF16(v)); m2.Params()[i] != want {
			t.Fatalf("param %d: %v, want bf16-rounded %v", i, m2.Params()[i], want)
		}
	}
}

// writeModel writes config.json and a model.safetensors holding tensors.
func writeModel(t *testing.T, cfg string, tensors []safetensors.Tensor) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if tensors != nil {
		if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), tensors, nil); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadRejects(t *testing.T) {
	m, err := New(tinyConfigs()["gpt2"], 1)
	if err != nil {
		t.Fatal(err)
	}
	good := t.TempDir()
	if err := m.Save(good); err != nil {
		t.Fatal(err)
	}
	cfgJSON, _ := os.ReadFile(filepath.Join(good, "config.json"))
	tensors := func(edit func([]safetensors.Tensor) []safetensors.Tensor) []safetensors.Tensor {
		var ts []safetensors.Tensor
		for _, p := range m.ParamInfos() {
			ts = append(ts, safetensors.Tensor{Name: p.Name, DType: tensor.F32, Shape: p.Shape, Data: m.Param(p.Name)})
		}
		return edit(ts)
	}
	same := func(ts []safetensors.Tensor) []safetensors.Tensor { return ts }
	for _, tc := range []struct {
		name  string
		dir   func(t *testing.T) string
		wants []string
	}{
		{"unsupported architecture", func(t *testing.T) string {
			return writeModel(t, `{"architectures":["MambaForCausalLM"],"model_type":"mamba"}`, nil)
		}, []string{"config.json", "MambaForCausalLM"}},
		{"missing field", func(t *testing.T) string {
			return writeModel(t, `{"architectures":["LlamaForCausalLM"],"hidden_size":8}`, nil)
		}, []string{"config.json", "intermediate_size"}},
		{"bad field type", func(t *testing.T) string {
			return writeModel(t, strings.Replace(string(cfgJSON), `"n_layer": 2`, `"n_layer": "two"`, 1), tensors(same))
		}, []string{"config.json", "n_layer"}},
		{"missing tensor", func(t *testing.T) string {
			return writeModel(t, string(cfgJSON), tensors(func(ts []safetensors.Tensor) []safetensors.Tensor { return ts[1:] }))
		}, []string{"model.safetensors", "missing tensor", "transformer.wte.weight"}},
		{"extra tensor", func(t *testing.T) string {
			return writeModel(t, string(cfgJSON), tensors(func(ts []safetensors.Tensor) []safetensors.Tensor {
				return append(ts, safetensors.Tensor{Name: "transformer.h.9.mlp.c_fc.weight", DType: tensor.F32, Shape: []int{1}, Data: []float32{1}})
			}))
		}, []string{"model.safetensors", "transformer.h.9.mlp.c_fc.weight", "unexpected"}},
		{"wrong shape", func(t *testing.T) string {
			return writeModel(t, string(cfgJSON), tensors(func(ts []safetensors.Tensor) []safetensors.Tensor {
				ts[2].Shape = []int{ts[2].Shape[0] * 2}
				ts[2].Data = append(ts[2].Data, ts[2].Data...)
				return ts
			}))
		}, []string{"model.safetensors", "transformer.h.0.ln_1.weight", "shape"}},
		{"wrong dtype", func(t *testing.T) string {
			dir := writeModel(t, string(cfgJSON), tensors(same))
			rewriteDType(t, filepath.Join(dir, "model.safetensors"), "transformer.ln_f.bias", "F32", "I32")
			return dir
		}, []string{"model.safetensors", "transformer.ln_f.bias", "I32"}},
		{"truncated file", func(t *testing.T) string {
			dir := writeModel(t, string(cfgJSON), tensors(same))
			p := filepath.Join(dir, "model.safetensors")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)-100], 0o644)
			return dir
		}, []string{"model.safetensors"}},
		{"corrupt header", func(t *testing.T) string {
			dir := writeModel(t, string(cfgJSON), tensors(same))
			p := filepath.Join(dir, "model.safetensors")
			data, _ := os.ReadFile(p)
			copy(data[8:], "garbage")
			os.WriteFile(p, data, 0o644)
			return dir
		}, []string{"model.safetensors"}},
		{"no weights", func(t *testing.T) string { return writeModel(t, string(cfgJSON), nil) }, []string{"model.safetensors"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.dir(t))
			if err == nil {
				t.Fatal("Load succeeded")
			}
			t.Log(err)
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// rewriteDType changes one tensor's dtype in a safetensors header in place
// (same width, so the file stays well formed).
func rewriteDType(t *testing.T, path, name, from, to string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	i := strings.Index(s, `"`+name+`"`)
	j := strings.Index(s[i:], `"`+from+`"`)
	if i < 0 || j < 0 {
		t.Fatalf("tensor %s with dtype %s not found in header", name, from)
	}
	s = s[:i+j] + `"` + to + `"` + s[i+j+len(from)+2:]
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParseConfigFamilies(t *testing.T) {
	for _, tc := range []struct {
		json  string
		check func(c Config) bool
	}{
		{`{"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":100,"tie_word_embeddings":true,"eos_token_id":[5,3]}`,
			func(c Config) bool {
				return c.QKVBias && !c.OBias && c.TieEmbeddings && c.HeadDim == 16 && slices.Equal(c.EOS, []int{3, 5})
			}},
		{`{"architectures":["MistralForCausalLM"],"hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":1,"vocab_size":100,"sliding_window":4096,"head_dim":32}`,
			func(c Config) bool { return c.SlidingWindow == 4096 && c.HeadDim == 32 && !c.QKVBias && c.KVHeads == 1 }},
		{`{"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100,"rope_scaling":{"rope_type":"llama3","factor":32,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":8192},"rope_theta":500000}`,
			func(c Config) bool {
				return c.RopeScaling != nil && c.RopeScaling.Factor == 32 && c.RopeTheta == 500000 && c.KVHeads == 4
			}},
		{`{"architectures":["GPT2LMHeadModel"],"n_embd":64,"n_layer":2,"n_head":4,"vocab_size":100,"n_inner":null}`,
			func(c Config) bool { return c.Family == GPT2 && c.Intermediate == 256 && c.MaxPositions == 1024 }},
	} {
		c, err := ParseConfig([]byte(tc.json))
		if err != nil {
			t.Errorf("%s: %v", tc.json, err)
			continue
		}
		if !tc.check(c) {
			t.Errorf("%s: parsed %+v", tc.json, c)
		}
	}
	for _, bad := range []string{
		`{"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":3,"num_key_value_heads":2,"vocab_size":100}`,
		`{"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100,"rope_scaling":{"rope_type":"dynamic","factor":4}}`,
		`{"architectures":["GPT2LMHeadModel"],"n_embd":64,"n_layer":2,"n_head":4,"vocab_size":100,"activation_function":"relu"}`,
		`{"model_type":"llama"}`,
		`not json`,
		`{"architectures":["LlamaForCausalLM"],"hidden_size":1e12,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100}`,
		`{"architectures":["LlamaForCausalLM"],"hidden_size":1048576,"intermediate_size":4194304,"num_hidden_layers":4000,"num_attention_heads":4,"vocab_size":100}`,
	} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestNewRejectsHugeConfig(t *testing.T) {
	cfg := NewLlamaConfig(1<<20, 1<<22, 4000, 1<<10, 1<<10, 1<<20, 4096)
	if _, err := New(cfg, 1); err == nil || !strings.Contains(err.Error(), "parameters") {
		t.Fatalf("New with ~10¹⁶ parameters: %v", err)
	}
}
