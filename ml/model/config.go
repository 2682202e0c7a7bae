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
	// Llama is the pre-norm RMSNorm/RoPE/SwiGLU decoder with grouped-query
	// attention shared by Llama 2/3, Qwen2/2.5, SmolLM and Mistral.
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

// RopeScaling is the "llama3" frequency scaling of rotary embeddings.
type RopeScaling struct {
	Factor         float64
	LowFreqFactor  float64
	HighFreqFactor float64
	OriginalMaxPos int
}

// Config describes a decoder-only transformer in Hugging Face terms. It is
// read from config.json (ReadConfig) or built by hand (NewLlamaConfig,
// NewGPT2Config) for tests and pretraining.
type Config struct {
	Architecture string // e.g. "LlamaForCausalLM"
	ModelType    string // e.g. "llama", "qwen2", "mistral", "gpt2"
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

	TieEmbeddings bool
	QKVBias       bool // bias on q/k/v projections (Qwen2, Llama attention_bias)
	OBias         bool // bias on the attention output projection (Llama attention_bias)
	MLPBias       bool // bias on gate/up/down (Llama mlp_bias)

	SlidingWindow int // 0: none; sequences longer than this are rejected

	BOS int   // -1 when unknown
	EOS []int // stop token ids

	// raw keeps config.json as read, so that Save writes back every field
	// crucible does not interpret.
	raw map[string]any
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
	}
	if s := c.RopeScaling; s != nil {
		if !(s.Factor > 0) || !(s.LowFreqFactor > 0) || !(s.HighFreqFactor > s.LowFreqFactor) || s.OriginalMaxPos <= 0 {
			return fmt.Errorf("rope_scaling: need factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0")
		}
	}
	return nil
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

// ParseConfig parses the contents of a Hugging Face config.json.
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
	var err error
	switch c.Architecture {
	case "LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM":
		err = c.parseLlama(r)
	case "GPT2LMHeadModel":
		err = c.parseGPT2(r)
	default:
		return Config{}, fmt.Errorf("unsupported architecture %q (supported: LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM, GPT2LMHeadModel)", c.Architecture)
	}
	if err != nil {
		return Config{}, err
	}
	c.BOS = r.intOr("bos_token_id", -1)
	c.EOS = r.intList("eos_token_id")
	if err := r.err; err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func (c *Config) parseLlama(r *rawConfig) error {
	c.Family = Llama
	c.Hidden = r.intReq("hidden_size")
	c.Intermediate = r.intReq("intermediate_size")
	c.Layers = r.intReq("num_hidden_layers")
	c.Heads = r.intReq("num_attention_heads")
	c.KVHeads = r.intOr("num_key_value_heads", c.Heads)
	c.HeadDim = c.Hidden / max(c.Heads, 1)
	if v, ok := r.m["head_dim"]; ok && v != nil {
		c.HeadDim = r.intReq("head_dim")
	}
	c.Vocab = r.intReq("vocab_size")
	c.MaxPositions = r.intOr("max_position_embeddings", 2048)
	c.NormEps = r.floatOr("rms_norm_eps", 1e-6)
	c.RopeTheta = r.floatOr("rope_theta", 10000)
	c.TieEmbeddings = r.boolOr("tie_word_embeddings", false)
	if act := r.strOr("hidden_act", "silu"); act != "silu" {
		return fmt.Errorf("hidden_act %q is not supported (want silu)", act)
	}
	switch c.Architecture {
	case "Qwen2ForCausalLM":
		c.QKVBias = true
		if r.boolOr("use_sliding_window", false) {
			c.SlidingWindow = r.intOr("sliding_window", 0)
		}
	case "MistralForCausalLM":
		c.SlidingWindow = r.intOr("sliding_window", 0)
	default:
		c.QKVBias = r.boolOr("attention_bias", false)
		c.OBias = c.QKVBias
		c.MLPBias = r.boolOr("mlp_bias", false)
	}
	if sc, ok := r.m["rope_scaling"].(map[string]any); ok {
		rs := &rawConfig{m: sc}
		kind := rs.strOr("rope_type", rs.strOr("type", ""))
		switch kind {
		case "llama3":
			c.RopeScaling = &RopeScaling{
				Factor: rs.floatOr("factor", 8), LowFreqFactor: rs.floatOr("low_freq_factor", 1),
				HighFreqFactor: rs.floatOr("high_freq_factor", 4), OriginalMaxPos: rs.intOr("original_max_position_embeddings", 8192),
			}
			if rs.err != nil {
				return fmt.Errorf("rope_scaling: %w", rs.err)
			}
		case "default", "":
		default:
			return fmt.Errorf("rope_scaling type %q is not supported (supported: llama3)", kind)
		}
	}
	return nil
}

func (c *Config) parseGPT2(r *rawConfig) error {
	c.Family = GPT2
	c.Hidden = r.intReq("n_embd")
	c.Layers = r.intReq("n_layer")
	c.Heads = r.intReq("n_head")
	c.KVHeads = c.Heads
	c.HeadDim = c.Hidden / max(c.Heads, 1)
	c.Intermediate = 4 * c.Hidden
	if v, ok := r.m["n_inner"]; ok && v != nil {
		c.Intermediate = r.intReq("n_inner")
	}
	c.Vocab = r.intReq("vocab_size")
	c.MaxPositions = r.intOr("n_positions", 1024)
	c.NormEps = r.floatOr("layer_norm_epsilon", 1e-5)
	c.TieEmbeddings = r.boolOr("tie_word_embeddings", true)
	c.QKVBias, c.OBias, c.MLPBias = true, true, true
	if act := r.strOr("activation_function", "gelu_new"); act != "gelu_new" && act != "gelu_pytorch_tanh" {
		return fmt.Errorf("activation_function %q is not supported (want gelu_new)", act)
	}
	if !r.boolOr("scale_attn_weights", true) || r.boolOr("scale_attn_by_inverse_layer_idx", false) {
		return errors.New("scale_attn_weights=false and scale_attn_by_inverse_layer_idx=true are not supported")
	}
	if !c.TieEmbeddings {
		return errors.New("GPT-2 with tie_word_embeddings=false is not supported")
	}
	return nil
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

// configJSON renders the config as a Hugging Face config.json, keeping the
// fields of the file it was read from and setting torch_dtype to float32.
func (c *Config) configJSON() ([]byte, error) {
	out := map[string]any{}
	for k, v := range c.raw {
		out[k] = v
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
		if _, ok := out["n_ctx"]; !ok {
			out["n_ctx"] = c.MaxPositions
		}
		if c.Intermediate != 4*c.Hidden {
			out["n_inner"] = c.Intermediate
		} else if _, ok := out["n_inner"]; !ok {
			out["n_inner"] = nil
		}
		if _, ok := out["activation_function"]; !ok {
			out["activation_function"] = "gelu_new"
		}
	} else {
		out["hidden_size"], out["intermediate_size"] = c.Hidden, c.Intermediate
		out["num_hidden_layers"], out["num_attention_heads"] = c.Layers, c.Heads
		out["num_key_value_heads"], out["head_dim"] = c.KVHeads, c.HeadDim
		out["max_position_embeddings"], out["rms_norm_eps"] = c.MaxPositions, c.NormEps
		out["rope_theta"] = c.RopeTheta
		if _, ok := out["hidden_act"]; !ok {
			out["hidden_act"] = "silu"
		}
		if c.ModelType == "llama" {
			out["attention_bias"], out["mlp_bias"] = c.QKVBias, c.MLPBias
		}
		if s := c.RopeScaling; s != nil {
			out["rope_scaling"] = map[string]any{
				"rope_type": "llama3", "factor": s.Factor, "low_freq_factor": s.LowFreqFactor,
				"high_freq_factor": s.HighFreqFactor, "original_max_position_embeddings": s.OriginalMaxPos,
			}
		}
	}
	return json.MarshalIndent(out, "", "  ") // encoding/json sorts the keys
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
	return b.String()
}
