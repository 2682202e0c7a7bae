package model

import (
	"encoding/json"
	"math"
	"reflect"
)

// configJSON renders the config as a Hugging Face config.json, keeping the
// fields of the file it was read from and setting torch_dtype to float32.
// The sizes always come from the Config; the family's other keys are
// written when the file it was read from (if any) lacks them, so that a
// config built by hand saves as one transformers and Load read back.
func (c *Config) configJSON() ([]byte, error) {
	out := map[string]any{}
	for k, v := range c.raw {
		out[k] = v
	}
	set := func(k string, v any) {
		if _, ok := out[k]; !ok {
			out[k] = v
		}
	}
	out["architectures"] = []any{c.Architecture}
	out["model_type"] = c.ModelType
	out["torch_dtype"] = "float32"
	out["vocab_size"] = c.Vocab
	out["tie_word_embeddings"] = c.TieEmbeddings
	if c.BOS >= 0 {
		out["bos_token_id"] = c.BOS
	}
	switch len(c.EOS) {
	case 0:
	case 1:
		out["eos_token_id"] = c.EOS[0]
	default:
		out["eos_token_id"] = c.EOS
	}
	if c.Family == GPT2 {
		out["n_embd"], out["n_layer"], out["n_head"] = c.Hidden, c.Layers, c.Heads
		out["n_positions"], out["layer_norm_epsilon"] = c.MaxPositions, c.NormEps
		set("n_ctx", c.MaxPositions)
		if c.Intermediate != 4*c.Hidden {
			out["n_inner"] = c.Intermediate
		} else {
			set("n_inner", nil)
		}
		set("activation_function", "gelu_new")
		return json.MarshalIndent(out, "", "  ") // encoding/json sorts the keys
	}
	out["hidden_size"], out["intermediate_size"] = c.Hidden, c.Intermediate
	out["num_hidden_layers"], out["num_attention_heads"] = c.Layers, c.Heads
	out["num_key_value_heads"], out["head_dim"] = c.KVHeads, c.HeadDim
	out["max_position_embeddings"], out["rms_norm_eps"] = c.MaxPositions, c.NormEps
	if _, ok := out["rope_parameters"]; !ok {
		out["rope_theta"] = c.RopeTheta
		if s := c.RopeScaling; s != nil {
			set("rope_scaling", s.json())
		}
	}
	act := "silu"
	if c.GeGLU {
		act = "gelu_pytorch_tanh"
	}
	switch c.Architecture {
	case "LlamaForCausalLM", "SmolLM3ForCausalLM":
		out["attention_bias"], out["mlp_bias"] = c.QKVBias, c.MLPBias
	case "Qwen3ForCausalLM", "Qwen3MoeForCausalLM":
		set("attention_bias", c.QKVBias)
	case "Gemma2ForCausalLM", "Gemma3ForCausalLM":
		set("hidden_activation", act)
		set("attention_bias", c.QKVBias)
		if c.QueryScale > 0 {
			set("query_pre_attn_scalar", math.Round(1/(c.QueryScale*c.QueryScale)))
		}
		set("attn_logit_softcapping", nullIfZero(c.AttnSoftcap))
		set("final_logit_softcapping", nullIfZero(c.FinalSoftcap))
		if c.LocalRopeTheta > 0 {
			set("rope_local_base_freq", c.LocalRopeTheta)
		}
	case "Phi3ForCausalLM":
		if c.RotaryDim > 0 {
			set("partial_rotary_factor", float64(c.RotaryDim)/float64(c.HeadDim))
		}
		if s := c.RopeScaling; s != nil && s.OriginalMaxPos > 0 {
			set("original_max_position_embeddings", s.OriginalMaxPos)
		}
	}
	if c.GeGLU {
		set("hidden_act", act)
	} else {
		set("hidden_act", "silu")
	}
	c.windowJSON(out, set)
	if e := c.MoE; e != nil {
		switch c.Architecture {
		case "MixtralForCausalLM":
			set("num_local_experts", e.Experts)
		default:
			set("num_experts", e.Experts)
			set("moe_intermediate_size", e.Intermediate)
			set("norm_topk_prob", e.NormTopK)
			if e.DenseLayers != nil {
				var dense []int
				for l, d := range e.DenseLayers {
					if d {
						dense = append(dense, l)
					}
				}
				set("mlp_only_layers", dense)
				set("decoder_sparse_step", 1)
			}
		}
		set("num_experts_per_tok", e.TopK)
		set("output_router_logits", e.AuxLoss)
		set("router_aux_loss_coef", e.AuxLossCoef)
	}
	if c.NoRope != nil {
		use := make([]int, len(c.NoRope))
		for i, no := range c.NoRope {
			if !no {
				use[i] = 1
			}
		}
		set("no_rope_layers", use)
	}
	return json.MarshalIndent(out, "", "  ") // encoding/json sorts the keys
}

// windowJSON writes the sliding window and, when only some layers use it,
// their layer_types.
func (c *Config) windowJSON(out map[string]any, set func(string, any)) {
	if c.SlidingWindow <= 0 {
		return
	}
	set("sliding_window", c.SlidingWindow)
	switch c.Architecture {
	case "Qwen2ForCausalLM", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM", "SmolLM3ForCausalLM":
		set("use_sliding_window", true)
	}
	if c.SlidingLayers != nil {
		types := make([]string, len(c.SlidingLayers))
		for i, s := range c.SlidingLayers {
			types[i] = "full_attention"
			if s {
				types[i] = "sliding_attention"
			}
		}
		set("layer_types", types)
	}
}

func nullIfZero(x float64) any {
	if x == 0 {
		return nil
	}
	return x
}

// json renders the scaling as a rope_scaling block.
func (s *RopeScaling) json() map[string]any {
	out := map[string]any{"rope_type": s.Type}
	if s.Factor != 0 {
		out["factor"] = s.Factor
	}
	if s.OriginalMaxPos > 0 {
		out["original_max_position_embeddings"] = s.OriginalMaxPos
	}
	switch s.Type {
	case "llama3":
		out["low_freq_factor"], out["high_freq_factor"] = s.LowFreqFactor, s.HighFreqFactor
	case "longrope":
		out["short_factor"], out["long_factor"] = s.ShortFactor, s.LongFactor
	case "yarn":
		out["beta_fast"], out["beta_slow"] = s.BetaFast, s.BetaSlow
		if s.Mscale != 0 {
			out["mscale"] = s.Mscale
		}
		if s.MscaleAllDim != 0 {
			out["mscale_all_dim"] = s.MscaleAllDim
		}
		if s.NoTruncate {
			out["truncate"] = false
		}
	}
	if s.AttentionFactor != 0 {
		out["attention_factor"] = s.AttentionFactor
	}
	return out
}

// SameComputation reports whether two configs describe the same network
// (architecture, sizes and every quirk), ignoring token ids and the keys
// that do not change the computation. A fine-tune must keep its base's.
func SameComputation(a, b Config) bool {
	a, b = mathOf(a), mathOf(b)
	a.BOS, b.BOS, a.EOS, b.EOS = 0, 0, nil, nil
	return reflect.DeepEqual(a, b)
}

// mathOf is the config without its bookkeeping: what the model computes.
func mathOf(c Config) Config {
	c.raw, c.notes, c.unknown = nil, nil, nil
	return c
}
