package model

import (
	"math"

	"github.com/crucible-net/crucible/ml/kernel"
)

// Final logit soft-capping (Gemma 2's final_logit_softcapping): the LM
// head's logits z become c·tanh(z/c) before the softmax.

// softcapLogits caps logits in place when the config asks for it, keeping
// the capped values in capped (same length or longer) for softcapBwd.
func (m *Model) softcapLogits(logits, capped []float32) {
	c := float32(m.cfg.FinalSoftcap)
	if c <= 0 {
		return
	}
	kernel.ParallelFor(len(logits), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := c * float32(math.Tanh(float64(logits[i]/c)))
			logits[i] = v
			if capped != nil {
				capped[i] = v
			}
		}
	})
}

// softcapBwd turns the gradient with respect to the capped logits (in d)
// into the gradient with respect to the raw ones: d·(1 − (capped/c)²).
func (m *Model) softcapBwd(d, capped []float32) {
	c := float32(m.cfg.FinalSoftcap)
	if c <= 0 {
		return
	}
	kernel.ParallelFor(len(d), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			t := capped[i] / c
			d[i] *= 1 - t*t
		}
	})
}
