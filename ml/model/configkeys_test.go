package model

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// conditional lists honoured keys that change nothing in a reference config
// because another key switches them off (as in transformers).
var conditional = map[string]string{
	"Qwen2ForCausalLM.max_window_layers":               "only with use_sliding_window",
	"Qwen2ForCausalLM.sliding_window":                  "only with use_sliding_window",
	"Qwen3ForCausalLM.max_window_layers":               "only with use_sliding_window",
	"Qwen3ForCausalLM.sliding_window":                  "only with use_sliding_window",
	"Qwen3MoeForCausalLM.max_window_layers":            "only with use_sliding_window",
	"Qwen3MoeForCausalLM.sliding_window":               "only with use_sliding_window",
	"SmolLM3ForCausalLM.max_window_layers":             "only with use_sliding_window",
	"SmolLM3ForCausalLM.sliding_window":                "only with use_sliding_window",
	"SmolLM3ForCausalLM.layer_types":                   "only with use_sliding_window",
	"SmolLM3ForCausalLM.no_rope_layer_interval":        "only without no_rope_layers",
	"Phi3ForCausalLM.original_max_position_embeddings": "only with rope_scaling",
	"Gemma2ForCausalLM.hidden_act":                     "hidden_activation takes precedence",
}

// mutate returns a different value of the same JSON shape: booleans
// flipped, numbers moved, strings and lists changed in their first element,
// objects in their first key, null made a number.
func mutate(v any) any {
	switch x := v.(type) {
	case nil:
		return 7.0
	case bool:
		return !x
	case float64:
		if x == math.Trunc(x) {
			return x + 1
		}
		return x*1.5 + 0.25
	case string:
		return x + "x"
	case []any:
		if len(x) == 0 {
			return []any{0.0}
		}
		out := slices.Clone(x)
		switch f := x[0].(type) {
		case float64:
			if f == 0 {
				out[0] = 1.0
			} else {
				out[0] = 0.0
			}
		case string:
			switch f {
			case "full_attention":
				out[0] = "sliding_attention"
			case "sliding_attention":
				out[0] = "full_attention"
			default:
				out[0] = f + "x"
			}
		default:
			out[0] = mutate(f)
		}
		return out
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := map[string]any{}
		for k, e := range x {
			out[k] = e
		}
		if len(keys) == 0 {
			out["x"] = 1.0
			return out
		}
		out[keys[0]] = mutate(x[keys[0]])
		return out
	}
	panic("unexpected JSON value")
}

// TestReferenceConfigKeys walks every key of every reference config: each
// is known; changing an honoured key changes the parsed config or is
// refused with an error naming it; changing an inert key changes nothing;
// a dropout key turns into a note; a refused key with another value is an
// error naming the key.
func TestReferenceConfigKeys(t *testing.T) {
	names := ReferenceConfigs()
	if len(names) < 14 {
		t.Fatalf("%d reference configs, want one per family", len(names))
	}
	archs := map[string]bool{}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			data, err := ReferenceConfigJSON(name)
			if err != nil {
				t.Fatal(err)
			}
			base, err := ParseConfig(data)
			if err != nil {
				t.Fatal(err)
			}
			if u := base.UnknownKeys(); len(u) > 0 {
				t.Errorf("unknown keys %v", u)
			}
			archs[base.Architecture] = true
			var raw map[string]any
			if err := json.Unmarshal(data, &raw); err != nil {
				t.Fatal(err)
			}
			for key, v := range raw {
				class := KeyClass(base.Architecture, key)
				changed := map[string]any{}
				for k, e := range raw {
					changed[k] = e
				}
				changed[key] = mutate(v)
				b, _ := json.Marshal(changed)
				c, err := ParseConfig(b)
				switch class {
				case "unknown":
					t.Errorf("%s: not classified", key)
				case "honoured":
					if err == nil && reflect.DeepEqual(mathOf(c), mathOf(base)) && conditional[base.Architecture+"."+key] == "" {
						t.Errorf("%s: %v → %v changes nothing, yet the key is honoured", key, v, changed[key])
					}
				case "inert", "dropout":
					if err != nil {
						t.Errorf("%s: %v → %v: %v", key, v, changed[key], err)
						continue
					}
					if !reflect.DeepEqual(mathOf(c), mathOf(base)) {
						t.Errorf("%s: %v → %v changes the model, yet the key is %s", key, v, changed[key], class)
					}
					if class == "dropout" && !strings.Contains(strings.Join(c.Notes(), "\n"), key) {
						t.Errorf("%s: a non-zero dropout gives no note: %v", key, c.Notes())
					}
				case "refused":
					if err == nil || !strings.Contains(err.Error(), key) {
						t.Errorf("%s: %v → %v: want an error naming the key, got %v", key, v, changed[key], err)
					}
				}
			}
		})
	}
	for _, a := range SupportedArchitectures() {
		if !archs[a] {
			t.Errorf("no reference config of %s", a)
		}
	}
}

// TestConfigRefusals checks errors that name the family, the key and what
// is supported.
func TestConfigRefusals(t *testing.T) {
	for _, tc := range []struct {
		ref, key string
		value    any
		want     []string
	}{
		{"Qwen3-0.6B", "quantization_config", map[string]any{"bits": 4.0}, []string{"Qwen3ForCausalLM", "quantization_config", "not supported"}},
		{"Mixtral-8x7B-v0.1", "router_jitter_noise", 0.01, []string{"MixtralForCausalLM", "router_jitter_noise", "0 (no router noise"}},
		{"SmolLM2-360M", "rope_interleaved", true, []string{"LlamaForCausalLM", "rope_interleaved"}},
		{"Phi-4-mini-instruct", "lm_head_bias", true, []string{"Phi3ForCausalLM", "lm_head_bias"}},
		{"gpt2", "scale_attn_weights", false, []string{"GPT2LMHeadModel", "scale_attn_weights"}},
		{"gemma-3-1b", "use_bidirectional_attention", true, []string{"Gemma3ForCausalLM", "use_bidirectional_attention"}},
		{"gemma-2-2b", "hidden_activation", "gelu", []string{"Gemma2ForCausalLM", "gelu", "supported: gelu_pytorch_tanh"}},
		{"Llama-3.2-1B", "rope_scaling", map[string]any{"rope_type": "dynamic", "factor": 2.0}, []string{"LlamaForCausalLM", "dynamic", "supported:"}},
		{"gemma-3-1b", "layer_types", []any{"chunked_attention"}, []string{"Gemma3ForCausalLM", "layer_types"}},
		{"Qwen2.5-0.5B", "architectures", []any{"OlmoeForCausalLM"}, []string{"OlmoeForCausalLM", "Qwen3MoeForCausalLM", "supported:"}},
		{"Qwen2.5-0.5B", "architectures", []any{"Gemma3ForConditionalGeneration"}, []string{"multimodal", "Gemma3ForCausalLM"}},
	} {
		data, _ := ReferenceConfigJSON(tc.ref)
		var raw map[string]any
		json.Unmarshal(data, &raw)
		raw[tc.key] = tc.value
		b, _ := json.Marshal(raw)
		_, err := ParseConfig(b)
		if err == nil {
			t.Errorf("%s with %s = %v: accepted", tc.ref, tc.key, tc.value)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s with %s = %v: error %q lacks %q", tc.ref, tc.key, tc.value, err, w)
			}
		}
	}
	// A key nobody knows is not ignored silently: Notes names it.
	data, _ := ReferenceConfigJSON("Qwen3-0.6B")
	var raw map[string]any
	json.Unmarshal(data, &raw)
	raw["fancy_new_attention"] = true
	b, _ := json.Marshal(raw)
	c, err := ParseConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Join(c.Notes(), "\n"); !strings.Contains(n, "fancy_new_attention") {
		t.Errorf("notes %q do not name the unknown key", n)
	}
}

// TestReferenceShapes checks the parsed shapes of the reference configs
// against their published parameter counts.
func TestReferenceShapes(t *testing.T) {
	for name, want := range map[string]float64{
		"Qwen2.5-0.5B": 0.494e9, "Qwen3-0.6B": 0.596e9, "gemma-3-1b": 0.9999e9, "SmolLM2-360M": 0.362e9,
		"Llama-3.2-1B": 1.236e9, "Phi-4-mini-instruct": 3.836e9, "Qwen3-30B-A3B": 30.53e9, "gemma-2-2b": 2.614e9,
	} {
		c, err := ReferenceConfig(name)
		if err != nil {
			t.Fatal(err)
		}
		got := float64(newLayout(&c).size)
		if math.Abs(got-want)/want > 0.01 {
			t.Errorf("%s: %.4g parameters, published %.4g", name, got, want)
		}
	}
}
