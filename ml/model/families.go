package model

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// The architectures crucible loads, as config.json names them, and how each
// one's configuration maps onto Config. Every key a family's configs carry is
// classified in configkeys.go: honoured here, refused unless it has the value
// crucible computes with, or known not to change the computation.

// archSpec is one supported architecture.
type archSpec struct {
	modelTypes []string // the model_type values it is published with
	keys       map[string]keyRule
	parse      func(c *Config, r *rawConfig) error
}

// architectures maps each supported "architectures" entry to its parser.
var architectures = map[string]*archSpec{
	"LlamaForCausalLM":    {modelTypes: []string{"llama"}, keys: llamaKeys, parse: parseLlama},
	"MistralForCausalLM":  {modelTypes: []string{"mistral"}, keys: mistralKeys, parse: parseMistral},
	"MixtralForCausalLM":  {modelTypes: []string{"mixtral"}, keys: mixtralKeys, parse: parseMixtral},
	"Qwen2ForCausalLM":    {modelTypes: []string{"qwen2"}, keys: qwen2Keys, parse: parseQwen2},
	"Qwen3ForCausalLM":    {modelTypes: []string{"qwen3"}, keys: qwen3Keys, parse: parseQwen3},
	"Qwen3MoeForCausalLM": {modelTypes: []string{"qwen3_moe"}, keys: qwen3MoeKeys, parse: parseQwen3Moe},
	"Gemma2ForCausalLM":   {modelTypes: []string{"gemma2"}, keys: gemma2Keys, parse: parseGemma2},
	"Gemma3ForCausalLM":   {modelTypes: []string{"gemma3_text"}, keys: gemma3Keys, parse: parseGemma3},
	"Phi3ForCausalLM":     {modelTypes: []string{"phi3"}, keys: phi3Keys, parse: parsePhi3},
	"SmolLM3ForCausalLM":  {modelTypes: []string{"smollm3"}, keys: smollm3Keys, parse: parseSmolLM3},
	"GPT2LMHeadModel":     {modelTypes: []string{"gpt2"}, keys: gpt2Keys, parse: parseGPT2},
}

// SupportedArchitectures lists the architectures crucible loads, sorted.
func SupportedArchitectures() []string {
	out := make([]string, 0, len(architectures))
	for a := range architectures {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// unsupportedArchitecture explains a refused architecture, with a pointer
// for the well-known ones that have a supported sibling.
func unsupportedArchitecture(arch string) error {
	hint := ""
	switch arch {
	case "Gemma3ForConditionalGeneration":
		hint = "; this is the multimodal Gemma 3 checkpoint (its text tower is nested under text_config): the text-only Gemma3ForCausalLM (gemma-3-1b, or a text tower saved on its own) is supported"
	case "Qwen2MoeForCausalLM", "OlmoeForCausalLM":
		hint = "; of the mixture-of-experts families, Qwen3MoeForCausalLM and MixtralForCausalLM are supported"
	case "GemmaForCausalLM":
		hint = "; Gemma 2 and Gemma 3 (Gemma2ForCausalLM, Gemma3ForCausalLM) are supported"
	case "PhiForCausalLM":
		hint = "; Phi-3 and Phi-4-mini (Phi3ForCausalLM) are supported"
	}
	return fmt.Errorf("unsupported architecture %q%s (supported: %s)", arch, hint, strings.Join(SupportedArchitectures(), ", "))
}

// decoderOpts are the per-family defaults of the shared Llama-family fields.
type decoderOpts struct {
	ropeTheta float64 // default rope_theta
	eps       float64 // default rms_norm_eps
	tie       bool    // default tie_word_embeddings
	maxPos    int     // default max_position_embeddings
	actKeys   []string
	acts      []string // accepted activations; the first is the default
}

// parseDecoder reads the fields every Llama-family config shares.
func (c *Config) parseDecoder(r *rawConfig, o decoderOpts) error {
	c.Family = Llama
	c.Hidden = r.intReq("hidden_size")
	c.Intermediate = r.intReq("intermediate_size")
	c.Layers = r.intReq("num_hidden_layers")
	c.Heads = r.intReq("num_attention_heads")
	c.KVHeads = r.intOr("num_key_value_heads", c.Heads)
	c.HeadDim = c.Hidden / max(c.Heads, 1)
	if r.has("head_dim") { // every family's attention reads it when present
		c.HeadDim = r.intReq("head_dim")
	}
	c.Vocab = r.intReq("vocab_size")
	c.MaxPositions = r.intOr("max_position_embeddings", o.maxPos)
	c.NormEps = r.floatOr("rms_norm_eps", o.eps)
	c.TieEmbeddings = r.boolOr("tie_word_embeddings", o.tie)
	act := o.acts[0]
	for _, k := range o.actKeys {
		if r.has(k) {
			act = r.strOr(k, act)
			break
		}
	}
	if !slices.Contains(o.acts, act) {
		return fmt.Errorf("activation %q is not supported (supported: %s)", act, strings.Join(o.acts, ", "))
	}
	c.GeGLU = act != "silu"
	if r.err != nil {
		return r.err
	}
	return c.parseRope(r, o.ropeTheta)
}

// parseRope reads rope_theta and rope_scaling, or transformers' newer
// rope_parameters (one set, or one per layer type).
func (c *Config) parseRope(r *rawConfig, defTheta float64) error {
	c.RopeTheta = r.floatOr("rope_theta", defTheta)
	block, key := r.m["rope_scaling"], "rope_scaling"
	if p, ok := r.m["rope_parameters"].(map[string]any); ok {
		key = "rope_parameters"
		if full, ok := p["full_attention"].(map[string]any); ok {
			block = full
			if local, ok := p["sliding_attention"].(map[string]any); ok {
				lr := &rawConfig{m: local}
				if t := lr.strOr("rope_type", "default"); t != "default" {
					return fmt.Errorf("rope_parameters.sliding_attention.rope_type %q is not supported (supported: default)", t)
				}
				c.LocalRopeTheta = lr.floatOr("rope_theta", 10000)
				if lr.err != nil {
					return fmt.Errorf("rope_parameters.sliding_attention: %w", lr.err)
				}
			}
		} else {
			block = p
		}
	} else if r.has("rope_parameters") {
		return errors.New(`field "rope_parameters": want an object`)
	}
	if block == nil {
		return nil
	}
	sc, ok := block.(map[string]any)
	if !ok {
		return fmt.Errorf("field %q: want an object or null", key)
	}
	rs := &rawConfig{m: sc}
	if rs.has("rope_theta") {
		c.RopeTheta = rs.floatOr("rope_theta", c.RopeTheta)
	}
	if rs.has("partial_rotary_factor") {
		if err := c.setPartialRotary(rs.floatOr("partial_rotary_factor", 1)); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	kind := rs.strOr("rope_type", rs.strOr("type", "default"))
	s := &RopeScaling{Type: kind, Factor: rs.floatOr("factor", 0),
		OriginalMaxPos:  rs.intOr("original_max_position_embeddings", r.intOr("original_max_position_embeddings", 0)),
		AttentionFactor: rs.floatOr("attention_factor", 0)}
	switch kind {
	case "default", "":
		s = nil
	case "linear":
	case "llama3":
		s.LowFreqFactor, s.HighFreqFactor = rs.floatOr("low_freq_factor", 1), rs.floatOr("high_freq_factor", 4)
		if s.OriginalMaxPos == 0 {
			s.OriginalMaxPos = 8192
		}
	case "longrope", "su":
		s.Type = "longrope"
		s.ShortFactor, s.LongFactor = rs.floats("short_factor"), rs.floats("long_factor")
		if s.OriginalMaxPos == 0 {
			s.OriginalMaxPos = c.MaxPositions
		}
		if s.Factor == 0 {
			s.Factor = float64(c.MaxPositions) / float64(s.OriginalMaxPos)
		}
	case "yarn":
		s.BetaFast, s.BetaSlow = rs.floatOr("beta_fast", 32), rs.floatOr("beta_slow", 1)
		s.Mscale, s.MscaleAllDim = rs.floatOr("mscale", 0), rs.floatOr("mscale_all_dim", 0)
		s.NoTruncate = !rs.boolOr("truncate", true)
		if s.OriginalMaxPos == 0 {
			s.OriginalMaxPos = c.MaxPositions
		}
	default:
		return fmt.Errorf("%s type %q is not supported (supported: default, linear, llama3, longrope, yarn)", key, kind)
	}
	if rs.err != nil {
		return fmt.Errorf("%s: %w", key, rs.err)
	}
	c.RopeScaling = s
	return nil
}

// setPartialRotary sets the rotated dimensions from partial_rotary_factor
// as transformers does: int(head_dim·factor).
func (c *Config) setPartialRotary(f float64) error {
	if !(f > 0 && f <= 1) {
		return fmt.Errorf("partial_rotary_factor %g must be in (0, 1]", f)
	}
	c.RotaryDim = int(float64(c.HeadDim) * f)
	if c.RotaryDim == c.HeadDim {
		c.RotaryDim = 0
	}
	if c.RotaryDim%2 != 0 || c.RotaryDim < 0 || (f < 1 && c.RotaryDim == 0) {
		return fmt.Errorf("partial_rotary_factor %g of head_dim %d gives %d rotated dimensions; want a positive even number", f, c.HeadDim, c.RotaryDim)
	}
	return nil
}

// layerTypes reads layer_types ("full_attention" or "sliding_attention"
// per layer) into SlidingLayers; it reports whether the key was present.
func (c *Config) layerTypes(r *rawConfig) (bool, error) {
	if !r.has("layer_types") {
		return false, nil
	}
	types := r.strs("layer_types")
	if r.err != nil {
		return true, r.err
	}
	if len(types) != c.Layers {
		return true, fmt.Errorf("layer_types has %d entries for %d layers", len(types), c.Layers)
	}
	c.SlidingLayers = make([]bool, c.Layers)
	for i, t := range types {
		switch t {
		case "full_attention":
		case "sliding_attention":
			c.SlidingLayers[i] = true
		default:
			return true, fmt.Errorf("layer_types[%d] %q is not supported (supported: full_attention, sliding_attention)", i, t)
		}
	}
	return true, nil
}

// windowFrom reads sliding_window (an integer or null).
func windowFrom(r *rawConfig) int {
	return r.intOr("sliding_window", 0)
}

// qwenWindow applies Qwen2/Qwen3's rule: with use_sliding_window, the
// layers from max_window_layers on use sliding_window.
func (c *Config) qwenWindow(r *rawConfig) error {
	if !r.boolOr("use_sliding_window", false) {
		if ok, err := c.layerTypes(r); ok && err == nil && slices.Contains(c.SlidingLayers, true) {
			return errors.New("layer_types has sliding layers but use_sliding_window is false")
		}
		c.SlidingLayers = nil
		return nil
	}
	c.SlidingWindow = windowFrom(r)
	if c.SlidingWindow <= 0 {
		return errors.New("use_sliding_window is true but sliding_window is not a positive integer")
	}
	if ok, err := c.layerTypes(r); ok {
		return err
	}
	first := r.intOr("max_window_layers", c.Layers)
	c.SlidingLayers = make([]bool, c.Layers)
	for i := range c.SlidingLayers {
		c.SlidingLayers[i] = i >= first
	}
	return nil
}

var siluOnly = decoderOpts{actKeys: []string{"hidden_act"}, acts: []string{"silu"}}

func parseLlama(c *Config, r *rawConfig) error {
	o := siluOnly
	o.ropeTheta, o.eps, o.maxPos = 10000, 1e-6, 2048
	if err := c.parseDecoder(r, o); err != nil {
		return err
	}
	c.QKVBias = r.boolOr("attention_bias", false)
	c.OBias = c.QKVBias
	c.MLPBias = r.boolOr("mlp_bias", false)
	return nil
}

func parseMistral(c *Config, r *rawConfig) error {
	o := siluOnly
	o.ropeTheta, o.eps, o.maxPos = 10000, 1e-6, 4096*32
	if err := c.parseDecoder(r, o); err != nil {
		return err
	}
	c.SlidingWindow = windowFrom(r)
	if _, err := c.layerTypes(r); err != nil {
		return err
	}
	return nil
}

func parseMixtral(c *Config, r *rawConfig) error {
	if err := parseMistral(c, r); err != nil {
		return err
	}
	c.MoE = &MoEConfig{Experts: r.intOr("num_local_experts", 8), TopK: r.intOr("num_experts_per_tok", 2),
		Intermediate: c.Intermediate, NormTopK: true,
		AuxLoss: r.boolOr("output_router_logits", false), AuxLossCoef: r.floatOr("router_aux_loss_coef", 0.001)}
	return r.err
}

func parseQwen2(c *Config, r *rawConfig) error {
	o := siluOnly
	o.ropeTheta, o.eps, o.maxPos = 10000, 1e-6, 32768
	if err := c.parseDecoder(r, o); err != nil {
		return err
	}
	c.QKVBias = true
	return c.qwenWindow(r)
}

func parseQwen3(c *Config, r *rawConfig) error {
	o := siluOnly
	o.ropeTheta, o.eps, o.maxPos = 10000, 1e-6, 32768
	if err := c.parseDecoder(r, o); err != nil {
		return err
	}
	c.QKNorm = true
	c.QKVBias = r.boolOr("attention_bias", false)
	c.OBias = c.QKVBias
	return c.qwenWindow(r)
}

func parseQwen3Moe(c *Config, r *rawConfig) error {
	if err := parseQwen3(c, r); err != nil {
		return err
	}
	e := &MoEConfig{Experts: r.intOr("num_experts", 128), TopK: r.intOr("num_experts_per_tok", 8),
		Intermediate: r.intOr("moe_intermediate_size", 768), NormTopK: r.boolOr("norm_topk_prob", false),
		AuxLoss: r.boolOr("output_router_logits", false), AuxLossCoef: r.floatOr("router_aux_loss_coef", 0.001)}
	step := r.intOr("decoder_sparse_step", 1)
	dense := r.ints("mlp_only_layers")
	if r.err != nil {
		return r.err
	}
	if step <= 0 {
		return fmt.Errorf("decoder_sparse_step %d must be positive", step)
	}
	if step != 1 || len(dense) > 0 {
		e.DenseLayers = make([]bool, c.Layers)
		for i := range e.DenseLayers {
			e.DenseLayers[i] = (i+1)%step != 0
		}
		for _, l := range dense {
			if l < 0 || l >= c.Layers {
				return fmt.Errorf("mlp_only_layers: layer %d does not exist (%d layers)", l, c.Layers)
			}
			e.DenseLayers[l] = true
		}
	}
	if e.Experts == 0 {
		return nil // num_experts 0: every layer dense
	}
	c.MoE = e
	return nil
}

// gemmaOpts are Gemma 2/3's shared defaults.
var gemmaOpts = decoderOpts{ropeTheta: 10000, eps: 1e-6, tie: true, maxPos: 8192,
	actKeys: []string{"hidden_activation", "hidden_act"}, acts: []string{"gelu_pytorch_tanh", "gelu_new"}}

// parseGemma reads what Gemma 2 and 3 share: (1+w) norms, four norms per
// layer, GeGLU, √hidden embedding scale, query_pre_attn_scalar, tied head.
func (c *Config) parseGemma(r *rawConfig) error {
	if err := c.parseDecoder(r, gemmaOpts); err != nil {
		return err
	}
	c.NormPlusOne, c.PostNorms = true, true
	c.EmbedScale = float64(float32(math.Sqrt(float64(c.Hidden))))
	c.QueryScale = 1 / math.Sqrt(r.floatOr("query_pre_attn_scalar", 256))
	c.AttnSoftcap = r.floatOr("attn_logit_softcapping", 0)
	c.FinalSoftcap = r.floatOr("final_logit_softcapping", 0)
	c.QKVBias = r.boolOr("attention_bias", false)
	c.OBias = c.QKVBias
	c.SlidingWindow = r.intOr("sliding_window", 4096)
	return r.err
}

func parseGemma2(c *Config, r *rawConfig) error {
	if err := c.parseGemma(r); err != nil {
		return err
	}
	if ok, err := c.layerTypes(r); ok {
		return err
	}
	c.SlidingLayers = make([]bool, c.Layers)
	for i := range c.SlidingLayers {
		c.SlidingLayers[i] = i%2 == 0
	}
	return nil
}

func parseGemma3(c *Config, r *rawConfig) error {
	if err := c.parseGemma(r); err != nil {
		return err
	}
	if r.boolOr("use_bidirectional_attention", false) {
		return errors.New("use_bidirectional_attention true (an embedding model) is not supported: crucible trains causal language models")
	}
	c.QKNorm = true
	if c.LocalRopeTheta == 0 {
		c.LocalRopeTheta = r.floatOr("rope_local_base_freq", 10000)
	}
	if ok, err := c.layerTypes(r); ok {
		return err
	}
	pattern := r.intOr("sliding_window_pattern", r.intOr("_sliding_window_pattern", 6))
	if pattern <= 0 {
		return fmt.Errorf("sliding_window_pattern %d must be positive", pattern)
	}
	c.SlidingLayers = make([]bool, c.Layers)
	for i := range c.SlidingLayers {
		c.SlidingLayers[i] = (i+1)%pattern != 0
	}
	return r.err
}

func parsePhi3(c *Config, r *rawConfig) error {
	o := siluOnly
	o.ropeTheta, o.eps, o.maxPos = 10000, 1e-5, 4096
	if err := c.parseDecoder(r, o); err != nil {
		return err
	}
	c.FusedProjections = true
	if r.has("partial_rotary_factor") {
		if err := c.setPartialRotary(r.floatOr("partial_rotary_factor", 1)); err != nil {
			return err
		}
	}
	c.SlidingWindow = windowFrom(r)
	return r.err
}

func parseSmolLM3(c *Config, r *rawConfig) error {
	o := siluOnly
	o.ropeTheta, o.eps, o.maxPos, o.tie = 2000000, 1e-6, 32768, true
	if err := c.parseDecoder(r, o); err != nil {
		return err
	}
	c.QKVBias = r.boolOr("attention_bias", false)
	c.OBias = c.QKVBias
	c.MLPBias = r.boolOr("mlp_bias", false)
	useRope := r.ints("no_rope_layers")
	if r.err != nil {
		return r.err
	}
	if useRope == nil {
		interval := r.intOr("no_rope_layer_interval", 4)
		if interval <= 0 {
			return fmt.Errorf("no_rope_layer_interval %d must be positive", interval)
		}
		for i := 0; i < c.Layers; i++ {
			v := 1
			if (i+1)%interval == 0 {
				v = 0
			}
			useRope = append(useRope, v)
		}
	}
	if len(useRope) < c.Layers {
		return fmt.Errorf("no_rope_layers has %d entries for %d layers", len(useRope), c.Layers)
	}
	c.NoRope = make([]bool, c.Layers)
	for i := range c.NoRope {
		c.NoRope[i] = useRope[i] == 0
	}
	if !r.boolOr("use_sliding_window", false) {
		return nil
	}
	c.SlidingWindow = windowFrom(r)
	if ok, err := c.layerTypes(r); ok {
		return err
	}
	if c.SlidingWindow > 0 {
		c.SlidingLayers = make([]bool, c.Layers)
		for i := range c.SlidingLayers {
			c.SlidingLayers[i] = c.NoRope[i]
		}
	}
	return nil
}

func parseGPT2(c *Config, r *rawConfig) error {
	c.Family = GPT2
	c.Hidden = r.intReq("n_embd")
	c.Layers = r.intReq("n_layer")
	c.Heads = r.intReq("n_head")
	c.KVHeads = c.Heads
	c.HeadDim = c.Hidden / max(c.Heads, 1)
	c.Intermediate = 4 * c.Hidden
	if r.has("n_inner") {
		c.Intermediate = r.intReq("n_inner")
	}
	c.Vocab = r.intReq("vocab_size")
	c.MaxPositions = r.intOr("n_positions", 1024)
	c.NormEps = r.floatOr("layer_norm_epsilon", 1e-5)
	c.TieEmbeddings = r.boolOr("tie_word_embeddings", true)
	c.QKVBias, c.OBias, c.MLPBias = true, true, true
	if act := r.strOr("activation_function", "gelu_new"); act != "gelu_new" && act != "gelu_pytorch_tanh" {
		return fmt.Errorf("activation_function %q is not supported (supported: gelu_new, gelu_pytorch_tanh)", act)
	}
	if !c.TieEmbeddings {
		return errors.New("tie_word_embeddings false is not supported (GPT-2's LM head is the token embedding)")
	}
	return r.err
}
