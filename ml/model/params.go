package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// ParamInfo places one named tensor in a model's flat parameter buffer.
type ParamInfo struct {
	Name    string // Hugging Face name, e.g. "model.layers.0.self_attn.q_proj.weight"
	Shape   []int
	Offset  int // first element in the flat buffer
	Size    int // number of elements
	NoDecay bool
}

// linear is one projection: y = x·Wᵀ + b for the nn.Linear layout [out,in],
// or y = x·W + b for GPT-2's Conv1D layout [in,out].
type linear struct {
	name    string // module name, e.g. "model.layers.0.self_attn.q_proj"
	in, out int
	conv1d  bool
	expert  bool      // a projection of a mixture's expert (its rows come in routed order)
	w, b    []float32 // views into Model.params; b nil without bias
	w16     []uint16  // the weight while the base is held in bf16 (w nil then)
	gw, gb  []float32 // views into Model.grads (nil while grads are off)
	lora    *loraModule
}

// norm is an RMSNorm (b nil) or a LayerNorm. With plusOne (Gemma) the
// RMSNorm scales by 1 + w: weff holds 1 + w, refreshed before every pass,
// and the gradient of w is that of weff.
type norm struct {
	w, b    []float32
	gw, gb  []float32
	plusOne bool
	weff    []float32
}

// scale is the weight the norm multiplies by.
func (n *norm) scale() []float32 {
	if n.plusOne {
		return n.weff
	}
	return n.w
}

// block is one transformer layer.
type block struct {
	// norm1 is the input norm; norm2 the norm before the MLP
	// (post_attention_layernorm, or Gemma's pre_feedforward_layernorm).
	norm1, norm2 norm
	// postAttn and postFF normalize the attention and MLP outputs before
	// the residual add (Gemma's post_attention_layernorm and
	// post_feedforward_layernorm); their w is nil elsewhere.
	postAttn, postFF norm
	// qNorm and kNorm normalize each query and key head (QKNorm).
	qNorm, kNorm norm
	qkv          []*linear // Llama: q, k, v; Phi-3: qkv_proj; GPT-2: c_attn (all writing into the fused q|k|v activation)
	o            *linear
	ffIn         []*linear // Llama: gate, up; Phi-3: gate_up_proj; GPT-2: c_fc
	down         *linear
	// qkvAll and ffInAll are the groups above as one projection each (their
	// weights are adjacent): q|k|v → [N, QKVDim], gate|up → [N, 2·I]. They
	// carry the base weights; LoRA modules stay on the members.
	qkvAll, ffInAll *linear
	// moe replaces the dense MLP in a sparse layer.
	moe *moeBlock
}

// moeBlock is a sparse MLP: a router and the experts' gated MLPs.
type moeBlock struct {
	router  *linear // [E, C], no bias
	experts []expert
}

// expert is one gated MLP of a sparse layer.
type expert struct {
	ffIn    []*linear // gate, up
	ffInAll *linear   // gate|up as one projection
	down    *linear
}

// layout lays out every tensor of the config, layer by layer, and
// builds the per-layer views over params (and grads when non-nil).
type layout struct {
	infos []ParamInfo
	index map[string]int
	size  int
}

func (l *layout) add(name string, noDecay bool, shape ...int) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	l.index[name] = len(l.infos)
	l.infos = append(l.infos, ParamInfo{Name: name, Shape: shape, Offset: l.size, Size: n, NoDecay: noDecay})
	l.size += n
}

// moeNames are a sparse family's module names: the MLP prefix, the router
// and each expert's gate, up and down projections.
type moeNames struct{ mlp, router, gate, up, down string }

func (c *Config) moeNames() moeNames {
	if c.Architecture == "MixtralForCausalLM" {
		return moeNames{"block_sparse_moe.", "gate", "w1", "w3", "w2"}
	}
	return moeNames{"mlp.", "gate", "gate_proj", "up_proj", "down_proj"}
}

// preMLPNorm is the name of the norm before the MLP.
func (c *Config) preMLPNorm() string {
	if c.PostNorms {
		return "pre_feedforward_layernorm"
	}
	return "post_attention_layernorm"
}

func newLayout(c *Config) *layout {
	l := &layout{index: map[string]int{}}
	C, I, hd := c.Hidden, c.Intermediate, c.HeadDim
	if c.Family == GPT2 {
		l.add("transformer.wte.weight", false, c.Vocab, C)
		l.add("transformer.wpe.weight", false, c.MaxPositions, C)
		for i := 0; i < c.Layers; i++ {
			p := fmt.Sprintf("transformer.h.%d.", i)
			l.add(p+"ln_1.weight", true, C)
			l.add(p+"ln_1.bias", true, C)
			l.add(p+"attn.c_attn.weight", false, C, 3*C)
			l.add(p+"attn.c_attn.bias", true, 3*C)
			l.add(p+"attn.c_proj.weight", false, C, C)
			l.add(p+"attn.c_proj.bias", true, C)
			l.add(p+"ln_2.weight", true, C)
			l.add(p+"ln_2.bias", true, C)
			l.add(p+"mlp.c_fc.weight", false, C, I)
			l.add(p+"mlp.c_fc.bias", true, I)
			l.add(p+"mlp.c_proj.weight", false, I, C)
			l.add(p+"mlp.c_proj.bias", true, C)
		}
		l.add("transformer.ln_f.weight", true, C)
		l.add("transformer.ln_f.bias", true, C)
		return l
	}
	// Within a layer the q, k and v weights are adjacent (then their biases),
	// and so are gate and up: each group is one matrix product in the
	// forward and backward passes.
	q, kv := c.Heads*hd, c.KVHeads*hd
	l.add("model.embed_tokens.weight", false, c.Vocab, C)
	for i := 0; i < c.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		l.add(p+"input_layernorm.weight", true, C)
		if c.FusedProjections {
			l.add(p+"self_attn.qkv_proj.weight", false, c.QKVDim(), C)
		} else {
			l.add(p+"self_attn.q_proj.weight", false, q, C)
			l.add(p+"self_attn.k_proj.weight", false, kv, C)
			l.add(p+"self_attn.v_proj.weight", false, kv, C)
		}
		if c.QKVBias {
			l.add(p+"self_attn.q_proj.bias", true, q)
			l.add(p+"self_attn.k_proj.bias", true, kv)
			l.add(p+"self_attn.v_proj.bias", true, kv)
		}
		if c.QKNorm {
			l.add(p+"self_attn.q_norm.weight", true, hd)
			l.add(p+"self_attn.k_norm.weight", true, hd)
		}
		l.add(p+"self_attn.o_proj.weight", false, C, q)
		if c.OBias {
			l.add(p+"self_attn.o_proj.bias", true, C)
		}
		l.add(p+"post_attention_layernorm.weight", true, C)
		if c.PostNorms {
			l.add(p+"pre_feedforward_layernorm.weight", true, C)
			l.add(p+"post_feedforward_layernorm.weight", true, C)
		}
		switch {
		case c.SparseLayer(i):
			mn, e := c.moeNames(), c.MoE
			l.add(p+mn.mlp+mn.router+".weight", false, e.Experts, C)
			for x := 0; x < e.Experts; x++ {
				ep := fmt.Sprintf("%s%sexperts.%d.", p, mn.mlp, x)
				l.add(ep+mn.gate+".weight", false, e.Intermediate, C)
				l.add(ep+mn.up+".weight", false, e.Intermediate, C)
				l.add(ep+mn.down+".weight", false, C, e.Intermediate)
			}
		case c.FusedProjections:
			l.add(p+"mlp.gate_up_proj.weight", false, 2*I, C)
			l.add(p+"mlp.down_proj.weight", false, C, I)
		default:
			l.add(p+"mlp.gate_proj.weight", false, I, C)
			l.add(p+"mlp.up_proj.weight", false, I, C)
			l.add(p+"mlp.down_proj.weight", false, C, I)
			if c.MLPBias {
				l.add(p+"mlp.gate_proj.bias", true, I)
				l.add(p+"mlp.up_proj.bias", true, I)
				l.add(p+"mlp.down_proj.bias", true, C)
			}
		}
	}
	l.add("model.norm.weight", true, C)
	if !c.TieEmbeddings {
		l.add("lm_head.weight", false, c.Vocab, C)
	}
	return l
}

// span returns the slice of buf from the first named tensor to the end of
// the last (adjacent in the layout), or nil when buf is nil or first is absent.
func (l *layout) span(buf []float32, first, last string) []float32 {
	i, ok1 := l.index[first]
	j, ok2 := l.index[last]
	if !ok1 || !ok2 || buf == nil {
		return nil
	}
	a, b := l.infos[i].Offset, l.infos[j].Offset+l.infos[j].Size
	return buf[a:b:b]
}

// view returns the named tensor's slice of buf, or nil when buf is nil or
// the name is absent.
func (l *layout) view(buf []float32, name string) []float32 {
	i, ok := l.index[name]
	if !ok || buf == nil {
		return nil
	}
	p := l.infos[i]
	return buf[p.Offset : p.Offset+p.Size : p.Offset+p.Size]
}

// bind (re)builds the model's views over m.params and m.grads.
func (m *Model) bind() {
	c, l := &m.cfg, m.layout
	m.packs = nil
	if m.half != nil {
		m.packs = newPackCache(packCacheBytes)
	}
	mk := func(module string, in, out int, conv bool) *linear {
		var old *loraModule
		if prev, ok := m.linears[module]; ok {
			old = prev.lora
		}
		lin := &linear{name: module, in: in, out: out, conv1d: conv,
			w: m.fview(module + ".weight"), w16: m.hview(module + ".weight"), b: m.fview(module + ".bias"),
			gw: l.view(m.grads, module+".weight"), gb: l.view(m.grads, module+".bias"), lora: old}
		m.linears[module] = lin
		return lin
	}
	if m.linears == nil {
		m.linears = map[string]*linear{}
	}
	// m.plusOne keeps the (1+w) norms for refreshNorms; the copies in the
	// blocks share their w and weff slices.
	m.plusOne = m.plusOne[:0]
	nrm := func(prefix string) norm {
		n := norm{w: m.fview(prefix + ".weight"), b: m.fview(prefix + ".bias"),
			gw: l.view(m.grads, prefix+".weight"), gb: l.view(m.grads, prefix+".bias")}
		if c.NormPlusOne && n.w != nil {
			n.plusOne, n.weff = true, make([]float32, len(n.w))
			m.plusOne = append(m.plusOne, &n)
		}
		return n
	}
	m.blocks = make([]block, c.Layers)
	C, I := c.Hidden, c.Intermediate
	if c.Family == GPT2 {
		m.embed, m.gEmbed = m.fview("transformer.wte.weight"), l.view(m.grads, "transformer.wte.weight")
		m.embed16 = m.hview("transformer.wte.weight")
		m.pos, m.gPos = m.fview("transformer.wpe.weight"), l.view(m.grads, "transformer.wpe.weight")
		for i := range m.blocks {
			p := fmt.Sprintf("transformer.h.%d.", i)
			b := &m.blocks[i]
			b.norm1, b.norm2 = nrm(p+"ln_1"), nrm(p+"ln_2")
			b.qkv = []*linear{mk(p+"attn.c_attn", C, 3*C, true)}
			b.o = mk(p+"attn.c_proj", C, C, true)
			b.ffIn = []*linear{mk(p+"mlp.c_fc", C, I, true)}
			b.down = mk(p+"mlp.c_proj", I, C, true)
			b.qkvAll, b.ffInAll = b.qkv[0], b.ffIn[0]
		}
		m.normF = nrm("transformer.ln_f")
		m.head, m.gHead, m.head16 = m.embed, m.gEmbed, m.embed16
		m.refreshNorms()
		return
	}
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	m.embed, m.gEmbed = m.fview("model.embed_tokens.weight"), l.view(m.grads, "model.embed_tokens.weight")
	m.embed16 = m.hview("model.embed_tokens.weight")
	for i := range m.blocks {
		p := fmt.Sprintf("model.layers.%d.", i)
		b := &m.blocks[i]
		b.norm1, b.norm2 = nrm(p+"input_layernorm"), nrm(p+c.preMLPNorm())
		if c.PostNorms {
			b.postAttn, b.postFF = nrm(p+"post_attention_layernorm"), nrm(p+"post_feedforward_layernorm")
		}
		if c.QKNorm {
			b.qNorm, b.kNorm = nrm(p+"self_attn.q_norm"), nrm(p+"self_attn.k_norm")
		}
		group := func(name string, in, out int, first, last string) *linear {
			return &linear{name: name, in: in, out: out,
				w: m.fspan(first+".weight", last+".weight"), w16: m.hspan(first+".weight", last+".weight"), b: m.fspan(first+".bias", last+".bias"),
				gw: l.span(m.grads, first+".weight", last+".weight"), gb: l.span(m.grads, first+".bias", last+".bias")}
		}
		if c.FusedProjections {
			b.qkv = []*linear{mk(p+"self_attn.qkv_proj", C, c.QKVDim(), false)}
			b.qkvAll = b.qkv[0]
		} else {
			b.qkv = []*linear{mk(p+"self_attn.q_proj", C, q, false), mk(p+"self_attn.k_proj", C, kv, false), mk(p+"self_attn.v_proj", C, kv, false)}
			b.qkvAll = group(p+"self_attn.qkv", C, c.QKVDim(), p+"self_attn.q_proj", p+"self_attn.v_proj")
		}
		b.o = mk(p+"self_attn.o_proj", q, C, false)
		switch {
		case c.SparseLayer(i):
			mn, e := c.moeNames(), c.MoE
			mp := p + mn.mlp
			b.moe = &moeBlock{router: mk(mp+mn.router, C, e.Experts, false), experts: make([]expert, e.Experts)}
			for x := range b.moe.experts {
				ep := fmt.Sprintf("%sexperts.%d.", mp, x)
				ex := &b.moe.experts[x]
				ex.ffIn = []*linear{mk(ep+mn.gate, C, e.Intermediate, false), mk(ep+mn.up, C, e.Intermediate, false)}
				ex.ffInAll = group(ep+"gate_up", C, 2*e.Intermediate, ep+mn.gate, ep+mn.up)
				ex.down = mk(ep+mn.down, e.Intermediate, C, false)
				ex.ffIn[0].expert, ex.ffIn[1].expert, ex.down.expert = true, true, true
			}
		case c.FusedProjections:
			b.ffIn = []*linear{mk(p+"mlp.gate_up_proj", C, 2*I, false)}
			b.ffInAll = b.ffIn[0]
			b.down = mk(p+"mlp.down_proj", I, C, false)
		default:
			b.ffIn = []*linear{mk(p+"mlp.gate_proj", C, I, false), mk(p+"mlp.up_proj", C, I, false)}
			b.ffInAll = group(p+"mlp.gate_up", C, 2*I, p+"mlp.gate_proj", p+"mlp.up_proj")
			b.down = mk(p+"mlp.down_proj", I, C, false)
		}
	}
	m.normF = nrm("model.norm")
	if c.TieEmbeddings {
		m.head, m.gHead, m.head16 = m.embed, m.gEmbed, m.embed16
	} else {
		m.head, m.gHead, m.head16 = m.fview("lm_head.weight"), l.view(m.grads, "lm_head.weight"), m.hview("lm_head.weight")
	}
	m.refreshNorms()
}

// refreshNorms sets the effective weight 1 + w of every (1+w) norm from the
// current parameters; every pass calls it, since the optimizer changes w.
func (m *Model) refreshNorms() {
	for _, n := range m.plusOne {
		for i, v := range n.w {
			n.weff[i] = 1 + v
		}
	}
}

// initParams fills params with the usual random initialization: normal(0,
// 0.02) weights (GPT-2 residual projections scaled by 1/√(2·layers)), zero
// biases, unit norm weights. The result depends only on the config and seed.
func (m *Model) initParams(seed uint64) {
	fill := m.initFiller(seed)
	for _, p := range m.layout.infos {
		fill(p, m.params[p.Offset:p.Offset+p.Size])
	}
}

// initFiller returns the function that fills tensor after tensor, in
// layout order, with initParams's values.
func (m *Model) initFiller(seed uint64) func(p ParamInfo, buf []float32) {
	rng := rand.New(rand.NewPCG(seed, 0x6372756369626c65))
	resid := 0.02 / math.Sqrt(2*float64(m.cfg.Layers))
	return func(p ParamInfo, buf []float32) {
		switch {
		case strings.HasSuffix(p.Name, ".bias"):
			clear(buf)
		case len(p.Shape) == 1 && m.cfg.NormPlusOne:
			clear(buf) // (1+w) norms start at w = 0, a scale of one
		case len(p.Shape) == 1:
			for i := range buf {
				buf[i] = 1
			}
		default:
			std := 0.02
			if m.cfg.Family == GPT2 && strings.HasSuffix(p.Name, "c_proj.weight") {
				std = resid
			}
			for i := range buf {
				buf[i] = float32(rng.NormFloat64() * std)
			}
		}
	}
}
