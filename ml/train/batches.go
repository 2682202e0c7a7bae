package train

import (
	"math/rand/v2"
	"slices"
	"sort"
)

// microBatch is the examples (indices into the training sequences or
// pairs) of one forward-backward pass.
type microBatch []int

// epochOrder is one epoch's micro-batches, compactly: the example indices
// grouped by micro-batch, and each micro-batch's range of them in
// training order. Four bytes per example, so that an epoch over tens of
// millions of examples fits in little memory.
type epochOrder struct {
	idx   []int32
	spans [][2]int32
}

// len is the number of micro-batches.
func (o epochOrder) len() int { return len(o.spans) }

// at returns micro-batch k.
func (o epochOrder) at(k int) microBatch {
	sp := o.spans[k]
	mb := make(microBatch, sp[1]-sp[0])
	for j, i := range o.idx[sp[0]:sp[1]] {
		mb[j] = int(i)
	}
	return mb
}

// perm32 is rng.Perm(n) in int32s: the same permutation, half the memory.
func perm32(rng *rand.Rand, n int) []int32 {
	p := make([]int32, n)
	for i := range p {
		p[i] = int32(i)
	}
	rng.Shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}

// epochBatches orders one epoch of n examples into micro-batches, as a
// length-grouped sampler does: a seeded shuffle, then within windows of 32
// micro-batches the examples are sorted by length so that each micro-batch
// pads little, and finally the micro-batches themselves are shuffled. A
// micro-batch holds at most batch examples and, when maxTokens > 0, at
// most maxTokens in B·T (but always at least one example). The order is a
// pure function of (seed, epoch), computed from the lengths alone: the
// examples themselves are not read.
func epochBatches(lengths []int, batch, maxTokens int, seed uint64, epoch int) epochOrder {
	n := len(lengths)
	rng := rand.New(rand.NewPCG(seed, 0x65706f6368^uint64(epoch)))
	perm := perm32(rng, n)
	window := 32 * batch
	var spans [][2]int32
	for lo := 0; lo < n; lo += window {
		w := perm[lo:min(lo+window, n)]
		sort.SliceStable(w, func(a, b int) bool { return lengths[w[a]] > lengths[w[b]] })
		start, longest := lo, 0
		for k, i := range w {
			at := lo + k
			l := max(lengths[i], longest)
			if cur := at - start; cur > 0 && (cur >= batch || (maxTokens > 0 && (cur+1)*l > maxTokens)) {
				spans = append(spans, [2]int32{int32(start), int32(at)})
				start, longest, l = at, 0, lengths[i]
			}
			longest = l
		}
		if end := min(lo+window, n); end > start {
			spans = append(spans, [2]int32{int32(start), int32(end)})
		}
	}
	rng.Shuffle(len(spans), func(a, b int) { spans[a], spans[b] = spans[b], spans[a] })
	return epochOrder{idx: perm, spans: spans}
}

// splitVal holds out val examples of n by a seeded draw, returning the
// training and validation indices (each in increasing order).
func splitVal(n, val int, seed uint64) (trainIdx, valIdx []int) {
	t, v := splitVal32(n, val, seed)
	widen := func(x []int32) []int {
		out := make([]int, len(x))
		for i, e := range x {
			out[i] = int(e)
		}
		return out
	}
	return widen(t), widen(v)
}

// splitVal32 is splitVal in int32s, for datasets of millions of examples.
func splitVal32(n, val int, seed uint64) (trainIdx, valIdx []int32) {
	rng := rand.New(rand.NewPCG(seed, 0x76616c))
	perm := perm32(rng, n)
	valIdx = slices.Clone(perm[:val])
	trainIdx = perm[val:]
	slices.Sort(valIdx)
	slices.Sort(trainIdx)
	return trainIdx, valIdx
}

// autoValSize is the validation slice Config.ValSize = 0 picks.
func autoValSize(n int) int {
	if n < 40 {
		return 0
	}
	return min(200, max(4, n/20))
}
