package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/crucible-net/crucible/ml/kernel"
)

// TestBF16MatchesFP32 runs the same batch through every tiny model in fp32
// and in bf16 arithmetic (full fine-tuning and LoRA) and checks that the
// loss, the logits and the gradients agree to bf16's precision: bf16
// products with float32 sums stay within a percent of the fp32 pass.
func TestBF16MatchesFP32(t *testing.T) {
	for name, cfg := range tinyConfigs() {
		for _, mode := range []string{"full", "lora"} {
			t.Run(name+"/"+mode, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(21, 22))
				m, err := New(cfg, 3)
				if err != nil {
					t.Fatal(err)
				}
				// Plain initialization: scaleParams's large weights saturate
				// the softmax of the q/k-normed families, where any rounding
				// is amplified.
				var grads func() []float32
				if mode == "full" {
					m.SetTrainBase(true)
					grads = m.Grads
				} else {
					l, err := m.AddLoRA(LoRAConfig{Rank: 4, Alpha: 8, TargetModules: DefaultLoRATargets(cfg), Seed: 5})
					if err != nil {
						t.Fatal(err)
					}
					for i := range l.params { // B is zero at init: make the adapter carry signal
						l.params[i] += float32(rng.NormFloat64()) * 0.05
					}
					grads = l.Grads
				}
				b := randomBatch(rng, cfg.Vocab, 3, 9)
				pass := func(p kernel.Precision) (Loss, []float32, []float32) {
					m.SetPrecision(p)
					m.ZeroGrads()
					loss, err := m.ForwardBackward(b, 0)
					if err != nil {
						t.Fatal(err)
					}
					logits, err := m.Logits(b)
					if err != nil {
						t.Fatal(err)
					}
					return loss, logits, append([]float32(nil), grads()...)
				}
				l32, z32, g32 := pass(kernel.FP32)
				l16, z16, g16 := pass(kernel.BF16)
				if d := math.Abs(l16.Mean()-l32.Mean()) / l32.Mean(); d > 0.01 {
					t.Errorf("bf16 loss %.6f vs fp32 %.6f (%.2f%% apart)", l16.Mean(), l32.Mean(), 100*d)
				}
				if l16.Mean() == l32.Mean() {
					t.Errorf("bf16 loss equals fp32 loss %.8f exactly: the bf16 path did not run", l32.Mean())
				}
				if e := relDiff(z16, z32); e > 0.03 {
					t.Errorf("bf16 logits differ from fp32 by %.3g (relative norm)", e)
				}
				if e := relDiff(g16, g32); e > 0.08 {
					t.Errorf("bf16 gradients differ from fp32 by %.3g (relative norm)", e)
				}
			})
		}
	}
}

// relDiff is ‖a−b‖/‖b‖.
func relDiff(a, b []float32) float64 {
	var num, den float64
	for i := range a {
		d := float64(a[i] - b[i])
		num += d * d
		den += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(num / den)
}
