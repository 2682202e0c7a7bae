package nn

import (
	"fmt"
	"math"

	"github.com/crucible-net/crucible/ml/kernel"
)

// Cross-entropy over logits produced a block of columns at a time: a
// language model's head can then score many rows against a large
// vocabulary without holding [rows, V] logits. LSEState accumulates each
// row's log-sum-exp online over the blocks (the first pass); once it is
// known, CrossEntropyGradBlock turns each block, recomputed, into its
// share of the gradient (the second pass). Every row is independent and
// its blocks are folded in column order, so the results do not depend on
// GOMAXPROCS.

// LSEState is the running log-sum-exp of n rows: row r's logits seen so far
// sum to e^Max[r]·Sum[r]; Target[r] is its target's logit once seen.
type LSEState struct {
	Max    []float32
	Sum    []float64
	Target []float32
}

// Reset starts n rows afresh (the slices must hold n).
func (s *LSEState) Reset(n int) {
	for r := 0; r < n; r++ {
		s.Max[r] = float32(math.Inf(-1))
		s.Sum[r] = 0
		s.Target[r] = float32(math.NaN())
	}
}

// Update folds the block x [n, w] — columns [c0, c0+w) of n rows — into the
// state, noting each row's target logit when the target falls in the block.
func (s *LSEState) Update(x []float32, n, w, c0 int, targets []int32) {
	need("LSEState.Update", "x", x, n*w)
	if len(s.Max) < n || len(s.Sum) < n || len(s.Target) < n || len(targets) < n {
		panic(fmt.Sprintf("nn.LSEState.Update: state or targets shorter than %d rows", n))
	}
	kernel.ParallelFor(n, rowGrain(w), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := x[r*w : (r+1)*w]
			if t := int(targets[r]) - c0; t >= 0 && t < w {
				s.Target[r] = row[t]
			}
			bm := rowMax(row)
			switch {
			case math.IsInf(float64(s.Max[r]), -1):
				s.Max[r], s.Sum[r] = bm, expSum64(nil, row, -bm)
			case bm > s.Max[r]:
				s.Sum[r] = s.Sum[r]*math.Exp(float64(s.Max[r]-bm)) + expSum64(nil, row, -bm)
				s.Max[r] = bm
			default:
				s.Sum[r] += expSum64(nil, row, -s.Max[r])
			}
		}
	})
}

// UpdateExp is Update that also overwrites the block with e^(x − M[r]),
// M[r] being row r's running maximum after the block, and sets rescale[r]
// to e^(M_before − M[r]): the factor by which a sum over the row's earlier
// blocks taken against the old maximum must be multiplied to be taken
// against the new one (0 for a row's first block, which has no earlier
// sum). It is the only pass of a fused cross-entropy gradient: with
// A[r] = Σ over blocks of e^(x − M[r])·W (each block's product added after
// A[r] is multiplied by rescale[r]), softmax·W = A[r]/Sum[r] once every
// block is folded in, and no block needs computing twice.
func (s *LSEState) UpdateExp(x []float32, n, w, c0 int, targets []int32, rescale []float32) {
	need("LSEState.UpdateExp", "x", x, n*w)
	need("LSEState.UpdateExp", "rescale", rescale, n)
	if len(s.Max) < n || len(s.Sum) < n || len(s.Target) < n || len(targets) < n {
		panic(fmt.Sprintf("nn.LSEState.UpdateExp: state or targets shorter than %d rows", n))
	}
	kernel.ParallelFor(n, rowGrain(w), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := x[r*w : (r+1)*w]
			if t := int(targets[r]) - c0; t >= 0 && t < w {
				s.Target[r] = row[t]
			}
			bm := rowMax(row)
			switch {
			case math.IsInf(float64(s.Max[r]), -1):
				s.Max[r], rescale[r] = bm, 0
				s.Sum[r] = expSum64(row, row, -bm)
			case bm > s.Max[r]:
				f := math.Exp(float64(s.Max[r] - bm))
				s.Sum[r] = s.Sum[r]*f + expSum64(row, row, -bm)
				s.Max[r], rescale[r] = bm, float32(f)
			default:
				rescale[r] = 1
				s.Sum[r] += expSum64(row, row, -s.Max[r])
			}
		}
	})
}

// LSE is row r's log-sum-exp.
func (s *LSEState) LSE(r int) float64 { return float64(s.Max[r]) + math.Log(s.Sum[r]) }

// Loss is row r's cross-entropy, −log softmax(target): LSE − target logit.
func (s *LSEState) Loss(r int) float64 { return s.LSE(r) - float64(s.Target[r]) }

// CrossEntropyGradBlock overwrites the block x [n, w] of logits (columns
// [c0, c0+w) of n rows whose log-sum-exp is lse [n]) with its share of the
// cross-entropy gradient, (softmax − onehot(target))·g[r]; rows with g[r]
// = 0 become zero.
func CrossEntropyGradBlock(x []float32, n, w, c0 int, targets []int32, lse, g []float32) {
	need("CrossEntropyGradBlock", "x", x, n*w)
	need("CrossEntropyGradBlock", "lse", lse, n)
	need("CrossEntropyGradBlock", "g", g, n)
	if len(targets) < n {
		panic(fmt.Sprintf("nn.CrossEntropyGradBlock: targets has %d entries for %d rows", len(targets), n))
	}
	kernel.ParallelFor(n, rowGrain(w), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := x[r*w : (r+1)*w]
			if g[r] == 0 {
				clear(row)
				continue
			}
			expShift(row, row, -lse[r])
			scaleTo(row, row, g[r])
			if t := int(targets[r]) - c0; t >= 0 && t < w {
				row[t] -= g[r]
			}
		}
	})
}
