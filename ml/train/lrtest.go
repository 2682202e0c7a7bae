package train

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/crucible-net/crucible/ml/optim"
)

// rangeSteps is the number of steps of the learning-rate range test.
const rangeSteps = 10

// DefaultLR is the learning rate used when none is given and the range
// test cannot run (no time for it, or it finds nothing better): higher for
// small models, higher for LoRA (whose adapters start at zero) than for
// full fine-tuning, and ten times lower for DPO than for SFT.
func DefaultLR(params int, lora, dpo bool) float64 {
	lr := 3e-5
	switch {
	case params <= 50_000_000:
		lr = 3e-4
	case params <= 500_000_000:
		lr = 1e-4
	}
	if lora {
		lr *= 3
	}
	if dpo {
		lr /= 10
	}
	return roundSig(lr)
}

// roundSig rounds a learning rate to two significant digits.
func roundSig(x float64) float64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 2, 64), 64)
	if err != nil {
		return x
	}
	return v
}

// rangeTest picks a learning rate with a short range test: rangeSteps
// optimizer steps whose rate grows geometrically over three and a half
// decades, each followed by the loss on a fixed probe set; the rate at the
// lowest probe loss, divided by 4, is chosen (clamped to the range's
// lower half). The weights are restored afterwards and the data order is
// not consumed. The test is skipped, with the default rate, when it would
// take more than 15% of the time left, or when the run plans fewer than
// four times its steps (it would cost a third of the run or more).
func (r *run) rangeTest(ctx context.Context) (float64, string, error) {
	lora := r.m.LoRA() != nil && !r.m.TrainsBase()
	_, isDPO := r.obj.(*dpo)
	def := DefaultLR(r.m.NumParams(), lora, isDPO)
	if r.total < 4*rangeSteps {
		return def, fmt.Sprintf("default for %s: the run plans %d steps, too few to spend %d on a range test", kind(lora, isDPO), r.total, rangeSteps), nil
	}
	lo, hi := def/30, def*100
	start := takeSnapshot(r.params, nil)
	defer start.restore(r.params)
	probeFLOPs := r.cost.forward(r.obj.probeLens()...)
	t0 := r.meter()
	base, err := r.obj.probe(ctx)
	if err != nil {
		return 0, "", err
	}
	r.charge(probeFLOPs)
	probeDur := r.meter().Sub(t0)
	opt := optim.NewAdamW(r.params, optim.AdamWConfig{LR: lo, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	batches := epochBatches(r.obj.lengths(), r.cfg.BatchSize, r.batchTokens(), r.cfg.Seed^0x6c72, 0)
	best, bestLR := base, 0.0
	var losses []float64
	for i := 0; i < rangeSteps; i++ {
		lr := lo * math.Pow(hi/lo, float64(i)/float64(rangeSteps-1))
		t1 := r.meter()
		optim.ZeroGrads(r.params)
		mb := []microBatch{batches.at(i % batches.len())}
		out, err := r.obj.step(mb)
		if err != nil {
			return 0, "", err
		}
		r.charge(r.stepFLOPs(mb))
		if !finite(out.loss) {
			break
		}
		if gn := optim.ClipGradNorm(r.params, max(r.cfg.MaxGradNorm, 1)); !finite(gn) {
			break
		}
		opt.Step(lr)
		l, err := r.obj.probe(ctx)
		if err != nil {
			return 0, "", err
		}
		r.charge(probeFLOPs)
		if i == 0 && !r.hard.IsZero() {
			per := r.meter().Sub(t1) + probeDur
			if cost := per * rangeSteps; float64(cost) > 0.15*float64(r.timeLeft()+r.meter().Sub(t0)) {
				return def, fmt.Sprintf("default for %s: the time budget is too short for a range test (%s of %d steps)", kind(lora, isDPO), cost.Round(time.Millisecond), rangeSteps), nil
			}
		}
		losses = append(losses, l)
		if !finite(l) || l > 4*base+1 {
			break
		}
		if l < best {
			best, bestLR = l, lr
		}
	}
	if bestLR == 0 {
		return def, fmt.Sprintf("default for %s: the range test (%g to %g over %d steps) found no rate that lowered the probe loss %.4f", kind(lora, isDPO), lo, hi, rangeSteps, base), nil
	}
	lr := roundSig(math.Max(lo, math.Min(bestLR/4, math.Sqrt(lo*hi))))
	return lr, fmt.Sprintf("range test over %d steps from %.2g to %.2g (%s): probe loss fell from %.4f to a minimum %.4f at %.3g; a quarter of that rate, at most %.2g", rangeSteps, lo, hi, kind(lora, isDPO), base, best, bestLR, math.Sqrt(lo*hi)), nil
}

func kind(lora, dpo bool) string {
	k := "full fine-tuning"
	if lora {
		k = "LoRA"
	}
	if dpo {
		k += " DPO"
	}
	return k
}
