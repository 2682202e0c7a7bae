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
	w, b    []float32 // views into Model.params; b nil without bias
	gw, gb  []float32 // views into Model.grads (nil while grads are off)
	lora    *loraModule
}

// norm is an RMSNorm (b nil) or a LayerNorm.
type norm struct {
	w, b   []float32
	gw, gb []float32
}

// block is one transformer layer.
type block struct {
	norm1, norm2 norm
	qkv          []*linear // Llama: q, k, v; GPT-2: c_attn (all writing into the fused q|k|v activation)
	o            *linear
	ffIn         []*linear // Llama: gate, up; GPT-2: c_fc
	down         *linear
	// qkvAll and ffInAll are the groups above as one projection each (their
	// weights are adjacent): q|k|v → [N, QKVDim], gate|up → [N, 2·I]. They
	// carry the base weights; LoRA modules stay on the members.
	qkvAll, ffInAll *linear
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
		l.add(p+"self_attn.q_proj.weight", false, q, C)
		l.add(p+"self_attn.k_proj.weight", false, kv, C)
		l.add(p+"self_attn.v_proj.weight", false, kv, C)
		if c.QKVBias {
			l.add(p+"self_attn.q_proj.bias", true, q)
			l.add(p+"self_attn.k_proj.bias", true, kv)
			l.add(p+"self_attn.v_proj.bias", true, kv)
		}
		l.add(p+"self_attn.o_proj.weight", false, C, q)
		if c.OBias {
			l.add(p+"self_attn.o_proj.bias", true, C)
		}
		l.add(p+"post_attention_layernorm.weight", true, C)
		l.add(p+"mlp.gate_proj.weight", false, I, C)
		l.add(p+"mlp.up_proj.weight", false, I, C)
		l.add(p+"mlp.down_proj.weight", false, C, I)
		if c.MLPBias {
			l.add(p+"mlp.gate_proj.bias", true, I)
			l.add(p+"mlp.up_proj.bias", true, I)
			l.add(p+"mlp.down_proj.bias", true, C)
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
	mk := func(module string, in, out int, conv bool) *linear {
		var old *loraModule
		if prev, ok := m.linears[module]; ok {
			old = prev.lora
		}
		lin := &linear{name: module, in: in, out: out, conv1d: conv,
			w: l.view(m.params, module+".weight"), b: l.view(m.params, module+".bias"),
			gw: l.view(m.grads, module+".weight"), gb: l.view(m.grads, module+".bias"), lora: old}
		m.linears[module] = lin
		return lin
	}
	if m.linears == nil {
		m.linears = map[string]*linear{}
	}
	nrm := func(prefix string) norm {
		return norm{w: l.view(m.params, prefix+".weight"), b: l.view(m.params, prefix+".bias"),
			gw: l.view(m.grads, prefix+".weight"), gb: l.view(m.grads, prefix+".bias")}
	}
	m.blocks = make([]block, c.Layers)
	C, I := c.Hidden, c.Intermediate
	if c.Family == GPT2 {
		m.embed, m.gEmbed = l.view(m.params, "transformer.wte.weight"), l.view(m.grads, "transformer.wte.weight")
		m.pos, m.gPos = l.view(m.params, "transformer.wpe.weight"), l.view(m.grads, "transformer.wpe.weight")
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
		m.head, m.gHead = m.embed, m.gEmbed
		return
	}
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	m.embed, m.gEmbed = l.view(m.params, "model.embed_tokens.weight"), l.view(m.grads, "model.embed_tokens.weight")
	for i := range m.blocks {
		p := fmt.Sprintf("model.layers.%d.", i)
		b := &m.blocks[i]
		b.norm1, b.norm2 = nrm(p+"input_layernorm"), nrm(p+"post_attention_layernorm")
		b.qkv = []*linear{mk(p+"self_attn.q_proj", C, q, false), mk(p+"self_attn.k_proj", C, kv, false), mk(p+"self_attn.v_proj", C, kv, false)}
		b.o = mk(p+"self_attn.o_proj", q, C, false)
		b.ffIn = []*linear{mk(p+"mlp.gate_proj", C, I, false), mk(p+"mlp.up_proj", C, I, false)}
		b.down = mk(p+"mlp.down_proj", I, C, false)
		group := func(name string, out int, first, last string) *linear {
			return &linear{name: p + name, in: C, out: out,
				w: l.span(m.params, p+first+".weight", p+last+".weight"), b: l.span(m.params, p+first+".bias", p+last+".bias"),
				gw: l.span(m.grads, p+first+".weight", p+last+".weight"), gb: l.span(m.grads, p+first+".bias", p+last+".bias")}
		}
		b.qkvAll = group("self_attn.qkv", c.QKVDim(), "self_attn.q_proj", "self_attn.v_proj")
		b.ffInAll = group("mlp.gate_up", 2*I, "mlp.gate_proj", "mlp.up_proj")
	}
	m.normF = nrm("model.norm")
	if c.TieEmbeddings {
		m.head, m.gHead = m.embed, m.gEmbed
	} else {
		m.head, m.gHead = l.view(m.params, "lm_head.weight"), l.view(m.grads, "lm_head.weight")
	}
}

// initParams fills params with the usual random initialization: normal(0,
// 0.02) weights (GPT-2 residual projections scaled by 1/√(2·layers)), zero
// biases, unit norm weights. The result depends only on the config and seed.
func (m *Model) initParams(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x6372756369626c65))
	resid := 0.02 / math.Sqrt(2*float64(m.cfg.Layers))
	for _, p := range m.layout.infos {
		buf := m.params[p.Offset : p.Offset+p.Size]
		switch {
		case strings.HasSuffix(p.Name, ".bias"):
			clear(buf)
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
