// Package optim holds crucible's optimizers and learning-rate schedules:
// AdamW with decoupled weight decay (the semantics of PyTorch's
// torch.optim.AdamW), global gradient-norm clipping, gradient scaling for
// accumulation, and warmup + cosine / linear / constant schedules.
//
// Parameters are flat float32 slices owned by the model; the optimizer keeps
// its moment estimates beside them. Every update is deterministic: the same
// inputs give the same bits whatever the number of cores, so a checkpointed
// run resumes exactly.
package optim

import (
	"fmt"
	"math"
	"sort"

	"github.com/crucible-net/crucible/ml/kernel"
)

// Param is one trainable tensor: its values, its gradient (same length) and
// whether it is exempt from weight decay (biases, norm weights).
type Param struct {
	Name    string
	Data    []float32
	Grad    []float32
	NoDecay bool
}

// AdamWConfig holds the AdamW hyperparameters.
type AdamWConfig struct {
	// LR is the peak learning rate; schedules scale it and Step takes the
	// rate of each step explicitly. Defaults to 1e-4.
	LR float64
	// Beta1 and Beta2 are the decay rates of the first and second moment
	// estimates. Default to 0.9 and 0.999.
	Beta1, Beta2 float64
	// Eps is added to the denominator for numerical stability. Defaults
	// to 1e-8.
	Eps float64
	// WeightDecay is the decoupled decay coefficient applied to params
	// without NoDecay. Defaults to 0.01.
	WeightDecay float64
	// BF16State keeps both moments as bfloat16 instead of float32, halving
	// the optimizer's memory (8 → 4 bytes per trained parameter), with
	// stochastic rounding so that updates far below a bf16 step (β2 =
	// 0.999 moves the second moment by 0.1% a step) still count on
	// average. The rounding draws its bits from a hash of the step and the
	// element's index, so runs stay deterministic. The arithmetic of the
	// update is float32 either way.
	BF16State bool
}

// DefaultAdamW returns the default configuration.
func DefaultAdamW() AdamWConfig {
	return AdamWConfig{LR: 1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
}

// Validate reports a configuration that cannot train.
func (c AdamWConfig) Validate() error {
	switch {
	case !(c.LR >= 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("adamw: learning rate %v must be finite and >= 0", c.LR)
	case !(c.Beta1 >= 0 && c.Beta1 < 1):
		return fmt.Errorf("adamw: beta1 %v must be in [0, 1)", c.Beta1)
	case !(c.Beta2 >= 0 && c.Beta2 < 1):
		return fmt.Errorf("adamw: beta2 %v must be in [0, 1)", c.Beta2)
	case !(c.Eps > 0) || math.IsInf(c.Eps, 0):
		return fmt.Errorf("adamw: eps %v must be finite and > 0", c.Eps)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0):
		return fmt.Errorf("adamw: weight decay %v must be finite and >= 0", c.WeightDecay)
	}
	return nil
}

// stepGrain is the smallest number of elements one worker updates.
const stepGrain = 1 << 14

// AdamW is the AdamW optimizer over a fixed list of params. It is not safe
// for concurrent use.
type AdamW struct {
	cfg      AdamWConfig
	params   []*Param
	m, v     [][]float32 // the moments (nil with BF16State)
	m16, v16 [][]uint16  // the moments as bfloat16 (BF16State)
	starts   []int       // starts[i]: index of params[i]'s first element in the flat range; starts[len] = total
	step     int

	// Per-step scalars read by the update closure; set by Step.
	decay     float32 // 1 - lr·wd
	stepSize  float32 // lr / (1 - β1^t)
	bc2Sqrt   float32 // sqrt(1 - β2^t)
	gradScale float32 // multiplies every gradient (clipping), 1 when none
	update    func(lo, hi int)
}

// NewAdamW returns an optimizer for params with cfg (see
// AdamWConfig.Validate). Each param's Grad must have the length of its Data
// whenever Step runs; Check verifies that. The moment buffers are allocated
// here, once, so that Step allocates nothing.
func NewAdamW(params []*Param, cfg AdamWConfig) *AdamW {
	o := &AdamW{cfg: cfg, params: params}
	o.starts = make([]int, len(params)+1)
	if cfg.BF16State {
		o.m16, o.v16 = make([][]uint16, len(params)), make([][]uint16, len(params))
	} else {
		o.m, o.v = make([][]float32, len(params)), make([][]float32, len(params))
	}
	for i, p := range params {
		if cfg.BF16State {
			o.m16[i], o.v16[i] = make([]uint16, len(p.Data)), make([]uint16, len(p.Data))
		} else {
			o.m[i], o.v[i] = make([]float32, len(p.Data)), make([]float32, len(p.Data))
		}
		o.starts[i+1] = o.starts[i] + len(p.Data)
	}
	o.update = o.updateRange
	if cfg.BF16State {
		o.update = o.updateRangeBF16
	}
	return o
}

// Config returns the optimizer's configuration.
func (o *AdamW) Config() AdamWConfig { return o.cfg }

// Params returns the params the optimizer updates.
func (o *AdamW) Params() []*Param { return o.params }

// StepCount returns the number of steps taken so far.
func (o *AdamW) StepCount() int { return o.step }

// Check verifies that every param's gradient has the length of its data and
// that the param list still matches the one the optimizer was built with.
func (o *AdamW) Check() error {
	for i, p := range o.params {
		if len(p.Data) != o.starts[i+1]-o.starts[i] {
			return fmt.Errorf("adamw: param %q: data has %d elements, optimizer state %d", p.Name, len(p.Data), o.starts[i+1]-o.starts[i])
		}
		if len(p.Grad) != len(p.Data) {
			return fmt.Errorf("adamw: param %q: grad has %d elements, data %d", p.Name, len(p.Grad), len(p.Data))
		}
	}
	return nil
}

// Step applies one AdamW update with learning rate lr (usually
// Schedule.LR(StepCount())) to every param, as torch.optim.AdamW does:
//
//	t += 1
//	p ← p·(1 − lr·wd)                       (wd = 0 for NoDecay params)
//	m ← β1·m + (1 − β1)·g
//	v ← β2·v + (1 − β2)·g²
//	p ← p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)
//
// The update is one fused pass over all params, split across cores by
// element ranges; it allocates no memory of its own. Step panics if a
// gradient is shorter than its param (a programming error; see Check).
func (o *AdamW) Step(lr float64) { o.StepScaled(lr, 1) }

// StepScaled is Step on the gradients multiplied by gradScale (each
// product rounded to float32, as ScaleGrads would leave them), without
// writing them: gradient clipping fused into the update, one pass over
// the gradients fewer (see ClipScale).
func (o *AdamW) StepScaled(lr float64, gradScale float32) {
	o.gradScale = gradScale
	o.step++
	t := float64(o.step)
	o.stepSize = float32(lr / (1 - math.Pow(o.cfg.Beta1, t)))
	o.bc2Sqrt = float32(math.Sqrt(1 - math.Pow(o.cfg.Beta2, t)))
	o.decay = float32(1 - lr*o.cfg.WeightDecay)
	kernel.ParallelFor(o.starts[len(o.params)], stepGrain, o.update)
}

// updateRange updates the elements [lo, hi) of the flat range over all
// params.
func (o *AdamW) updateRange(lo, hi int) {
	b2 := float32(o.cfg.Beta2)
	b1 := float32(o.cfg.Beta1)
	w1 := float32(1 - o.cfg.Beta1)
	w2 := float32(1 - o.cfg.Beta2)
	eps := float32(o.cfg.Eps)
	stepSize, bc2Sqrt := o.stepSize, o.bc2Sqrt
	i := sort.Search(len(o.params), func(k int) bool { return o.starts[k+1] > lo })
	for ; i < len(o.params) && o.starts[i] < hi; i++ {
		p := o.params[i]
		a := max(lo, o.starts[i]) - o.starts[i]
		b := min(hi, o.starts[i+1]) - o.starts[i]
		data, grad, m, v := p.Data[a:b], p.Grad[a:b], o.m[i][a:b], o.v[i][a:b]
		grad, m, v = grad[:len(data)], m[:len(data)], v[:len(data)] // lets the compiler drop bounds checks
		decay := o.decay
		if p.NoDecay {
			decay = 1
		}
		// Every product is rounded explicitly (float32(...)) so that no
		// platform fuses it into an FMA: the update is bit-identical on
		// every machine, which auditors and resumed runs rely on. The
		// operation order follows PyTorch's single-tensor AdamW.
		gs := o.gradScale
		j0 := 0
		if useAVX2 {
			j0 = len(data) &^ 7
			if j0 > 0 {
				k := o.consts()
				k.decay = decay
				adamwAVX2(&data[0], &grad[0], &m[0], &v[0], j0, &k)
			}
		}
		for j := j0; j < len(data); j++ {
			g := grad[j]
			if gs != 1 {
				g = float32(g * gs)
			}
			x := float32(data[j] * decay)
			mj := float32(m[j]*b1) + float32(w1*g)
			vj := float32(v[j]*b2) + float32(w2*float32(g*g))
			m[j], v[j] = mj, vj
			denom := float32(float32(math.Sqrt(float64(vj)))/bc2Sqrt) + eps
			data[j] = x - float32(stepSize*float32(mj/denom))
		}
	}
}

// ZeroGrad sets every gradient to zero.
func (o *AdamW) ZeroGrad() { ZeroGrads(o.params) }

// ZeroGrads sets the gradients of params to zero.
func ZeroGrads(params []*Param) {
	for _, p := range params {
		clear(p.Grad)
	}
}

// ScaleGrads multiplies every gradient by s. For gradient accumulation, sum
// the gradients of k micro-batches into Grad (backward passes add to it),
// then call ScaleGrads(params, 1/k) before clipping and Step, so that the
// update sees the mean gradient of the k micro-batches.
func ScaleGrads(params []*Param, s float32) {
	for _, p := range params {
		g := p.Grad
		kernel.ParallelFor(len(g), stepGrain, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				g[i] *= s
			}
		})
	}
}
