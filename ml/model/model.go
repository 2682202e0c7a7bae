// Package model implements decoder-only transformers in Hugging Face layout
// — Llama 2/3.x, Qwen2/2.5/3, Qwen3-MoE, SmolLM2/3, Mistral, Mixtral, Gemma
// 2/3, Phi-3/Phi-4-mini and GPT-2 — with an explicit forward and backward
// pass in the style of llm.c, LoRA adapters in PEFT format, evaluation and
// generation with a KV cache. The families beyond Llama are the Llama block
// with the quirks Config names (q/k norms, (1+w) and post norms, GeGLU, soft
// caps, sliding-window layers, partial and scaled rotary embeddings, fused
// projections, mixtures of experts); families.go maps each config.json onto
// them and refuses what crucible does not compute.
//
// A Model keeps every parameter in one flat float32 buffer (and, when the
// base is trained, every gradient in another of the same layout), so that an
// optimizer steps the whole model in one fused pass. Activations live in a
// workspace allocated once, grown only when a larger batch shape arrives,
// and reused by every step; a step allocates nothing proportional to the
// data.
//
// Memory: training keeps, per layer and token, the layer input, the q|k|v
// projections, the attention output, the mid-layer residual, the MLP
// pre-activations (gate and up, or fc) and a few norm statistics, plus one
// log-sum-exp per head: about 3·C + H·hd + QKVDim + 2·I floats per token
// and layer (10·C for GPT-2). Norm outputs and activations are recomputed in backward,
// and attention never stores [B, H, T, T] probabilities: scores exist only for
// one block of 64 queries per worker and are recomputed from q, k and the
// log-sum-exp in backward. Logits exist only for a block of 1024 scored
// positions by 2048 vocabulary entries at a time (see head.go): the LM head,
// an online log-sum-exp, the cross-entropy and their backward are fused per
// block, and unscored (-100) positions cost nothing in the head.
//
// The package reads and writes config.json, model.safetensors (sharded too)
// and PEFT adapters; it knows nothing of tasks or networks.
package model

import (
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/nn"
)

// Model is a transformer with its parameters, optional gradients and LoRA
// adapter. A Model is not safe for concurrent use.
type Model struct {
	cfg Config
	// Generation holds the generation defaults (generation_config.json).
	Generation GenerationConfig

	layout *layout
	params []float32
	grads  []float32 // nil unless the base model is being trained
	// half, kept and keptBuf hold a frozen base in bf16 (HoldBaseBF16):
	// every parameter as bf16, and the tensors kept in float32 (norms,
	// biases, positions) in their own layout; params is nil meanwhile.
	half    []uint16
	kept    *layout
	keptBuf []float32
	// packs keeps the held base's weights packed for bf16 products (nil
	// when the base is not held in bf16); bind starts it afresh.
	packs *packCache

	blocks                                []block
	embed, gEmbed, pos, gPos, head, gHead []float32
	embed16, head16                       []uint16 // the embedding and head held in bf16 (embed, head nil then)
	normF                                 norm
	linears                               map[string]*linear
	plusOne                               []*norm // the (1+w) norms, refreshed before every pass
	ropes                                 ropeTables
	// auxLoss is the router load-balancing loss of the last training pass
	// (mixture-of-experts models).
	auxLoss float64

	lora            *LoRA
	prec            kernel.Precision // arithmetic of the matrix products (SetPrecision)
	trainWS, evalWS *workspace
	step            uint64 // training steps taken; seeds LoRA dropout
}

// New returns a randomly initialized model (normal(0, 0.02) weights, GPT-2
// residual projections scaled by 1/√(2·layers), zero biases, unit norms).
// The same config and seed always give the same weights.
func New(cfg Config, seed uint64) (*Model, error) {
	m, err := alloc(cfg)
	if err != nil {
		return nil, err
	}
	m.initParams(seed)
	return m, nil
}

// maxParams bounds the parameter count (64 GiB of float32), so that a
// hostile config.json gives an error rather than an allocation failure.
const maxParams = 1 << 34

func alloc(cfg Config) (*Model, error) {
	m, err := allocEmpty(cfg)
	if err != nil {
		return nil, err
	}
	m.params = make([]float32, m.layout.size)
	m.bind()
	return m, nil
}

// allocEmpty is alloc without the parameter buffer (views bound to nil).
func allocEmpty(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("model config: %w", err)
	}
	m := &Model{cfg: cfg, layout: newLayout(&cfg)}
	if m.layout.size > maxParams {
		return nil, fmt.Errorf("model config: %d parameters is more than the %d one model can hold", m.layout.size, maxParams)
	}
	m.Generation = GenerationConfig{BOS: cfg.BOS, EOS: cfg.EOS, Temperature: 1, TopP: 1}
	m.bind()
	return m, nil
}

// SetPrecision sets the arithmetic of the model's matrix products — every
// projection, the LM head, attention and LoRA — in training, evaluation and
// generation: kernel.FP32 (the default) or kernel.BF16, which rounds both
// operands of each product to bfloat16 and sums in float32 (mixed
// precision: parameters, gradients, norms, softmax, losses and other
// reductions stay float32). BF16 is several times faster on CPUs with
// AMX-BF16 or AVX512_BF16 and agrees with FP32 to about bf16's precision,
// so losses differ slightly: a validator scores in FP32.
func (m *Model) SetPrecision(p kernel.Precision) { m.prec = p }

// Precision returns the arithmetic of the matrix products (SetPrecision).
func (m *Model) Precision() kernel.Precision { return m.prec }

// Config returns the model's configuration.
func (m *Model) Config() Config { return m.cfg }

// NumParams is the number of base-model parameters (tied embeddings counted once).
func (m *Model) NumParams() int { return m.layout.size }

// Params is the flat parameter buffer, laid out as ParamInfos describes.
// A base held in bf16 (HoldBaseBF16) is widened to float32 first.
func (m *Model) Params() []float32 {
	m.ExpandBase()
	return m.params
}

// Grads is the flat gradient buffer (same layout as Params), or nil while
// the base model is frozen.
func (m *Model) Grads() []float32 { return m.grads }

// ParamInfos lists the base model's tensors in buffer order: layer by layer,
// with the members of each fused projection group (q|k|v, gate|up) adjacent.
func (m *Model) ParamInfos() []ParamInfo { return append([]ParamInfo(nil), m.layout.infos...) }

// Param returns the named tensor's slice of Params, or nil if there is none.
func (m *Model) Param(name string) []float32 {
	m.ExpandBase()
	return m.layout.view(m.params, name)
}

// Grad returns the named tensor's slice of Grads, or nil.
func (m *Model) Grad(name string) []float32 { return m.layout.view(m.grads, name) }

// SetTrainBase turns gradient computation for the base weights on (allocating
// Grads) or off (releasing them). With it off, backward still runs through the
// network for LoRA but computes no base weight gradient.
func (m *Model) SetTrainBase(on bool) {
	if on {
		m.ExpandBase()
	}
	switch {
	case on && m.grads == nil:
		m.grads = make([]float32, m.layout.size)
	case !on:
		m.grads = nil
	}
	m.bind()
}

// TrainsBase reports whether base weight gradients are computed.
func (m *Model) TrainsBase() bool { return m.grads != nil }

// ZeroGrads clears the base and LoRA gradients.
func (m *Model) ZeroGrads() {
	clear(m.grads)
	if m.lora != nil {
		clear(m.lora.grads)
	}
}

// Batch is B sequences of T token ids, row-major. Labels (optional for
// evaluation of logits only) give the target of each position; -100 marks a
// position that is not scored. Labels are already shifted: Labels[i] is the
// token that should follow Tokens[i].
type Batch struct {
	Tokens []int32
	Labels []int32
	B, T   int
	// Weights, when set (length B), weight each sequence's share of the
	// gradient in ForwardBackward: the gradient becomes that of
	// scale·Σ_b Weights[b]·(loss sum of sequence b). Negative weights are
	// allowed (preference losses push rejected sequences down). The returned
	// Loss is unweighted.
	Weights []float32
	// PositionWeight, when set, is asked in ForwardBackward for the weight
	// of every scored position (pos = b·T + t) given that position's
	// log-probability under the current weights, in increasing pos order;
	// the gradient becomes that of scale·Σ w_pos·(−log p_pos) with each
	// w_pos held constant (times Weights[b] when both are set). An
	// objective f(log p) per position, such as a clipped policy ratio or a
	// KL penalty, gets its exact gradient from w = −f′(log p).
	PositionWeight func(pos int, logp float64) float32
}

// IgnoreIndex marks a label position that is not scored.
const IgnoreIndex = -100

// Loss is a masked cross-entropy: Sum over Count scored tokens.
type Loss struct {
	Sum   float64
	Count int
}

// Mean is Sum/Count, or 0 when nothing was scored.
func (l Loss) Mean() float64 {
	if l.Count == 0 {
		return 0
	}
	return l.Sum / float64(l.Count)
}

func (m *Model) checkBatch(b Batch, needLabels bool) error {
	c := &m.cfg
	switch {
	case b.B <= 0 || b.T <= 0:
		return fmt.Errorf("batch shape B=%d T=%d must be positive", b.B, b.T)
	case len(b.Tokens) != b.B*b.T:
		return fmt.Errorf("batch has %d tokens, want B·T = %d", len(b.Tokens), b.B*b.T)
	case needLabels && len(b.Labels) != b.B*b.T:
		return fmt.Errorf("batch has %d labels, want B·T = %d", len(b.Labels), b.B*b.T)
	case b.Weights != nil && len(b.Weights) != b.B:
		return fmt.Errorf("batch has %d weights, want B = %d", len(b.Weights), b.B)
	case c.Family == GPT2 && b.T > c.MaxPositions:
		return fmt.Errorf("sequence length %d exceeds n_positions %d", b.T, c.MaxPositions)
	}
	for i, t := range b.Tokens {
		if t < 0 || int(t) >= c.Vocab {
			return fmt.Errorf("token %d at position %d is outside the vocabulary [0, %d)", t, i, c.Vocab)
		}
	}
	for i, w := range b.Weights {
		if math.IsNaN(float64(w)) || math.IsInf(float64(w), 0) {
			return fmt.Errorf("weight %v of sequence %d is not finite", w, i)
		}
	}
	if needLabels {
		for i, t := range b.Labels {
			if t != IgnoreIndex && (t < 0 || int(t) >= c.Vocab) {
				return fmt.Errorf("label %d at position %d is outside the vocabulary [0, %d) and is not -100", t, i, c.Vocab)
			}
		}
	}
	return nil
}

// workspace holds every activation and scratch buffer for one (B, T, mode).
type workspace struct {
	B, T       int   // the current batch shape
	capN, capT int   // the largest B·T and T the buffers hold
	train      bool  // activations kept for every layer (else one layer's worth)
	lora       *LoRA // the adapter the LoRA buffers were sized for

	resid                        [][]float32 // layer inputs (+ final output): [N, C]
	mean1, rstd1, mean2, rstd2   [][]float32 // [N]
	qkv, lse, atty, xmid         [][]float32
	ffa                          [][]float32 // Llama [N, 2·I] gate|up per row; GPT-2 [N, I] fc pre-activation
	qkPre, qkRstd                [][]float32 // QKNorm: q|k heads before their norm [N, (H+KV)·hd], and [N, H+KV]
	ao, mo, rstdPA, rstdPF       [][]float32 // PostNorms: attention and MLP outputs before their norms [N, C], and [N]
	dpost                        []float32   // PostNorms: gradient before a post norm [N, C]
	moe                          *moeWS
	lnf, meanF, rstdF            []float32
	ln, hbuf, dres, dln, dh, dff []float32
	datty, dqkv                  []float32
	loraU                        [][]float32 // per LoRA module and stored layer: [N, r]
	loraX, loraT, loraDU         []float32   // dropout input, scratch [N, max in], dU [N, r]
	// A group of projections of one input (q|k|v, gate|up) without
	// dropout runs its adapters' products over that input as one
	// (loraGroupFwd, loraGroupBwd): their A stacked [G·r, C], x·Aᵀ and dU
	// side by side [N, G·r], the stacked dA [G·r, C].
	loraGA, loraGU, loraGDU []float32
	rows                    []int32
	head                    headBuffers
	tokenLoss               []float32 // Evaluate's per-position losses when the caller wants only sums
	attnScratch             []float32
	decodeQ                 []float32 // generation: q rows packed for nn.DecodeAttention
	ropeStart               [1]int

	cache *kvCache // generation: attend to (and extend) this cache
	pos0  int      // generation: position of the first row
	// group, in batched generation, holds one cache per row (each row
	// one sequence's next token, all at position pos0).
	group *groupDecode
	// posWeight is the batch's PositionWeight during ForwardBackward.
	posWeight func(pos int, logp float64) float32
}

// workspace returns buffers for a batch of B sequences of T positions. A
// workspace serves every shape with B·T and T within its capacity, and
// grows to the largest shape seen, so batches of varying length (padded to
// a multiple, say) allocate only until the longest has come by.
//
// Training and evaluation keep separate workspaces (evaluation's holds one
// layer), so that validating during training reallocates nothing.
func (m *Model) workspace(B, T int, train bool) *workspace {
	N := B * T
	slot := &m.evalWS
	if train {
		slot = &m.trainWS
	}
	ws := *slot
	same := ws != nil && ws.lora == m.lora
	if !same || N > ws.capN || T > ws.capT {
		capN, capT := N, T
		if same {
			capN, capT = max(capN, ws.capN), max(capT, ws.capT)
		}
		*slot = nil // let the old one go before allocating the new
		ws = m.newWorkspace(capN, capT, train, 0)
		*slot = ws
	}
	ws.B, ws.T = B, T
	return ws
}

// newWorkspace allocates the buffers for N positions in sequences of at most
// T, or, with decodeKeys > 0, for generation: up to T = N new positions per
// call against a KV cache of up to decodeKeys positions.
func (m *Model) newWorkspace(N, T int, train bool, decodeKeys int) *workspace {
	c := &m.cfg
	C, I := c.Hidden, c.Intermediate
	slots := 1
	if train {
		slots = c.Layers
	}
	ws := &workspace{B: N / T, T: T, capN: N, capT: T, train: train, lora: m.lora}
	mk := func(n int) []float32 { return make([]float32, n) }
	multi := func(k, n int) [][]float32 {
		out := make([][]float32, k)
		for i := range out {
			out[i] = mk(n)
		}
		return out
	}
	residSlots := slots + 1
	if !train {
		residSlots = 2
	}
	ws.resid = multi(residSlots, N*C)
	ws.rstd1, ws.rstd2 = multi(slots, N), multi(slots, N)
	if c.Family == GPT2 {
		ws.mean1, ws.mean2 = multi(slots, N), multi(slots, N)
		ws.meanF = mk(N)
	} else {
		ws.mean1, ws.mean2 = make([][]float32, slots), make([][]float32, slots)
	}
	ws.qkv = multi(slots, N*c.QKVDim())
	ws.atty = multi(slots, N*c.Heads*c.HeadDim)
	ws.xmid = multi(slots, N*C)
	I = c.denseWidth()
	ffw := I
	if c.Family == Llama {
		ffw = 2 * I
	}
	ws.ffa = multi(slots, N*ffw)
	if c.QKNorm {
		ws.qkPre = multi(slots, N*(c.Heads+c.KVHeads)*c.HeadDim)
		ws.qkRstd = multi(slots, N*(c.Heads+c.KVHeads))
	}
	if c.PostNorms {
		ws.ao, ws.mo = multi(slots, N*C), multi(slots, N*C)
		ws.rstdPA, ws.rstdPF = multi(slots, N), multi(slots, N)
		if train {
			ws.dpost = mk(N * C)
		}
	}
	if c.MoE != nil {
		ws.moe = m.newMoEWorkspace(N, slots, train)
	}
	if train {
		ws.lse = multi(slots, N*c.Heads)
	} else {
		ws.lse = make([][]float32, 1)
	}
	ws.lnf, ws.rstdF = mk(N*C), mk(N)
	ws.ln, ws.hbuf = mk(N*C), mk(N*I)
	if train {
		ws.dres, ws.dln, ws.dh = mk(N*C), mk(N*C), mk(N*I)
		if c.Family == Llama {
			ws.dff = mk(N * 2 * I)
		}
		ws.datty, ws.dqkv = mk(N*c.Heads*c.HeadDim), mk(N*c.QKVDim())
	}
	if m.lora != nil {
		nu := 1 // evaluation: one layer at a time shares one buffer
		if train {
			nu = len(m.lora.modules)
		}
		ws.loraU = make([][]float32, nu)
		for i := range ws.loraU {
			if train && m.lora.modules[i].expert {
				continue // in the mixture's routed buffers
			}
			ws.loraU[i] = mk(N * m.lora.cfg.Rank)
		}
		widest := max(C, I, c.Heads*c.HeadDim, c.maxMLPWidth())
		if m.lora.cfg.Dropout > 0 {
			ws.loraX = mk(N * widest)
		}
		if train {
			ws.loraT, ws.loraDU = mk(N*widest), mk(N*m.lora.cfg.Rank)
		}
		if g := m.loraGroupWidth(); g > 0 {
			ws.loraGA, ws.loraGU = mk(g*C), mk(N*g)
			if train {
				ws.loraGDU = mk(N * g)
			}
		}
	}
	ws.rows = make([]int32, 0, N)
	ws.head = newHeadBuffers(c, N, train)
	if decodeKeys > 0 {
		ws.attnScratch = mk(nn.DecodeScratchSize(c.Heads, T, decodeKeys))
		ws.decodeQ = mk(T * c.Heads * c.HeadDim)
	} else {
		// nn.AttnShape.ScratchSize for the largest shape within capacity:
		// the GQA backward's per-head dk, dv and a score block per worker.
		size := 2 * min(64, T) * T * runtime.GOMAXPROCS(0)
		if c.KVHeads != c.Heads {
			size += 2 * N * c.Heads * c.HeadDim
		}
		ws.attnScratch = mk(max(size, m.attnShape(0, N/T, T).ScratchSize()))
	}
	return ws
}

// ReleaseWorkspace drops the activation buffers (they are rebuilt on the
// next forward pass).
func (m *Model) ReleaseWorkspace() { m.trainWS, m.evalWS = nil, nil }

var errNoLabels = errors.New("batch has no labels")

// ActivationFloatsPerToken estimates the training activations one token of
// a micro-batch keeps (every layer's saved values plus the backward
// scratch), in floats, for LoRA of the given rank (0: full fine-tuning).
func ActivationFloatsPerToken(c Config, loraRank int) int64 {
	C, L, H := c.Hidden, c.Layers, c.Heads
	q, qkv := c.Heads*c.HeadDim, c.QKVDim()
	I := c.denseWidth()
	var total int64
	for l := 0; l < L; l++ {
		per := C + 2 + qkv + q + C + H // input, norm stats, q|k|v, attention out, mid residual, lse
		switch {
		case c.SparseLayer(l):
			e := c.MoE
			per += e.Experts + 3*e.TopK + 2*e.TopK*e.Intermediate
		case c.Family == Llama:
			per += 2 * I
		default:
			per += I + 2
		}
		if c.QKNorm {
			per += (c.Heads+c.KVHeads)*c.HeadDim + c.Heads + c.KVHeads
		}
		if c.PostNorms {
			per += 2*C + 2
		}
		per += 7 * loraRank
		total += int64(per)
	}
	scratch := 6*C + 3*c.maxMLPWidth() + q + qkv + 2
	if c.MoE != nil {
		scratch += 4*c.MoE.TopK*C + 4*c.MoE.TopK*c.MoE.Intermediate + c.MoE.Experts
	}
	return total + int64(scratch)
}

// ActiveMatmulParams counts the parameters one token multiplies with: every
// attention projection, the dense MLPs, the router and the experts a token
// uses in a sparse layer, and the LM head (tied or not) — not embedding
// lookups, norms or biases. Model FLOPs per token are twice this (forward).
func (c *Config) ActiveMatmulParams() int {
	C, hd := c.Hidden, c.HeadDim
	n := c.Vocab * C
	for l := 0; l < c.Layers; l++ {
		n += C*(c.Heads+2*c.KVHeads)*hd + c.Heads*hd*C
		switch {
		case c.SparseLayer(l):
			n += C*c.MoE.Experts + c.MoE.TopK*3*C*c.MoE.Intermediate
		case c.Family == GPT2:
			n += 2 * C * c.Intermediate
		default:
			n += 3 * C * c.Intermediate
		}
	}
	return n
}
