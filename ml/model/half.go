package model

import (
	"errors"
	"math"
	"sync"

	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/nn"
)

// A frozen base can be held in bfloat16: its matrices — every projection,
// the token embeddings and the LM head — as bf16 only, half their float32
// memory, while the small tensors (norms, biases, position embeddings)
// stay float32. The products read the bf16 weights directly (kernel.GemmBF16
// in bf16 precision, kernel.GemmBF16B, float32 arithmetic on the widened
// values, in fp32), so a held base computes exactly what the same base in
// float32 would.

// HoldBaseBF16 switches a frozen base (no gradients: LoRA training,
// evaluation, generation) to bf16 storage, when that loses nothing: every
// parameter must already be a bf16 value, as in checkpoints saved in bf16.
// It reports whether the base is now held in bf16. ExpandBase undoes it,
// and whatever needs the float32 weights widens them (Params, Param,
// SetTrainBase(true), MergeLoRA; saving widens a copy).
func (m *Model) HoldBaseBF16() (bool, error) {
	if m.half != nil {
		return true, nil
	}
	if m.grads != nil {
		return false, errors.New("hold base in bf16: the base is being trained")
	}
	held := m.heldTensors()
	for _, p := range m.layout.infos {
		if !held[p.Name] {
			continue // kept in float32
		}
		for _, x := range m.params[p.Offset : p.Offset+p.Size] {
			if b := kernel.Float32ToBF16(x); kernel.BF16ToFloat32(b) != x && !math.IsNaN(float64(x)) {
				return false, nil
			}
		}
	}
	kept := &layout{index: map[string]int{}}
	for _, p := range m.layout.infos {
		if !held[p.Name] {
			kept.add(p.Name, p.NoDecay, p.Shape...)
		}
	}
	half := make([]uint16, len(m.params))
	for i, x := range m.params {
		half[i] = kernel.Float32ToBF16(x)
	}
	keptBuf := make([]float32, kept.size)
	for _, p := range kept.infos {
		copy(keptBuf[p.Offset:p.Offset+p.Size], m.layout.view(m.params, p.Name))
	}
	m.params, m.half, m.kept, m.keptBuf = nil, half, kept, keptBuf
	m.bind()
	return true, nil
}

// NewBF16 is New with the weights rounded to bf16 and the base held in
// bf16 (HoldBaseBF16) from the start: the same model as New's, rounded,
// without ever holding float32 copies of its matrices.
func NewBF16(cfg Config, seed uint64) (*Model, error) {
	m, err := allocEmpty(cfg)
	if err != nil {
		return nil, err
	}
	held := m.heldTensors()
	m.half = make([]uint16, m.layout.size)
	m.kept = &layout{index: map[string]int{}}
	for _, p := range m.layout.infos {
		if !held[p.Name] {
			m.kept.add(p.Name, p.NoDecay, p.Shape...)
		}
	}
	m.keptBuf = make([]float32, m.kept.size)
	fill := m.initFiller(seed)
	var tmp []float32
	for _, p := range m.layout.infos {
		if cap(tmp) < p.Size {
			tmp = make([]float32, p.Size)
		}
		buf := tmp[:p.Size]
		fill(p, buf)
		for i, x := range buf {
			h := kernel.Float32ToBF16(x)
			m.half[p.Offset+i] = h
			buf[i] = kernel.BF16ToFloat32(h)
		}
		if !held[p.Name] {
			copy(m.kept.view(m.keptBuf, p.Name), buf)
		}
	}
	m.bind()
	return m, nil
}

// HoldsBaseBF16 reports whether the base is held in bf16 (HoldBaseBF16).
func (m *Model) HoldsBaseBF16() bool { return m.half != nil }

// ExpandBase returns a base held in bf16 to float32 storage, exactly.
func (m *Model) ExpandBase() {
	if m.half == nil {
		return
	}
	m.params = m.expandedParams()
	m.half, m.kept, m.keptBuf = nil, nil, nil
	m.bind()
}

// expandedParams is the float32 parameter buffer of a base held in bf16.
func (m *Model) expandedParams() []float32 {
	params := make([]float32, m.layout.size)
	for i, h := range m.half {
		params[i] = kernel.BF16ToFloat32(h)
	}
	for _, p := range m.kept.infos {
		q := m.layout.infos[m.layout.index[p.Name]]
		copy(params[q.Offset:q.Offset+q.Size], m.keptBuf[p.Offset:p.Offset+p.Size])
	}
	return params
}

// heldTensors names the tensors a bf16 base holds in bf16: the weights of
// every projection and the embedding and head matrices.
func (m *Model) heldTensors() map[string]bool {
	held := map[string]bool{}
	for name := range m.linears {
		held[name+".weight"] = true
	}
	for _, n := range []string{"model.embed_tokens.weight", "transformer.wte.weight", "lm_head.weight"} {
		if _, ok := m.layout.index[n]; ok {
			held[n] = true
		}
	}
	return held
}

// fview is the float32 view of a tensor: of Params, or, while the base is
// held in bf16, of the tensors kept in float32 (nil for the others).
func (m *Model) fview(name string) []float32 {
	if m.half == nil {
		return m.layout.view(m.params, name)
	}
	return m.kept.view(m.keptBuf, name)
}

// fspan is fview for adjacent tensors first..last; while the base is held
// in bf16 it is nil unless all are kept in float32.
func (m *Model) fspan(first, last string) []float32 {
	if m.half == nil {
		return m.layout.span(m.params, first, last)
	}
	return m.kept.span(m.keptBuf, first, last)
}

// hview is the bf16 view of a tensor while the base is held in bf16, else
// nil; hspan likewise for adjacent tensors.
func (m *Model) hview(name string) []uint16 {
	i, ok := m.layout.index[name]
	if m.half == nil || !ok {
		return nil
	}
	p := m.layout.infos[i]
	return m.half[p.Offset : p.Offset+p.Size : p.Offset+p.Size]
}

func (m *Model) hspan(first, last string) []uint16 {
	i, ok1 := m.layout.index[first]
	j, ok2 := m.layout.index[last]
	if m.half == nil || !ok1 || !ok2 {
		return nil
	}
	a, b := m.layout.infos[i].Offset, m.layout.infos[j].Offset+m.layout.infos[j].Size
	return m.half[a:b:b]
}

// gemmW is gemm whose B operand is a weight held in float32 (w) or, when w
// is nil, in bf16 (w16); a bf16 weight in bf16 precision is multiplied from
// its packed panels, packed on first use and kept (packCache).
func (m *Model) gemmW(tA, tB bool, rows, n, k int, alpha float32, a []float32, lda int, w []float32, w16 []uint16, ldb int, beta float32, c []float32, ldc int) {
	p := m.prec
	if w != nil || w16 == nil {
		gemm(p, tA, tB, rows, n, k, alpha, a, lda, w, ldb, beta, c, ldc)
		return
	}
	if rows == 0 || n == 0 {
		return
	}
	var err error
	switch {
	case p != kernel.BF16:
		err = kernel.GemmBF16B(tA, tB, rows, n, k, alpha, a, lda, w16, ldb, beta, c, ldc)
	case m.packs != nil && rows >= packMinRows:
		pb := m.packs.get(tB, k, n, w16, ldb)
		if pb == nil {
			err = kernel.GemmBF16(tA, tB, rows, n, k, alpha, kernel.MatF32(a), lda, kernel.MatBF16(w16), ldb, beta, c, ldc)
		} else {
			err = kernel.GemmBF16Packed(tA, rows, alpha, kernel.MatF32(a), lda, pb, beta, c, ldc)
		}
	default:
		err = kernel.GemmBF16(tA, tB, rows, n, k, alpha, kernel.MatF32(a), lda, kernel.MatBF16(w16), ldb, beta, c, ldc)
	}
	if err != nil {
		panic("model: internal shape error: " + err.Error())
	}
}

// packMinRows is the fewest rows of A for which a product uses (and
// packs) cached panels: a decoding step's single rows would pack every
// weight for one use.
const packMinRows = 64

// packCacheBytes bounds the memory of a model's packed panels. Each bf16
// weight is packed at most twice (as op(B) = Wᵀ for the forward product and
// W for the backward one), so a base of up to about 64M parameters is
// packed whole (Llama-30M's take 128 MiB) and a larger one in part, its
// first layers and head blocks; past the bound, the products pack their
// weights on the fly as before.
var packCacheBytes = 256 << 20

// packCache keeps the packed bf16 panels of a frozen base held in bf16
// (kernel.PackBF16): its weights never change while it is held, so the
// products of every step can skip packing them. It belongs to one binding
// of the model's tensors (bind starts a new one).
type packCache struct {
	mu     sync.Mutex
	bytes  int
	limit  int
	packed map[packKey]*kernel.PackedBF16
}

type packKey struct {
	w         *uint16
	tB        bool
	k, n, ldb int
}

func newPackCache(limit int) *packCache {
	return &packCache{limit: limit, packed: map[packKey]*kernel.PackedBF16{}}
}

// get returns op(w) packed, packing it on first use, or nil where it did
// not fit in the cache's bound.
func (pc *packCache) get(tB bool, k, n int, w []uint16, ldb int) *kernel.PackedBF16 {
	key := packKey{&w[0], tB, k, n, ldb}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if p, ok := pc.packed[key]; ok {
		return p // nil for a weight that did not fit
	}
	if pc.bytes+2*k*n > pc.limit {
		pc.packed[key] = nil
		return nil
	}
	p, err := kernel.PackBF16(tB, k, n, kernel.MatBF16(w), ldb)
	if err != nil {
		panic("model: internal shape error: " + err.Error())
	}
	if pc.bytes+p.Bytes() > pc.limit { // the panels' padding did not fit
		p = nil
	} else {
		pc.bytes += p.Bytes()
	}
	pc.packed[key] = p
	return p
}

// embedForward looks the tokens up in the embedding table, float32 or bf16.
func (m *Model) embedForward(x []float32, tokens []int32) error {
	if m.embed == nil && m.embed16 != nil {
		return nn.EmbeddingForwardBF16(x, m.embed16, tokens, m.cfg.Vocab, m.cfg.Hidden)
	}
	return nn.EmbeddingForward(x, m.embed, tokens, m.cfg.Vocab, m.cfg.Hidden)
}
