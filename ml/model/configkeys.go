package model

import (
	"fmt"
	"maps"
	"sort"
)

// Every key of a supported family's config.json is classified: honoured
// (read by the family's parser and applied), inert (it does not change what
// the model computes: token ids, dtypes, bookkeeping, generation defaults),
// dropout (training regularisation, which crucible does not apply to the
// base model: a note when it is not zero), or refused unless it holds the
// value crucible computes with. Keys outside these tables are listed by
// Config.Notes as unknown.

type keyKind int

const (
	keyHonoured keyKind = iota
	keyInert
	keyDropout
	keyRefused
)

// keyRule classifies one config key.
type keyRule struct {
	kind keyKind
	ok   func(v any) bool // keyRefused: whether v is the supported value
	want string           // keyRefused: the supported value, for the error
}

var (
	honoured = keyRule{kind: keyHonoured}
	inert    = keyRule{kind: keyInert}
	dropout  = keyRule{kind: keyDropout}
)

// refusedUnless refuses a key whose value is not one of the allowed ones
// (nil stands for JSON null or an absent key).
func refusedUnless(want string, allowed ...any) keyRule {
	return keyRule{kind: keyRefused, want: want, ok: func(v any) bool {
		for _, a := range allowed {
			if v == a {
				return true
			}
		}
		return false
	}}
}

// commonKeys are the keys any transformers config may carry.
var commonKeys = map[string]keyRule{
	"architectures": honoured, "model_type": honoured, "bos_token_id": honoured, "eos_token_id": honoured,
	"vocab_size": honoured, "tie_word_embeddings": honoured,
	"torch_dtype": inert, "dtype": inert, "transformers_version": inert, "use_cache": inert,
	"pad_token_id": inert, "sep_token_id": inert, "decoder_start_token_id": inert,
	"_name_or_path": inert, "name_or_path": inert, "initializer_range": inert, "auto_map": inert,
	"tokenizer_class": inert, "return_dict": inert, "output_attentions": inert, "output_hidden_states": inert,
	"torchscript": inert, "id2label": inert, "label2id": inert, "problem_type": inert, "finetuning_task": inert,
	"prefix": inert, "task_specific_params": inert, "cache_implementation": inert,
	"_attn_implementation": inert, "attn_implementation": inert, "_attn_implementation_autoset": inert,
	"use_bfloat16": inert, "tf_legacy_loss": inert, "pruned_heads": inert, "chunk_size_feed_forward": inert,
	"is_decoder": inert, "tie_encoder_decoder": inert, "cross_attention_hidden_size": inert,
	"max_length": inert, "min_length": inert, "do_sample": inert, "early_stopping": inert, "num_beams": inert,
	"num_beam_groups": inert, "diversity_penalty": inert, "temperature": inert, "top_k": inert, "top_p": inert,
	"typical_p": inert, "repetition_penalty": inert, "length_penalty": inert, "no_repeat_ngram_size": inert,
	"encoder_no_repeat_ngram_size": inert, "bad_words_ids": inert, "num_return_sequences": inert,
	"output_scores": inert, "return_dict_in_generate": inert, "forced_bos_token_id": inert,
	"forced_eos_token_id": inert, "remove_invalid_values": inert, "exponential_decay_length_penalty": inert,
	"suppress_tokens": inert, "begin_suppress_tokens": inert, "unsloth_version": inert, "unsloth_fixed": inert,
	"gradient_checkpointing": inert,
	"quantization_config":    refusedUnless("absent (quantized checkpoints are not supported: load the full-precision weights)", nil),
	"add_cross_attention":    refusedUnless("false (a decoder without cross-attention)", false, nil),
	"is_encoder_decoder":     refusedUnless("false (a decoder-only model)", false, nil),
	"output_router_logits":   inert, // replaced per family where it matters
}

// decoderKeys are the keys of the Llama-family decoders.
var decoderKeys = map[string]keyRule{
	"hidden_size": honoured, "intermediate_size": honoured, "num_hidden_layers": honoured,
	"num_attention_heads": honoured, "num_key_value_heads": honoured, "head_dim": honoured,
	"max_position_embeddings": honoured, "rms_norm_eps": honoured, "rope_theta": honoured,
	"rope_scaling": honoured, "rope_parameters": honoured, "hidden_act": honoured,
	"attention_dropout": dropout,
}

// with returns the union of tables (later ones win).
func with(tables ...map[string]keyRule) map[string]keyRule {
	out := map[string]keyRule{}
	for _, t := range tables {
		maps.Copy(out, t)
	}
	return out
}

var (
	llamaKeys = with(decoderKeys, map[string]keyRule{
		"attention_bias": honoured, "mlp_bias": honoured,
		"pretraining_tp":   inert, // a tensor-parallel split of the same products
		"is_llama_config":  inert,
		"rope_interleaved": refusedUnless("false (rotate-half RoPE, as transformers' Llama)", false, nil),
	})
	mistralKeys = with(decoderKeys, map[string]keyRule{"sliding_window": honoured, "layer_types": honoured})
	mixtralKeys = with(mistralKeys, map[string]keyRule{
		"num_local_experts": honoured, "num_experts_per_tok": honoured, "output_router_logits": honoured,
		"router_aux_loss_coef": honoured,
		"router_jitter_noise":  refusedUnless("0 (no router noise while training)", 0.0, nil),
	})
	qwen2Keys = with(decoderKeys, map[string]keyRule{
		"use_sliding_window": honoured, "sliding_window": honoured, "max_window_layers": honoured, "layer_types": honoured,
	})
	qwen3Keys    = with(qwen2Keys, map[string]keyRule{"attention_bias": honoured})
	qwen3MoeKeys = with(qwen3Keys, map[string]keyRule{
		"decoder_sparse_step": honoured, "moe_intermediate_size": honoured, "num_experts": honoured,
		"num_experts_per_tok": honoured, "norm_topk_prob": honoured, "output_router_logits": honoured,
		"router_aux_loss_coef": honoured, "mlp_only_layers": honoured,
	})
	gemma2Keys = with(decoderKeys, map[string]keyRule{
		"hidden_activation": honoured, "query_pre_attn_scalar": honoured, "attn_logit_softcapping": honoured,
		"final_logit_softcapping": honoured, "sliding_window": honoured, "attention_bias": honoured,
		"layer_types":         honoured,
		"sliding_window_size": inert, // an older spelling transformers does not read
	})
	gemma3Keys = with(gemma2Keys, map[string]keyRule{
		"rope_local_base_freq": honoured, "sliding_window_pattern": honoured, "_sliding_window_pattern": honoured,
		"use_bidirectional_attention": honoured,
	})
	phi3Keys = with(decoderKeys, map[string]keyRule{
		"original_max_position_embeddings": honoured, "partial_rotary_factor": honoured, "sliding_window": honoured,
		"resid_pdrop": dropout, "embd_pdrop": dropout,
		"lm_head_bias": refusedUnless("false (no bias on the LM head)", false, nil),
		// Read by Phi-4's own remote code but not by transformers' Phi3:
		"attention_bias": inert, "mlp_bias": inert, "full_attn_mod": inert, "interpolate_factor": inert,
	})
	smollm3Keys = with(decoderKeys, map[string]keyRule{
		"attention_bias": honoured, "mlp_bias": honoured, "no_rope_layers": honoured, "no_rope_layer_interval": honoured,
		"use_sliding_window": honoured, "sliding_window": honoured, "max_window_layers": honoured, "layer_types": honoured,
		"pretraining_tp": inert, // a tensor-parallel split of the same products
	})
	gpt2Keys = map[string]keyRule{
		"n_embd": honoured, "n_layer": honoured, "n_head": honoured, "n_inner": honoured, "n_positions": honoured,
		"layer_norm_epsilon": honoured, "activation_function": honoured,
		"n_ctx":       inert, // the same as n_positions in every released checkpoint
		"resid_pdrop": dropout, "embd_pdrop": dropout, "attn_pdrop": dropout,
		"scale_attn_weights":              refusedUnless("true (scores scaled by 1/√head_dim)", true, nil),
		"scale_attn_by_inverse_layer_idx": refusedUnless("false", false, nil),
		"reorder_and_upcast_attn":         inert, // float32 attention, which crucible always computes in
		// The sequence-summary head of GPT2DoubleHeadsModel, absent from the LM:
		"summary_type": inert, "summary_use_proj": inert, "summary_activation": inert,
		"summary_proj_to_labels": inert, "summary_first_dropout": inert, "n_special": inert,
	}
)

func init() {
	for _, spec := range architectures {
		spec.keys = with(commonKeys, spec.keys)
	}
}

// checkKeys walks every key of the config: refused keys must hold their
// supported value, dropout keys become notes, unknown keys are recorded.
func (spec *archSpec) checkKeys(c *Config, r *rawConfig) error {
	keys := make([]string, 0, len(r.m))
	for k := range r.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := r.m[k]
		rule, ok := spec.keys[k]
		switch {
		case !ok:
			c.unknown = append(c.unknown, k)
		case rule.kind == keyRefused && !rule.ok(v):
			return fmt.Errorf("config key %q = %s is not supported (supported: %s)", k, jsonValue(v), rule.want)
		case rule.kind == keyDropout && v != nil && v != 0.0:
			c.notes = append(c.notes, fmt.Sprintf("%s %s: crucible trains without dropout on the base model (evaluation and generation are unaffected: dropout is off there in the reference too)", k, jsonValue(v)))
		}
	}
	if mt := c.ModelType; mt != "" {
		ok := false
		for _, t := range spec.modelTypes {
			ok = ok || t == mt
		}
		if !ok {
			return fmt.Errorf("model_type %q does not match the architecture (want %q)", mt, spec.modelTypes[0])
		}
	}
	return nil
}

// KeyClass says how crucible treats a config.json key of an architecture:
// "honoured", "inert", "dropout", "refused" (unless it holds the supported
// value) or "unknown". It serves tests and documentation.
func KeyClass(arch, key string) string {
	spec, ok := architectures[arch]
	if !ok {
		return "unknown"
	}
	rule, ok := spec.keys[key]
	if !ok {
		return "unknown"
	}
	return [...]string{"honoured", "inert", "dropout", "refused"}[rule.kind]
}

// jsonValue renders a decoded JSON value for an error message.
func jsonValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", x)
	default:
		return fmt.Sprintf("%v", x)
	}
}
