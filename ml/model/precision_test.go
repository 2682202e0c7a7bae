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

// TestPackedBaseMatchesUnpacked trains LoRA on every tiny model with the
// base held in bf16 in bf16 arithmetic, with its weights' packed panels
// cached (packCache) and without: losses, adapter gradients and evaluation
// must be bit-identical, the cache must be used on the second step and
// stay within its bound.
func TestPackedBaseMatchesUnpacked(t *testing.T) {
	defer func(b int) { packCacheBytes = b }(packCacheBytes)
	for name, cfg := range tinyConfigs() {
		t.Run(name, func(t *testing.T) {
			run := func(limit int) (float64, float64, []float32, *packCache) {
				packCacheBytes = limit
				m, err := NewBF16(cfg, 3)
				if err != nil {
					t.Fatal(err)
				}
				m.SetPrecision(kernel.BF16)
				l, err := m.AddLoRA(LoRAConfig{Rank: 4, Alpha: 8, TargetModules: DefaultLoRATargets(cfg), Seed: 5})
				if err != nil {
					t.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(23, 24))
				for i := range l.params {
					l.params[i] += float32(rng.NormFloat64()) * 0.05
				}
				b := randomBatch(rng, cfg.Vocab, 5, 16) // 80 rows: products use the cache
				var loss Loss
				for range 2 {
					clear(l.grads)
					if loss, err = m.ForwardBackward(b, 0); err != nil {
						t.Fatal(err)
					}
				}
				ev, err := m.Evaluate(b, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				return loss.Sum, ev.Sum, append([]float32(nil), l.grads...), m.packs
			}
			l0, e0, g0, p0 := run(0)
			l1, e1, g1, p1 := run(1 << 30)
			if p0 == nil || p0.bytes != 0 || p0.cached() != 0 {
				t.Fatalf("a cache bounded at 0 bytes holds %+v", p0)
			}
			if p1 == nil || p1.cached() == 0 {
				t.Fatal("the products packed no weight into the cache")
			}
			if l0 != l1 || e0 != e1 {
				t.Errorf("loss %v / eval %v with packed weights, %v / %v without", l1, e1, l0, e0)
			}
			for i := range g0 {
				if math.Float32bits(g0[i]) != math.Float32bits(g1[i]) {
					t.Fatalf("adapter gradient %d: %v with packed weights, %v without", i, g1[i], g0[i])
				}
			}
			_, _, _, p2 := run(p1.bytes / 2)
			if p2.bytes > p1.bytes/2 || p2.cached() == 0 || p2.cached() >= p1.cached() {
				t.Errorf("a cache bounded at %d bytes holds %d bytes in %d weights (unbounded: %d in %d)", p1.bytes/2, p2.bytes, p2.cached(), p1.bytes, p1.cached())
			}
		})
	}
}

// cached counts the weights a packCache holds packed.
func (pc *packCache) cached() int {
	n := 0
	for _, p := range pc.packed {
		if p != nil {
			n++
		}
	}
	return n
}
