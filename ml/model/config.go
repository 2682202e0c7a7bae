package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Family is the block structure a model uses.
type Family int

const (
	// Llama is the pre-norm RMSNorm/RoPE/gated-MLP decoder with grouped-query
	// attention shared by Llama 2/3, Qwen2/2.5/3 (and Qwen3-MoE), SmolLM2/3,
	// Mistral, Mixtral, Phi-3/Phi-4-mini and Gemma 2/3; the Config's quirk
	// fields say how each one departs from Llama.
	Llama Family = iota
	// GPT2 is the pre-norm LayerNorm decoder with learned positions, GELU
	// (tanh approximation) and fused Conv1D projections.
	GPT2
)

func (f Family) String() string {
	if f == GPT2 {
		return "gpt2"
	}
	return "llama"
}

// RopeScaling is the rope_scaling block of config.json: how the rotary
// frequencies are stretched beyond the pretraining context.
type RopeScaling struct {
	// Type is "llama3" (Llama 3.1's frequency-dependent scaling), "linear"
	// (positions divided by Factor), "longrope" (Phi-3's per-frequency short
	// and long factors) or "yarn".
	Type           string
	Factor         float64
	LowFreqFactor  float64 // llama3
	HighFreqFactor float64 // llama3
	OriginalMaxPos int     // llama3, longrope, yarn: the pretraining context
	// ShortFactor and LongFactor (longrope) divide each inverse frequency;
	// the long ones apply once a pass reaches past OriginalMaxPos.
	ShortFactor, LongFactor []float64
	// AttentionFactor multiplies cos and sin (longrope, yarn); 0 derives it
	// from Factor as transformers does.
	AttentionFactor float64
	// BetaFast, BetaSlow, Mscale, MscaleAllDim and NoTruncate are YaRN's
	// parameters (zero values: 32, 1, unset, unset, truncate).
	BetaFast, BetaSlow   float64
	Mscale, MscaleAllDim float64
	NoTruncate           bool
}

// MoEConfig describes sparse mixture-of-experts MLP layers: a linear router
// over Experts experts, of which each token uses the TopK most probable
// (softmax over all experts, then the top k, renormalized to sum to one
// when NormTopK), each expert a gated MLP of width Intermediate.
type MoEConfig struct {
	Experts      int
	TopK         int
	Intermediate int
	NormTopK     bool
	// DenseLayers marks the layers whose MLP is a dense gated MLP of the
	// config's Intermediate width instead (Qwen3-MoE's mlp_only_layers and
	// decoder_sparse_step); nil means every layer is sparse.
	DenseLayers []bool
	// AuxLossCoef weights the load-balancing loss (transformers'
	// load_balancing_loss_func over every sparse layer's router) added to
	// the training loss when AuxLoss is set (output_router_logits).
	AuxLoss     bool
	AuxLossCoef float64
}

// Config describes a decoder-only transformer in Hugging Face terms. It is
// read from config.json (ReadConfig) or built by hand (NewLlamaConfig,
// NewGPT2Config) for tests and pretraining.
type Config struct {
	Architecture string // e.g. "LlamaForCausalLM"
	ModelType    string // e.g. "llama", "qwen3", "gemma3_text", "gpt2"
	Family       Family

	Hidden       int // hidden_size / n_embd
	Intermediate int // intermediate_size / n_inner (4·hidden by default for GPT-2)
	Layers       int
	Heads        int
	KVHeads      int // equals Heads for GPT-2
	HeadDim      int
	Vocab        int
	MaxPositions int
	NormEps      float64

	RopeTheta   float64
	RopeScaling *RopeScaling // nil: no scaling
	// RotaryDim is the number of dimensions of each head that RoPE rotates
	// (partial_rotary_factor·head_dim, Phi-4-mini); 0 means all of them.
	RotaryDim int
	// LocalRopeTheta, when positive, is the rope base of the sliding-window
	// layers, which then use no scaling (Gemma 3's rope_local_base_freq).
	LocalRopeTheta float64
	// NoRope marks layers that use no rotary embeddings (SmolLM3's
	// no_rope_layers); nil means every layer uses them.
	NoRope []bool

	TieEmbeddings bool
	QKVBias       bool // bias on q/k/v projections (Qwen2, Llama attention_bias)
	OBias         bool // bias on the attention output projection (Llama attention_bias)
	MLPBias       bool // bias on gate/up/down (Llama mlp_bias)

	// SlidingWindow, when positive, limits the attention of the sliding
	// layers to that many most recent positions (the query included).
	SlidingWindow int
	// SlidingLayers marks the layers that use the window; nil means every
	// layer does (when SlidingWindow > 0).
	SlidingLayers []bool

	// The quirks of the families beyond Llama; zero values mean Llama's behaviour.

	// NormPlusOne makes every RMSNorm scale by (1 + weight) (Gemma).
	NormPlusOne bool
	// QKNorm applies an RMSNorm over each query and key head before RoPE
	// (Qwen3, Qwen3-MoE, Gemma 3).
	QKNorm bool
	// PostNorms adds norms on the attention and MLP outputs before they join
	// the residual stream (Gemma 2/3: four norms per layer).
	PostNorms bool
	// GeGLU gates the MLP with GELU (tanh approximation) instead of SiLU (Gemma).
	GeGLU bool
	// EmbedScale multiplies the token embeddings (Gemma: √hidden); 0 means 1.
	EmbedScale float64
	// QueryScale is the attention score scale; 0 means 1/√head_dim (Gemma:
	// query_pre_attn_scalar^(−1/2)).
	QueryScale float64
	// AttnSoftcap and FinalSoftcap, when positive, cap attention scores and
	// output logits with c·tanh(x/c) (Gemma 2).
	AttnSoftcap, FinalSoftcap float64
	// FusedProjections stores q|k|v as one qkv_proj and gate|up as one
	// gate_up_proj tensor (Phi-3).
	FusedProjections bool
	// MoE, when set, makes the MLP a sparse mixture of experts (Qwen3-MoE,
	// Mixtral).
	MoE *MoEConfig

	BOS int   // -1 when unknown
	EOS []int // stop token ids

	// raw keeps config.json as read, so that Save writes back every field
	// crucible does not interpret.
	raw map[string]any
	// notes are the config's settings crucible applies differently from the
	// reference in training (Notes).
	notes []string
	// unknown are keys of config.json that crucible does not know.
	unknown []string
}

// GenerationConfig holds the defaults of generation_config.json.
type GenerationConfig struct {
	BOS          int
	EOS          []int
	DoSample     bool
	Temperature  float64
	TopP         float64
	MaxNewTokens int
}

// QKVDim is the width of the fused q|k|v activation: (Heads+2·KVHeads)·HeadDim.
func (c *Config) QKVDim() int { return (c.Heads + 2*c.KVHeads) * c.HeadDim }

// Sliding reports whether layer l attends through the sliding window.
func (c *Config) Sliding(l int) bool {
	if c.SlidingWindow <= 0 {
		return false
	}
	return c.SlidingLayers == nil || c.SlidingLayers[l]
}

// Window is layer l's sliding window, or 0 for full attention.
func (c *Config) Window(l int) int {
	if c.Sliding(l) {
		return c.SlidingWindow
	}
	return 0
}

// SparseLayer reports whether layer l's MLP is a mixture of experts.
func (c *Config) SparseLayer(l int) bool {
	return c.MoE != nil && (c.MoE.DenseLayers == nil || !c.MoE.DenseLayers[l])
}

// MLPWidth is layer l's MLP width: an expert's width in a sparse layer.
func (c *Config) MLPWidth(l int) int {
	if c.SparseLayer(l) {
		return c.MoE.Intermediate
	}
	return c.Intermediate
}

// Notes lists the settings of config.json that crucible applies differently
// from the reference implementation while training (dropout, which crucible
// does not apply to the base model), and the keys it does not know, each
// assumed not to change the computation. Commands print them so that
// nothing is ignored silently. Evaluation and generation follow the
// reference exactly (dropout is off there too).
func (c *Config) Notes() []string {
	out := append([]string(nil), c.notes...)
	if len(c.unknown) > 0 {
		out = append(out, fmt.Sprintf("config keys crucible does not know (assumed not to change the computation): %s", strings.Join(c.unknown, ", ")))
	}
	return out
}

// UnknownKeys lists the keys of config.json crucible does not know.
func (c *Config) UnknownKeys() []string { return append([]string(nil), c.unknown...) }

// NewLlamaConfig returns a Llama-family config with the given sizes and
// Llama defaults (rope_theta 10000, eps 1e-5, untied, no biases).
func NewLlamaConfig(hidden, intermediate, layers, heads, kvHeads, vocab, maxPos int) Config {
	return Config{
		Architecture: "LlamaForCausalLM", ModelType: "llama", Family: Llama,
		Hidden: hidden, Intermediate: intermediate, Layers: layers, Heads: heads, KVHeads: kvHeads,
		HeadDim: hidden / max(heads, 1), Vocab: vocab, MaxPositions: maxPos, NormEps: 1e-5,
		RopeTheta: 10000, BOS: 1, EOS: []int{2},
	}
}

// NewGPT2Config returns a GPT-2 config with the given sizes (n_inner 4·n_embd).
func NewGPT2Config(embd, layers, heads, vocab, positions int) Config {
	return Config{
		Architecture: "GPT2LMHeadModel", ModelType: "gpt2", Family: GPT2,
		Hidden: embd, Intermediate: 4 * embd, Layers: layers, Heads: heads, KVHeads: heads,
		HeadDim: embd / max(heads, 1), Vocab: vocab, MaxPositions: positions, NormEps: 1e-5,
		TieEmbeddings: true, QKVBias: true, OBias: true, MLPBias: true,
		BOS: vocab - 1, EOS: []int{vocab - 1},
	}
}

// Validate checks that the sizes are positive and consistent.
func (c *Config) Validate() error {
	switch {
	case c.Hidden <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.Vocab <= 0 || c.Intermediate <= 0:
		return fmt.Errorf("hidden size, intermediate size, layers, heads and vocab size must be positive (got %d, %d, %d, %d, %d)",
			c.Hidden, c.Intermediate, c.Layers, c.Heads, c.Vocab)
	case c.KVHeads <= 0 || c.Heads%c.KVHeads != 0:
		return fmt.Errorf("num_key_value_heads %d must divide num_attention_heads %d", c.KVHeads, c.Heads)
	case c.HeadDim <= 0 || c.HeadDim%2 != 0 && c.Family == Llama:
		return fmt.Errorf("head_dim %d must be positive and even", c.HeadDim)
	case c.Family == GPT2 && c.Heads*c.HeadDim != c.Hidden:
		return fmt.Errorf("n_embd %d is not divisible by n_head %d", c.Hidden, c.Heads)
	case c.Hidden > 1<<20 || c.Intermediate > 1<<22 || c.Vocab > 1<<24 || c.Layers > 1<<12 ||
		c.Heads > 1<<12 || c.HeadDim > 1<<16 || c.MaxPositions > 1<<24:
		return fmt.Errorf("sizes are implausibly large (hidden %d, intermediate %d, vocab %d, layers %d, heads %d, head_dim %d, positions %d)",
			c.Hidden, c.Intermediate, c.Vocab, c.Layers, c.Heads, c.HeadDim, c.MaxPositions)
	case c.MaxPositions <= 0:
		return fmt.Errorf("max positions must be positive (got %d)", c.MaxPositions)
	case !(c.NormEps > 0):
		return fmt.Errorf("norm epsilon must be positive (got %g)", c.NormEps)
	case c.Family == Llama && !(c.RopeTheta > 0):
		return fmt.Errorf("rope_theta must be positive (got %g)", c.RopeTheta)
	case c.RotaryDim < 0 || c.RotaryDim > c.HeadDim || c.RotaryDim%2 != 0:
		return fmt.Errorf("rotary dimensions %d must be even and at most head_dim %d", c.RotaryDim, c.HeadDim)
	case c.SlidingWindow < 0:
		return fmt.Errorf("sliding_window %d must not be negative", c.SlidingWindow)
	case c.SlidingLayers != nil && len(c.SlidingLayers) != c.Layers:
		return fmt.Errorf("%d layer types for %d layers", len(c.SlidingLayers), c.Layers)
	case c.NoRope != nil && len(c.NoRope) != c.Layers:
		return fmt.Errorf("%d no_rope_layers entries for %d layers", len(c.NoRope), c.Layers)
	case !finiteNonNeg(c.EmbedScale) || !finiteNonNeg(c.QueryScale) || !finiteNonNeg(c.AttnSoftcap) ||
		!finiteNonNeg(c.FinalSoftcap) || !finiteNonNeg(c.LocalRopeTheta):
		return fmt.Errorf("embedding scale %g, query scale %g, soft caps %g and %g and local rope base %g must be finite and not negative",
			c.EmbedScale, c.QueryScale, c.AttnSoftcap, c.FinalSoftcap, c.LocalRopeTheta)
	}
	if c.Family == GPT2 && (c.NormPlusOne || c.QKNorm || c.PostNorms || c.GeGLU || c.EmbedScale != 0 || c.QueryScale != 0 ||
		c.AttnSoftcap != 0 || c.FinalSoftcap != 0 || c.FusedProjections || c.MoE != nil || c.RotaryDim != 0 || c.SlidingWindow != 0) {
		return errors.New("GPT2LMHeadModel has none of the Llama-family quirks (norm offsets, q/k norms, soft caps, experts, windows)")
	}
	switch {
	case c.Architecture == "LlamaForCausalLM" && c.QKVBias != c.OBias:
		return errors.New("LlamaForCausalLM has one attention_bias for q, k, v and o: QKVBias and OBias must agree")
	case c.Architecture == "Qwen2ForCausalLM" && (!c.QKVBias || c.OBias || c.MLPBias):
		return errors.New("Qwen2ForCausalLM has biases on q, k and v only")
	case c.Architecture == "MistralForCausalLM" && (c.QKVBias || c.OBias || c.MLPBias):
		return errors.New("MistralForCausalLM has no biases")
	case c.Family == GPT2 && (!c.QKVBias || !c.OBias || !c.MLPBias || !c.TieEmbeddings):
		return errors.New("GPT2LMHeadModel has every bias and a tied LM head")
	case c.FusedProjections && (c.QKVBias || c.OBias || c.MLPBias):
		return errors.New("fused qkv_proj and gate_up_proj have no biases")
	}
	if s := c.RopeScaling; s != nil {
		if err := s.validate(c); err != nil {
			return fmt.Errorf("rope_scaling: %w", err)
		}
	}
	if e := c.MoE; e != nil {
		switch {
		case e.Experts <= 0 || e.Experts > 1<<12 || e.TopK <= 0 || e.TopK > e.Experts:
			return fmt.Errorf("mixture of experts: need 0 < num_experts_per_tok (%d) ≤ num_experts (%d) ≤ 4096", e.TopK, e.Experts)
		case e.Intermediate <= 0 || e.Intermediate > 1<<22:
			return fmt.Errorf("mixture of experts: expert width %d must be positive", e.Intermediate)
		case e.DenseLayers != nil && len(e.DenseLayers) != c.Layers:
			return fmt.Errorf("mixture of experts: %d dense-layer flags for %d layers", len(e.DenseLayers), c.Layers)
		case !finiteNonNeg(e.AuxLossCoef):
			return fmt.Errorf("router_aux_loss_coef %g must be finite and not negative", e.AuxLossCoef)
		case c.FusedProjections || c.MLPBias:
			return errors.New("mixture of experts: experts have separate, bias-free projections")
		}
	}
	return nil
}

func finiteNonNeg(x float64) bool { return x >= 0 && !math.IsInf(x, 0) }

// validate checks the fields the scaling type uses.
func (s *RopeScaling) validate(c *Config) error {
	half := c.rotaryDim() / 2
	switch s.Type {
	case "linear":
		if !(s.Factor > 0) {
			return fmt.Errorf("linear: factor %g must be positive", s.Factor)
		}
	case "llama3":
		if !(s.Factor > 0) || !(s.LowFreqFactor > 0) || !(s.HighFreqFactor > s.LowFreqFactor) || s.OriginalMaxPos <= 0 {
			return errors.New("llama3: need factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0")
		}
	case "longrope":
		if len(s.ShortFactor) != half || len(s.LongFactor) != half {
			return fmt.Errorf("longrope: short_factor and long_factor need %d values each (half the rotary dimensions), got %d and %d",
				half, len(s.ShortFactor), len(s.LongFactor))
		}
		for _, f := range append(append([]float64(nil), s.ShortFactor...), s.LongFactor...) {
			if !(f > 0) || math.IsInf(f, 0) {
				return fmt.Errorf("longrope: factor %g must be positive and finite", f)
			}
		}
		if s.OriginalMaxPos <= 0 || !finiteNonNeg(s.AttentionFactor) {
			return errors.New("longrope: need original_max_position_embeddings > 0 and a non-negative attention_factor")
		}
	case "yarn":
		if !(s.Factor > 0) || s.OriginalMaxPos <= 0 || !finiteNonNeg(s.AttentionFactor) || !finiteNonNeg(s.BetaFast) || !finiteNonNeg(s.BetaSlow) {
			return errors.New("yarn: need factor > 0, original_max_position_embeddings > 0 and non-negative attention_factor, beta_fast and beta_slow")
		}
	default:
		return fmt.Errorf("type %q is not supported (supported: linear, llama3, longrope, yarn)", s.Type)
	}
	return nil
}

// rotaryDim is the number of rotated dimensions per head.
func (c *Config) rotaryDim() int {
	if c.RotaryDim > 0 {
		return c.RotaryDim
	}
	return c.HeadDim
}

// ReadConfig reads dir/config.json.
func ReadConfig(dir string) (Config, error) {
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read model config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses the contents of a Hugging Face config.json. Every key
// that changes the computation is either honoured or refused with an error
// naming the architecture, the key and what is supported.
func ParseConfig(data []byte) (Config, error) {
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, fmt.Errorf("parse config: %w", err)
	}
	r := &rawConfig{m: raw}
	var c Config
	c.raw = raw
	c.ModelType, _ = raw["model_type"].(string)
	if archs, ok := raw["architectures"].([]any); ok && len(archs) > 0 {
		c.Architecture, _ = archs[0].(string)
	}
	if c.Architecture == "" {
		return Config{}, fmt.Errorf("no architectures field (model_type %q)", c.ModelType)
	}
	spec, ok := architectures[c.Architecture]
	if !ok {
		return Config{}, unsupportedArchitecture(c.Architecture)
	}
	if err := spec.checkKeys(&c, r); err != nil {
		return Config{}, fmt.Errorf("%s: %w", c.Architecture, err)
	}
	if err := spec.parse(&c, r); err != nil {
		return Config{}, fmt.Errorf("%s: %w", c.Architecture, err)
	}
	c.BOS = r.intOr("bos_token_id", -1)
	c.EOS = r.intList("eos_token_id")
	if err := r.err; err != nil {
		return Config{}, fmt.Errorf("%s: %w", c.Architecture, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", c.Architecture, err)
	}
	return c, nil
}

// ReadGenerationConfig reads dir/generation_config.json. A missing file
// gives the defaults derived from the model config (greedy, its EOS ids).
func ReadGenerationConfig(dir string, c Config) (GenerationConfig, error) {
	g := GenerationConfig{BOS: c.BOS, EOS: c.EOS, Temperature: 1, TopP: 1}
	path := filepath.Join(dir, "generation_config.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return g, nil
	}
	if err != nil {
		return g, fmt.Errorf("read generation config: %w", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return g, fmt.Errorf("%s: %w", path, err)
	}
	r := &rawConfig{m: raw}
	g.BOS = r.intOr("bos_token_id", g.BOS)
	if _, ok := raw["eos_token_id"]; ok {
		g.EOS = r.intList("eos_token_id")
	}
	g.DoSample = r.boolOr("do_sample", false)
	g.Temperature = r.floatOr("temperature", 1)
	g.TopP = r.floatOr("top_p", 1)
	g.MaxNewTokens = r.intOr("max_new_tokens", 0)
	if r.err != nil {
		return g, fmt.Errorf("%s: %w", path, r.err)
	}
	return g, nil
}

// rawConfig reads typed fields from a decoded JSON object and remembers the
// first type error, naming the field.
type rawConfig struct {
	m   map[string]any
	err error
}

func (r *rawConfig) fail(key, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("field %q: want %s, got %v", key, want, r.m[key])
	}
}

func (r *rawConfig) has(key string) bool {
	v, ok := r.m[key]
	return ok && v != nil
}

func (r *rawConfig) num(key string) (float64, bool) {
	v, ok := r.m[key]
	if !ok || v == nil {
		return 0, false
	}
	f, ok := v.(float64)
	if !ok {
		r.fail(key, "a number")
		return 0, false
	}
	return f, true
}

func (r *rawConfig) intOr(key string, def int) int {
	f, ok := r.num(key)
	if !ok {
		return def
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<40 {
		r.fail(key, "an integer")
		return def
	}
	return int(f)
}

func (r *rawConfig) intReq(key string) int {
	if _, ok := r.m[key]; !ok {
		if r.err == nil {
			r.err = fmt.Errorf("missing field %q", key)
		}
		return 0
	}
	return r.intOr(key, 0)
}

func (r *rawConfig) floatOr(key string, def float64) float64 {
	if f, ok := r.num(key); ok {
		return f
	}
	return def
}

func (r *rawConfig) boolOr(key string, def bool) bool {
	v, ok := r.m[key]
	if !ok || v == nil {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		r.fail(key, "a boolean")
		return def
	}
	return b
}

func (r *rawConfig) strOr(key, def string) string {
	v, ok := r.m[key]
	if !ok || v == nil {
		return def
	}
	s, ok := v.(string)
	if !ok {
		r.fail(key, "a string")
		return def
	}
	return s
}

// floats reads a list of numbers.
func (r *rawConfig) floats(key string) []float64 {
	v, ok := r.m[key]
	if !ok || v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		r.fail(key, "a list of numbers")
		return nil
	}
	out := make([]float64, len(list))
	for i, x := range list {
		f, ok := x.(float64)
		if !ok {
			r.fail(key, "a list of numbers")
			return nil
		}
		out[i] = f
	}
	return out
}

// ints reads a list of integers (unsorted).
func (r *rawConfig) ints(key string) []int {
	fs := r.floats(key)
	out := make([]int, len(fs))
	for i, f := range fs {
		if f != math.Trunc(f) || math.Abs(f) > 1<<40 {
			r.fail(key, "a list of integers")
			return nil
		}
		out[i] = int(f)
	}
	return out
}

// strs reads a list of strings.
func (r *rawConfig) strs(key string) []string {
	v, ok := r.m[key]
	if !ok || v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		r.fail(key, "a list of strings")
		return nil
	}
	out := make([]string, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			r.fail(key, "a list of strings")
			return nil
		}
		out[i] = s
	}
	return out
}

// intList reads an integer or a list of integers (eos_token_id takes both).
func (r *rawConfig) intList(key string) []int {
	v, ok := r.m[key]
	if !ok || v == nil {
		return nil
	}
	if _, isNum := v.(float64); isNum {
		return []int{r.intOr(key, 0)}
	}
	list, ok := v.([]any)
	if !ok {
		r.fail(key, "an integer or a list of integers")
		return nil
	}
	var out []int
	for _, x := range list {
		f, ok := x.(float64)
		if !ok || f != math.Trunc(f) {
			r.fail(key, "a list of integers")
			return nil
		}
		out = append(out, int(f))
	}
	sort.Ints(out)
	return out
}

// String summarizes the config for logs and errors.
func (c *Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s L%d C%d H%d", c.Architecture, c.Layers, c.Hidden, c.Heads)
	if c.KVHeads != c.Heads {
		fmt.Fprintf(&b, "/%d", c.KVHeads)
	}
	fmt.Fprintf(&b, " V%d", c.Vocab)
	if c.MoE != nil {
		fmt.Fprintf(&b, " E%d/%d", c.MoE.TopK, c.MoE.Experts)
	}
	return b.String()
}
