package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// GenerateOptions controls Generate.
type GenerateOptions struct {
	MaxNewTokens int     // required, > 0
	Temperature  float64 // 0: greedy (argmax); otherwise logits are divided by it before sampling
	TopP         float64 // nucleus sampling: keep the smallest set of tokens with probability ≥ TopP (0 or 1: all)
	// StopTokens end generation when produced (the stop token is returned).
	// Nil means the model's EOS ids; an empty non-nil slice means none.
	StopTokens []int32
	Seed       uint64 // sampling is a pure function of the seed, prompt and model
}

// kvCache holds every layer's keys and values for positions [0, n).
type kvCache struct {
	k, v [][]float32 // per layer [max, KV·hd]
	n    int
}

// Generate continues prompt with up to opts.MaxNewTokens tokens, using a
// key/value cache so that each new token costs one position's forward
// pass. onToken (optional) is called with every generated token as soon as
// it exists; returning false stops generation. It returns the generated
// tokens (without the prompt).
func (m *Model) Generate(prompt []int32, opts GenerateOptions, onToken func(tok int32) bool) ([]int32, error) {
	c := &m.cfg
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
	total := len(prompt) + opts.MaxNewTokens
	limit := c.MaxPositions
	if total > limit {
		if len(prompt) >= limit {
			return nil, fmt.Errorf("generate: prompt of %d tokens leaves no room within the %d positions the model supports", len(prompt), limit)
		}
		total = limit
	}
	stops := opts.StopTokens
	if stops == nil {
		for _, e := range m.Generation.EOS {
			stops = append(stops, int32(e))
		}
	}
	kvd := c.KVHeads * c.HeadDim
	cache := &kvCache{k: make([][]float32, c.Layers), v: make([][]float32, c.Layers)}
	for l := range cache.k {
		cache.k[l], cache.v[l] = make([]float32, total*kvd), make([]float32, total*kvd)
	}
	if err := m.prepare(total); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	ws := m.newWorkspace(len(prompt), len(prompt), false, total)
	ws.cache = cache
	rng := rand.New(rand.NewPCG(opts.Seed, 0x67656e))
	logits := make([]float32, c.Vocab)
	probs := make([]float64, c.Vocab)
	order := make([]int32, c.Vocab)

	var out []int32
	next := prompt
	for cache.n < total {
		end := cache.n + len(next)
		if c.longRope(end) && !m.ropes.useLong {
			// LongRoPE: once the sequence outgrows the pretraining context,
			// transformers recomputes every position with the long factors.
			next = append(append([]int32(nil), prompt...), out...)
			cache.n = 0
			ws = m.newWorkspace(len(next), len(next), false, total)
			ws.cache = cache
		}
		m.ropes.useLong = c.longRope(end)
		ws.T, ws.pos0 = len(next), cache.n
		m.forwardBody(ws, next)
		cache.n += len(next)
		last := ws.lnf[(len(next)-1)*c.Hidden : len(next)*c.Hidden]
		m.gemmW(false, true, 1, c.Vocab, c.Hidden, 1, last, c.Hidden, m.head, m.head16, c.Hidden, 0, logits, c.Vocab)
		m.softcapLogits(logits, nil)
		tok := sample(logits, opts, rng, probs, order)
		out = append(out, tok)
		if onToken != nil && !onToken(tok) {
			break
		}
		if slices.Contains(stops, tok) || len(out) >= opts.MaxNewTokens || cache.n >= total {
			break
		}
		next = out[len(out)-1:]
	}
	return out, nil
}

// sample picks the next token from logits.
func sample(logits []float32, opts GenerateOptions, rng *rand.Rand, probs []float64, order []int32) int32 {
	if opts.Temperature == 0 {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		return int32(best)
	}
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var sum float64
	for i, v := range logits {
		p := math.Exp((float64(v) - mx) / opts.Temperature)
		probs[i] = p
		sum += p
	}
	for i := range probs {
		probs[i] /= sum
	}
	cands := order[:0]
	for i := range probs {
		cands = append(cands, int32(i))
	}
	if opts.TopP > 0 && opts.TopP < 1 {
		sort.SliceStable(cands, func(a, b int) bool { return probs[cands[a]] > probs[cands[b]] })
		var cum float64
		for i, t := range cands {
			cum += probs[t]
			if cum >= opts.TopP {
				cands = cands[:i+1]
				break
			}
		}
	}
	var mass float64
	for _, t := range cands {
		mass += probs[t]
	}
	u := rng.Float64() * mass
	for _, t := range cands {
		u -= probs[t]
		if u < 0 {
			return t
		}
	}
	return cands[len(cands)-1]
}
