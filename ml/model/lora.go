package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/optim"
)

// LoRAConfig configures a low-rank adapter (as PEFT's LoraConfig).
type LoRAConfig struct {
	Rank    int     // r
	Alpha   float64 // lora_alpha; the update is scaled by Alpha/Rank
	Dropout float64 // lora_dropout, applied to the adapter's input while training
	// TargetModules are module name suffixes, e.g. "q_proj", "v_proj" (Llama)
	// or "c_attn", "c_proj", "c_fc" (GPT-2). A module matches when its name
	// equals a target or ends with "."+target.
	TargetModules []string
	Seed          uint64 // initialization of A and the dropout stream
	// BaseModel is recorded as base_model_name_or_path.
	BaseModel string
}

// LoRA is an adapter attached to a Model: its A and B matrices for every
// targeted projection, in one flat parameter buffer with gradients beside it.
type LoRA struct {
	cfg     LoRAConfig
	infos   []ParamInfo // PEFT names, in module order
	params  []float32
	grads   []float32
	modules []*loraModule
}

// loraModule is the adapter of one projection: y += scale·(x·Aᵀ)·Bᵀ with
// A [r, in] and B [out, r] (for Conv1D too, as PEFT stores them).
type loraModule struct {
	idx    int
	expert bool   // on a mixture's expert: x·Aᵀ lives in the mixture's routed buffers
	name   string // the projection's module name
	in     int
	out    int
	conv1d bool
	scale  float32
	a, b   []float32
	ga, gb []float32
}

// Config returns the adapter's configuration.
func (l *LoRA) Config() LoRAConfig { return l.cfg }

// Params is the adapter's flat parameter buffer; Grads its gradients.
func (l *LoRA) Params() []float32 { return l.params }

// Grads is the adapter's flat gradient buffer.
func (l *LoRA) Grads() []float32 { return l.grads }

// ParamInfos lists the adapter's tensors with their PEFT names.
func (l *LoRA) ParamInfos() []ParamInfo { return slices.Clone(l.infos) }

// peftName is the PEFT name of a module's A or B weight.
func peftName(module, ab string) string {
	return "base_model.model." + module + ".lora_" + ab + ".weight"
}

// matchesTarget reports whether a module name matches one of the targets.
func matchesTarget(module string, targets []string) bool {
	for _, t := range targets {
		if module == t || strings.HasSuffix(module, "."+t) {
			return true
		}
	}
	return false
}

// AddLoRA attaches a new adapter (A kaiming-uniform, B zero, as PEFT
// initializes them) and freezes the base model (SetTrainBase(false)); call
// SetTrainBase(true) afterwards to train both. It replaces any adapter
// already attached.
func (m *Model) AddLoRA(cfg LoRAConfig) (*LoRA, error) {
	if cfg.Rank <= 0 || cfg.Rank > 1<<14 {
		return nil, fmt.Errorf("lora: rank %d must be in [1, 16384]", cfg.Rank)
	}
	if !(cfg.Alpha > 0) {
		return nil, fmt.Errorf("lora: alpha %g must be positive", cfg.Alpha)
	}
	if !(cfg.Dropout >= 0 && cfg.Dropout < 1) {
		return nil, fmt.Errorf("lora: dropout %g must be in [0, 1)", cfg.Dropout)
	}
	if len(cfg.TargetModules) == 0 {
		return nil, fmt.Errorf("lora: no target modules")
	}
	m.RemoveLoRA()
	l := &LoRA{cfg: cfg}
	size := 0
	scale := float32(cfg.Alpha / float64(cfg.Rank))
	used := map[string]bool{}
	for _, lin := range m.linearsInOrder() {
		if !matchesTarget(lin.name, cfg.TargetModules) {
			continue
		}
		for _, t := range cfg.TargetModules {
			if lin.name == t || strings.HasSuffix(lin.name, "."+t) {
				used[t] = true
			}
		}
		mod := &loraModule{idx: len(l.modules), expert: lin.expert, name: lin.name, in: lin.in, out: lin.out, conv1d: lin.conv1d, scale: scale}
		l.modules = append(l.modules, mod)
		l.infos = append(l.infos,
			ParamInfo{Name: peftName(lin.name, "A"), Shape: []int{cfg.Rank, lin.in}, Offset: size, Size: cfg.Rank * lin.in},
			ParamInfo{Name: peftName(lin.name, "B"), Shape: []int{lin.out, cfg.Rank}, Offset: size + cfg.Rank*lin.in, Size: lin.out * cfg.Rank})
		size += cfg.Rank * (lin.in + lin.out)
	}
	for _, t := range cfg.TargetModules {
		if !used[t] {
			return nil, fmt.Errorf("lora: target module %q matches no module of %s", t, m.cfg.Architecture)
		}
	}
	l.params, l.grads = make([]float32, size), make([]float32, size)
	for i, mod := range l.modules {
		a, b := l.infos[2*i], l.infos[2*i+1]
		mod.a, mod.b = l.params[a.Offset:a.Offset+a.Size], l.params[b.Offset:b.Offset+b.Size]
		mod.ga, mod.gb = l.grads[a.Offset:a.Offset+a.Size], l.grads[b.Offset:b.Offset+b.Size]
		m.linears[mod.name].lora = mod
	}
	// kaiming_uniform_(a=√5) on A [r, in] draws from U(−1/√in, 1/√in).
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6c6f7261))
	for _, mod := range l.modules {
		bound := 1 / math.Sqrt(float64(mod.in))
		for i := range mod.a {
			mod.a[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
	m.lora = l
	m.SetTrainBase(false)
	return l, nil
}

// loraSize is the number of parameters an adapter of cfg would add to m,
// counted without allocating them.
func (m *Model) loraSize(cfg LoRAConfig) int {
	size := 0
	for _, lin := range m.linearsInOrder() {
		if matchesTarget(lin.name, cfg.TargetModules) {
			size += cfg.Rank * (lin.in + lin.out)
		}
	}
	return size
}

// LoRA returns the attached adapter, or nil.
func (m *Model) LoRA() *LoRA { return m.lora }

// RemoveLoRA detaches the adapter (without merging it).
func (m *Model) RemoveLoRA() {
	for _, lin := range m.linears {
		lin.lora = nil
	}
	m.lora = nil
}

// linearsInOrder lists the projections LoRA may adapt, layer by layer, in
// the order of the Hugging Face modules (q, k, v, o, gate, up, down; each
// expert's gate, up and down in a sparse layer, whose router is not
// adapted).
func (m *Model) linearsInOrder() []*linear {
	var out []*linear
	for i := range m.blocks {
		b := &m.blocks[i]
		out = append(out, b.qkv...)
		out = append(out, b.o)
		if b.moe != nil {
			for x := range b.moe.experts {
				ex := &b.moe.experts[x]
				out = append(out, ex.ffIn...)
				out = append(out, ex.down)
			}
			continue
		}
		out = append(out, b.ffIn...)
		out = append(out, b.down)
	}
	return out
}

// MergeLoRA adds the attached adapter's update scale·B·A into the base
// weights (transposed for Conv1D) and detaches it: the merged model computes
// what model and adapter computed together (without dropout).
func (m *Model) MergeLoRA() error {
	l := m.lora
	if l == nil {
		return fmt.Errorf("lora: no adapter to merge")
	}
	m.ExpandBase()
	r := l.cfg.Rank
	for _, mod := range l.modules {
		lin := m.linears[mod.name]
		if lin.conv1d {
			// W [in, out] += scale·Aᵀ·Bᵀ
			gemm(kernel.FP32, true, true, mod.in, mod.out, r, mod.scale, mod.a, mod.in, mod.b, r, 1, lin.w, mod.out)
		} else {
			// W [out, in] += scale·B·A
			gemm(kernel.FP32, false, false, mod.out, mod.in, r, mod.scale, mod.b, r, mod.a, mod.in, 1, lin.w, mod.in)
		}
	}
	m.RemoveLoRA()
	m.ReleaseWorkspace()
	return nil
}

// dropout writes (or with accumulate adds) mask·src/(1−p) into dst for n
// rows of mod.in columns. The mask is a pure function of the adapter seed,
// the training step, the module and the element, so backward regenerates
// the mask forward used without storing it.
func (l *LoRA) dropout(mod *loraModule, step uint64, src []float32, ldsrc int, dst []float32, lddst, n int, accumulate bool) {
	p := l.cfg.Dropout
	threshold := uint64(p * (1 << 53))
	keep := float32(1 / (1 - p))
	key := splitmix(l.cfg.Seed ^ splitmix(step<<20^uint64(mod.idx)))
	in := mod.in
	kernel.ParallelFor(n, rowGrain(in), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			s, d := src[r*ldsrc:r*ldsrc+in], dst[r*lddst:r*lddst+in]
			for i, v := range s {
				var x float32
				if splitmix(key+uint64(r*in+i))>>11 >= threshold {
					x = v * keep
				}
				if accumulate {
					d[i] += x
				} else {
					d[i] = x
				}
			}
		}
	})
}

// splitmix is the SplitMix64 finalizer: a fast, well-mixed hash of x.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// TrainableParams lists what an optimizer should update: the adapter's A and
// B matrices when one is attached, plus every base tensor while the base is
// trained. Data and Grad alias the model's flat buffers.
func (m *Model) TrainableParams() []*optim.Param {
	var out []*optim.Param
	if m.grads != nil {
		for _, p := range m.layout.infos {
			out = append(out, &optim.Param{Name: p.Name, Data: m.params[p.Offset : p.Offset+p.Size],
				Grad: m.grads[p.Offset : p.Offset+p.Size], NoDecay: p.NoDecay})
		}
	}
	if l := m.lora; l != nil {
		for _, p := range l.infos {
			out = append(out, &optim.Param{Name: p.Name, Data: l.params[p.Offset : p.Offset+p.Size],
				Grad: l.grads[p.Offset : p.Offset+p.Size]})
		}
	}
	return out
}

// grad returns the named adapter tensor's gradient (PEFT name), or nil.
func (l *LoRA) grad(name string) []float32 {
	for _, p := range l.infos {
		if p.Name == name {
			return l.grads[p.Offset : p.Offset+p.Size]
		}
	}
	return nil
}

// DefaultLoRATargets are the projections LoRA adapts by default: every
// attention and MLP projection of the family, the experts' projections of a
// mixture included (its router is not adapted).
func DefaultLoRATargets(c Config) []string {
	switch {
	case c.Family == GPT2:
		return []string{"c_attn", "c_proj", "c_fc"}
	case c.FusedProjections:
		return []string{"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}
	case c.Architecture == "MixtralForCausalLM":
		return []string{"q_proj", "k_proj", "v_proj", "o_proj", "w1", "w2", "w3"}
	}
	return []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
}

// loraGroups allows grouped adapter products (tests compare without).
var loraGroups = true

// skinnyFP32 is the largest dimension for which an adapter's product runs
// in float32 when the model computes in bf16: a rank-r product (x·Aᵀ,
// u·Bᵀ and their gradients) would pad its k or n of r to the bf16 kernels'
// 32-wide blocks and convert its large operand to bf16 for a few FLOPs
// each, where the float32 kernel streams it as it is (llama-30m, rank 16,
// bf16: LoRA steps about 5% faster; the sums are also more precise).
const skinnyFP32 = 16

// gemmAdapter is gemm for the products of LoRA adapters, in the model's
// precision but float32 where a dimension is at most skinnyFP32.
func (m *Model) gemmAdapter(tA, tB bool, rows, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	p := m.prec
	if p == kernel.BF16 && min(rows, n, k) <= skinnyFP32 {
		p = kernel.FP32
	}
	gemm(p, tA, tB, rows, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// loraGroupWidth is G·r for the widest group of projections of one input
// (q|k|v, gate|up) whose adapters loraGroupFwd and loraGroupBwd run
// together, or 0 when none can: without dropout (which masks each
// module's input apart), on dense layers, with two or more adapted
// members.
func (m *Model) loraGroupWidth() int {
	if !loraGroups || m.lora == nil || m.lora.cfg.Dropout > 0 {
		return 0
	}
	g := 0
	for i := range m.blocks {
		b := &m.blocks[i]
		g = max(g, loraAdapted(b.qkv))
		if b.moe == nil {
			g = max(g, loraAdapted(b.ffIn))
		}
	}
	if g < 2 {
		return 0
	}
	return g * m.lora.cfg.Rank
}

// loraAdapted counts the members that carry an adapter.
func loraAdapted(members []*linear) int {
	n := 0
	for _, lin := range members {
		if lin.lora != nil {
			n++
		}
	}
	return n
}

// loraGroupA stacks the A matrices [r, in] of the group's adapters into
// ws.loraGA [G·r, in] and returns it.
func (m *Model) loraGroupA(ws *workspace, members []*linear, in int) []float32 {
	r := m.lora.cfg.Rank
	a, i := ws.loraGA, 0
	for _, lin := range members {
		if lin.lora != nil {
			copy(a[i*r*in:(i+1)*r*in], lin.lora.a)
			i++
		}
	}
	return a[:i*r*in]
}

// loraGroupFwd adds the adapters' updates of a group of projections of
// one input x [n, in] to their column windows of y: x·Aᵀ for all of them
// in one product, whose large operand x is then read once rather than per
// member, then each member's update u·Bᵀ. Without a group (see
// loraGroupWidth) it runs each member's loraFwd.
func (m *Model) loraGroupFwd(ws *workspace, members []*linear, x []float32, ldx int, y []float32, ldy, n int) {
	g := loraAdapted(members)
	if g < 2 || ws.loraGA == nil || len(ws.loraGA) < g*m.lora.cfg.Rank*members[0].in || n == 0 {
		col := 0
		for _, lin := range members {
			m.loraFwd(ws, lin, x, ldx, y[col:], ldy, n)
			col += lin.out
		}
		return
	}
	r, in := m.lora.cfg.Rank, members[0].in
	gr := g * r
	a := m.loraGroupA(ws, members, in)
	uAll := ws.loraGU[:n*gr]
	m.gemmAdapter(false, true, n, gr, in, 1, x, ldx, a, in, 0, uAll, gr)
	col, i := 0, 0
	for _, lin := range members {
		lm := lin.lora
		if lm != nil {
			u, ldu := uAll[i*r:], gr
			if ws.train { // backward reads each module's x·Aᵀ from its own buffer
				u, ldu = ws.loraU[lm.idx], r
				for row := 0; row < n; row++ {
					copy(u[row*r:(row+1)*r], uAll[row*gr+i*r:row*gr+(i+1)*r])
				}
			}
			m.gemmAdapter(false, true, n, lin.out, r, lm.scale, u, ldu, lm.b, r, 1, y[col:], ldy)
			i++
		}
		col += lin.out
	}
}

// loraGroupBwd is loraBwd for a group of projections of one input x
// [n, in] whose gradient dy [n, ld] holds the members' windows side by
// side: each member's dB and dU, then dA for all members in one product
// over x and, with needDX, their share of dx in one product. It reports
// false, doing nothing, where the group's adapters do not run together
// (loraGroupWidth).
func (m *Model) loraGroupBwd(ws *workspace, members []*linear, dy []float32, ld int, x []float32, ldx int, dx []float32, n int, needDX bool) bool {
	g := loraAdapted(members)
	if g < 2 || ws.loraGDU == nil || len(ws.loraGA) < g*m.lora.cfg.Rank*members[0].in {
		return false
	}
	if n == 0 {
		return true
	}
	r, in := m.lora.cfg.Rank, members[0].in
	gr := g * r
	duAll := ws.loraGDU[:n*gr]
	col, i := 0, 0
	for _, lin := range members {
		lm := lin.lora
		if lm != nil {
			u := ws.loraU[lm.idx]
			m.gemmAdapter(true, false, lin.out, r, n, lm.scale, dy[col:], ld, u, r, 1, lm.gb, r)
			m.gemmAdapter(false, false, n, r, lin.out, lm.scale, dy[col:], ld, lm.b, r, 0, duAll[i*r:], gr)
			i++
		}
		col += lin.out
	}
	// dA of every member: rows [i·r, (i+1)·r) of duAllᵀ·x, added to each
	// module's gradient.
	da := ws.loraGA[:gr*in]
	m.gemmAdapter(true, false, gr, in, n, 1, duAll, gr, x, ldx, 0, da, in)
	i = 0
	for _, lin := range members {
		if lm := lin.lora; lm != nil {
			for k, v := range da[i*r*in : (i+1)*r*in] {
				lm.ga[k] += v
			}
			i++
		}
	}
	if needDX {
		a := m.loraGroupA(ws, members, in)
		m.gemmAdapter(false, false, n, in, gr, 1, duAll, gr, a, in, 1, dx, ldx)
	}
	return true
}
