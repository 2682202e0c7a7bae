package optim

import (
	"math"

	"github.com/crucible-net/crucible/ml/kernel"
)

// normBlock is the number of elements whose squares are summed into one
// float64 partial. Partials are then added in block order, so the norm does
// not depend on how many cores computed it.
const normBlock = 1 << 12

// GradNorm returns the global L2 norm of all gradients, accumulated in
// float64 in a fixed order (deterministic across machines and core counts).
func GradNorm(params []*Param) float64 {
	var sum float64
	var partial []float64
	for _, p := range params {
		g := p.Grad
		nb := (len(g) + normBlock - 1) / normBlock
		if cap(partial) < nb {
			partial = make([]float64, nb)
		}
		part := partial[:nb]
		kernel.ParallelFor(nb, 4, func(lo, hi int) {
			for b := lo; b < hi; b++ {
				part[b] = sumSq(g[b*normBlock : min((b+1)*normBlock, len(g))])
			}
		})
		for _, s := range part {
			sum += s
		}
	}
	return math.Sqrt(sum)
}

// sumSq returns Σ x² in float64 over eight interleaved partial sums (lane
// j%8 takes x[j]) added in a fixed order: the vector code and this loop
// give the same bits, and eight independent sums run several times faster
// than one.
func sumSq(x []float32) float64 {
	var acc [8]float64
	j0 := 0
	if useAVX2 {
		j0 = len(x) &^ 7
		if j0 > 0 {
			sumSqAVX2(&x[0], j0, &acc)
		}
	}
	for j := j0; j < len(x); j++ {
		acc[j%8] += float64(x[j]) * float64(x[j])
	}
	return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

// ClipScale is the factor ClipGradNorm would scale the gradients by for a
// global norm: maxNorm/(norm+1e-6) when norm exceeds maxNorm, else 1 (and 1
// for a non-finite norm, which the caller should treat as a failed step).
// Pass it to AdamW.StepScaled to clip without a pass over the gradients.
func ClipScale(norm, maxNorm float64) float32 {
	if math.IsNaN(norm) || math.IsInf(norm, 0) || norm <= maxNorm {
		return 1
	}
	return float32(maxNorm / (norm + 1e-6))
}

// ClipGradNorm computes the global L2 norm of all gradients (see GradNorm)
// and, when it exceeds maxNorm, scales every gradient by
// maxNorm/(norm+1e-6), as torch.nn.utils.clip_grad_norm_ does. It returns
// the norm before clipping. A non-finite norm (an overflowed or NaN
// gradient) is returned without scaling anything, so the caller can skip
// the step.
func ClipGradNorm(params []*Param, maxNorm float64) float64 {
	norm := GradNorm(params)
	if s := ClipScale(norm, maxNorm); s != 1 {
		ScaleGrads(params, s)
	}
	return norm
}
