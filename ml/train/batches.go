package train

import (
	"math/rand/v2"
	"slices"
	"sort"
)

// microBatch is the examples (indices into the training sequences or
// pairs) of one forward-backward pass.
type microBatch []int

// epochBatches orders one epoch of n examples into micro-batches, as a
// length-grouped sampler does: a seeded shuffle, then within windows of 32
// micro-batches the examples are sorted by length so that each micro-batch
// pads little, and finally the micro-batches themselves are shuffled. A
// micro-batch holds at most batch examples and, when maxTokens > 0, at
// most maxTokens in B·T (but always at least one example). The order is a
// pure function of (seed, epoch).
func epochBatches(lengths []int, batch, maxTokens int, seed uint64, epoch int) []microBatch {
	n := len(lengths)
	rng := rand.New(rand.NewPCG(seed, 0x65706f6368^uint64(epoch)))
	perm := rng.Perm(n)
	window := 32 * batch
	var out []microBatch
	for lo := 0; lo < n; lo += window {
		w := slices.Clone(perm[lo:min(lo+window, n)])
		sort.SliceStable(w, func(a, b int) bool { return lengths[w[a]] > lengths[w[b]] })
		var cur microBatch
		longest := 0
		for _, i := range w {
			l := max(lengths[i], longest)
			if len(cur) > 0 && (len(cur) >= batch || (maxTokens > 0 && (len(cur)+1)*l > maxTokens)) {
				out = append(out, cur)
				cur, longest, l = nil, 0, lengths[i]
			}
			cur = append(cur, i)
			longest = l
		}
		if len(cur) > 0 {
			out = append(out, cur)
		}
	}
	rng.Shuffle(len(out), func(a, b int) { out[a], out[b] = out[b], out[a] })
	return out
}

// splitVal holds out val examples of n by a seeded draw, returning the
// training and validation indices (each in increasing order).
func splitVal(n, val int, seed uint64) (trainIdx, valIdx []int) {
	rng := rand.New(rand.NewPCG(seed, 0x76616c))
	perm := rng.Perm(n)
	valIdx = slices.Clone(perm[:val])
	trainIdx = slices.Clone(perm[val:])
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
