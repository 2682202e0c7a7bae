package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/nn"
)

// groupDecode is the state of batched generation: one KV cache per
// sample, and per live row its cache, its attention workspace and its
// position (all rows of a group share the prompt, so they stand at the
// same position).
type groupDecode struct {
	caches []*kvCache
	rows   []*workspace // per live row: a view onto its cache and scratch
	starts []int        // rotary start of each row (all pos0)
}

// SampleSeed is the seed of sample i of a group generated with seed: the
// stream GenerateGroup samples completion i from, so that a completion
// depends only on the model, the prompt, the seed and its index.
func SampleSeed(seed uint64, i int) uint64 { return seed ^ (0x9e3779b97f4a7c15 * uint64(i+1)) }

// GenerateGroup samples n completions of one prompt as a batch: the prompt
// is run once and its keys and values copied into n caches, then each
// step decodes one token for every completion still running as one
// [live, hidden] batch, so the weights are read once per step rather than
// once per completion. Completion i samples with its own random stream
// (SampleSeed(opts.Seed, i)) and ends at a stop token (included) or at
// MaxNewTokens. It returns the n completions without the prompt.
func (m *Model) GenerateGroup(prompt []int32, n int, opts GenerateOptions) ([][]int32, error) {
	c := &m.cfg
	if n <= 0 {
		return nil, fmt.Errorf("generate: %d samples; want at least 1", n)
	}
	if len(prompt) == 0 {
		return nil, errors.New("generate: empty prompt")
	}
	if opts.MaxNewTokens <= 0 {
		return nil, fmt.Errorf("generate: max new tokens %d must be positive", opts.MaxNewTokens)
	}
	if opts.Temperature < 0 || math.IsNaN(opts.Temperature) || opts.TopP < 0 || opts.TopP > 1 {
		return nil, fmt.Errorf("generate: temperature %g must be ≥ 0 and top-p %g in [0, 1]", opts.Temperature, opts.TopP)
	}
	for i, t := range prompt {
		if t < 0 || int(t) >= c.Vocab {
			return nil, fmt.Errorf("generate: prompt token %d at position %d is outside the vocabulary [0, %d)", t, i, c.Vocab)
		}
	}
	limit := c.MaxPositions
	if len(prompt) >= limit {
		return nil, fmt.Errorf("generate: prompt of %d tokens leaves no room within the %d positions the model supports", len(prompt), limit)
	}
	total := min(len(prompt)+opts.MaxNewTokens, limit)
	if c.longRope(total) && !c.longRope(len(prompt)) {
		// LongRoPE switches every position to its long factors once the
		// sequence outgrows the pretraining context; Generate recomputes
		// the cache then, so each sample runs on its own.
		out := make([][]int32, n)
		for i := range out {
			o := opts
			o.Seed = SampleSeed(opts.Seed, i)
			var err error
			if out[i], err = m.Generate(prompt, o, nil); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	stops := opts.StopTokens
	if stops == nil {
		for _, e := range m.Generation.EOS {
			stops = append(stops, int32(e))
		}
	}
	if err := m.prepare(total); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	kvd := c.KVHeads * c.HeadDim

	// The prompt, once.
	first := &kvCache{k: make([][]float32, c.Layers), v: make([][]float32, c.Layers)}
	for l := range first.k {
		first.k[l], first.v[l] = make([]float32, total*kvd), make([]float32, total*kvd)
	}
	pre := m.newWorkspace(len(prompt), len(prompt), false, total)
	pre.cache = first
	m.forwardBody(pre, prompt)
	first.n = len(prompt)
	logits := make([]float32, n*c.Vocab)
	last := pre.lnf[(len(prompt)-1)*c.Hidden : len(prompt)*c.Hidden]
	m.gemmW(false, true, 1, c.Vocab, c.Hidden, 1, last, c.Hidden, m.head, m.head16, c.Hidden, 0, logits, c.Vocab)
	m.softcapLogits(logits[:c.Vocab], nil)
	for i := 1; i < n; i++ { // every sample's first token comes from the prompt's logits
		copy(logits[i*c.Vocab:(i+1)*c.Vocab], logits[:c.Vocab])
	}
	pre = nil

	// n caches holding the prompt, and the decode workspace.
	g := &groupDecode{caches: make([]*kvCache, n), rows: make([]*workspace, n), starts: make([]int, n)}
	scratch := nn.DecodeScratchSize(c.Heads, 1, total)
	for i := range g.caches {
		kc := &kvCache{k: make([][]float32, c.Layers), v: make([][]float32, c.Layers), n: len(prompt)}
		for l := range kc.k {
			kc.k[l], kc.v[l] = make([]float32, total*kvd), make([]float32, total*kvd)
			copy(kc.k[l], first.k[l][:len(prompt)*kvd])
			copy(kc.v[l], first.v[l][:len(prompt)*kvd])
		}
		g.caches[i] = kc
		g.rows[i] = &workspace{T: 1, B: 1, cache: kc, decodeQ: make([]float32, c.Heads*c.HeadDim), attnScratch: make([]float32, scratch)}
	}
	first = nil
	ws := m.newWorkspace(n, 1, false, 1)
	ws.group = g

	rngs := make([]*rand.Rand, n)
	for i := range rngs {
		rngs[i] = rand.New(rand.NewPCG(SampleSeed(opts.Seed, i), 0x67656e))
	}
	probs := make([]float64, c.Vocab)
	order := make([]int32, c.Vocab)
	out := make([][]int32, n)
	live := make([]int, n) // live row -> sample
	for i := range live {
		live[i] = i
	}
	row := func(r int) []float32 { return logits[r*c.Vocab : (r+1)*c.Vocab] }
	tokens := make([]int32, n)
	pos := len(prompt)
	for {
		// Sample every live row's next token; keep the rows that go on.
		next := live[:0]
		for r, i := range live {
			tok := sample(row(r), opts, rngs[i], probs, order)
			out[i] = append(out[i], tok)
			if !slices.Contains(stops, tok) && len(out[i]) < opts.MaxNewTokens && pos < total {
				next = append(next, i)
			}
		}
		live = next
		if len(live) == 0 || pos >= total {
			break
		}
		B := len(live)
		for r, i := range live {
			tokens[r] = out[i][len(out[i])-1]
			g.rows[r].cache = g.caches[i]
			g.rows[r].pos0 = pos
			g.starts[r] = pos
		}
		ws.B, ws.T, ws.pos0 = B, 1, pos
		m.forwardBody(ws, tokens[:B])
		m.gemmW(false, true, B, c.Vocab, c.Hidden, 1, ws.lnf, c.Hidden, m.head, m.head16, c.Hidden, 0, logits, c.Vocab)
		m.softcapLogits(logits[:B*c.Vocab], nil)
		for _, i := range live {
			g.caches[i].n++
		}
		pos++
	}
	return out, nil
}

// groupAttention appends each row's key and value to its own cache and
// attends the row to its cache, rows in parallel.
func (m *Model) groupAttention(ws *workspace, l int, qkv, out []float32) {
	c := &m.cfg
	ld, qd := c.QKVDim(), c.Heads*c.HeadDim
	kernel.ParallelFor(ws.B, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			m.cachedAttention(ws.group.rows[r], l, qkv[r*ld:(r+1)*ld], out[r*qd:(r+1)*qd])
		}
	})
}
