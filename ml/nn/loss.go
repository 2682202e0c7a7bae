package nn

import (
	"fmt"
	"math"

	"github.com/crucible-net/crucible/ml/kernel"
)

// IgnoreIndex marks a target that contributes neither loss nor gradient
// (prompt tokens, padding), as in torch.nn.CrossEntropyLoss.
const IgnoreIndex = -100

// CountTargets returns the number of targets that are not IgnoreIndex: the
// count CrossEntropy will return, known before calling it so the gradient
// scale can be set.
func CountTargets(targets []int32) int {
	n := 0
	for _, t := range targets {
		if t != IgnoreIndex {
			n++
		}
	}
	return n
}

// ceParts is the number of contiguous row ranges whose losses are summed
// separately (in row order) and then added in range order. It is fixed, so
// the total does not depend on GOMAXPROCS, and small, so the partial sums
// need no buffer from the caller.
const ceParts = 64

// CrossEntropy computes the softmax cross-entropy of n rows of logits
// [n, v] against targets [n] (IgnoreIndex skips a row), reading each row
// from memory once (the loss and its gradient come out of the same sweep).
// It returns the loss summed over counted rows (in float64, in a
// fixed order) and the number of counted rows; the mean loss is sum/count.
//
// If dlogits is not nil it is OVERWRITTEN (the start of the backward pass;
// it may alias logits) with (softmax − onehot(target))·scale·rowScale[r]
// on counted rows and 0 on ignored rows. The caller picks scale: 1/count
// for a mean, 1/(count·accumSteps) under gradient accumulation (CountTargets
// gives count before the call). rowScale
// [n] is an optional per-row multiplier (nil means 1; preference losses
// such as DPO weight each token's log-probability). If rowLoss [n] is not
// nil it receives each row's loss −log p(target) (0 for ignored rows).
//
// It returns an error naming the first row whose target is neither
// IgnoreIndex nor in [0, v).
func CrossEntropy(logits []float32, targets []int32, n, v int, scale float32, rowScale, dlogits []float32, rowLoss []float64) (sum float64, count int, err error) {
	need("CrossEntropy", "logits", logits, n*v)
	if len(targets) < n {
		panic(fmt.Sprintf("nn.CrossEntropy: targets has %d entries for %d rows", len(targets), n))
	}
	needOpt("CrossEntropy", "dlogits", dlogits, n*v)
	needOpt("CrossEntropy", "rowScale", rowScale, n)
	if rowLoss != nil && len(rowLoss) < n {
		panic(fmt.Sprintf("nn.CrossEntropy: rowLoss has %d entries for %d rows", len(rowLoss), n))
	}
	for r, t := range targets[:n] {
		if t == IgnoreIndex {
			continue
		}
		if t < 0 || int(t) >= v {
			return 0, 0, fmt.Errorf("cross-entropy: target %d at row %d is outside the vocabulary [0, %d) and is not the ignore index %d", t, r, v, IgnoreIndex)
		}
		count++
	}
	per := max(1, (n+ceParts-1)/ceParts)
	var partial [ceParts]float64
	used := (n + per - 1) / per // the ranges that hold rows
	kernel.ParallelFor(used, max(1, (1<<16)/max(1, per*v)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			var ps float64
			for r := p * per; r < min((p+1)*per, n); r++ {
				l := ceRow(logits[r*v:(r+1)*v], targets[r], scale, rowScale, dlogits, r, v)
				if rowLoss != nil {
					rowLoss[r] = l
				}
				ps += l
			}
			partial[p] = ps
		}
	})
	for _, p := range partial {
		sum += p
	}
	return sum, count, nil
}

// ceRow handles one row: its loss, and its gradient when dlogits is set.
func ceRow(x []float32, t int32, scale float32, rowScale, dlogits []float32, r, v int) float64 {
	if t == IgnoreIndex {
		if dlogits != nil {
			clear(dlogits[r*v : (r+1)*v])
		}
		return 0
	}
	mx := rowMax(x)
	xt := x[t] // read before dlogits (which may alias x) is written
	if dlogits == nil {
		s := expSum64(nil, x, -mx)
		return float64(mx) + math.Log(s) - float64(xt)
	}
	// One exponential per logit: store e^(x−max) in d (index by index, which
	// is safe when d aliases x), then scale it.
	d := dlogits[r*v : (r+1)*v]
	s := expSum64(d, x, -mx)
	loss := float64(mx) + math.Log(s) - float64(xt)
	g := scale
	if rowScale != nil {
		g *= rowScale[r]
	}
	scaleTo(d, d, float32(1/s)*g)
	d[t] -= g
	return loss
}
