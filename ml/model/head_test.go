package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestHeadBlocks scores the same batch with the head's default blocks (one
// block on these tiny models) and with blocks of a few rows and columns,
// so that the online log-sum-exp, the recomputation and the accumulation
// of the gradients cross every edge: losses and gradients must agree to
// rounding, with sequence and position weights too.
func TestHeadBlocks(t *testing.T) {
	defer func(r, c int) { headRows, headCols = r, c }(headRows, headCols)
	for name, cfg := range tinyConfigs() {
		t.Run(name, func(t *testing.T) {
			m, err := New(cfg, 4)
			if err != nil {
				t.Fatal(err)
			}
			m.SetTrainBase(true)
			b := randomBatch(rand.New(rand.NewPCG(41, 42)), cfg.Vocab, 3, 9)
			b.Weights = []float32{1, -0.5, 2}
			b.PositionWeight = func(pos int, logp float64) float32 { return float32(1 + 0.1*float64(pos%3) + 0.01*logp) }
			run := func(rows, cols int) (Loss, Loss, []float32) {
				headRows, headCols = rows, cols
				m.ReleaseWorkspace()
				m.ZeroGrads()
				l, err := m.ForwardBackward(b, 0)
				if err != nil {
					t.Fatal(err)
				}
				ev, err := m.Evaluate(b, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				return l, ev, append([]float32(nil), m.Grads()...)
			}
			l1, e1, g1 := run(1024, 2048)
			l2, e2, g2 := run(4, 7)
			if math.Abs(l1.Sum-l2.Sum) > 1e-5*math.Abs(l1.Sum) || l1.Count != l2.Count || math.Abs(e1.Sum-e2.Sum) > 1e-5*math.Abs(e1.Sum) {
				t.Errorf("losses: one block %+v (eval %+v), small blocks %+v (eval %+v)", l1, e1, l2, e2)
			}
			if d := relDiff(g2, g1); d > 1e-5 {
				t.Errorf("gradients differ by %.3g between block sizes", d)
			}
		})
	}
}

// TestHeadFusedGradient trains LoRA adapters (the head frozen, so its
// gradient is fused into the forward pass) and checks losses and adapter
// gradients against the two-pass head, with default and small blocks and
// sequence and position weights, on a base held in float32 and in bf16.
func TestHeadFusedGradient(t *testing.T) {
	defer func(r, c int, f bool) { headRows, headCols, headFuse = r, c, f }(headRows, headCols, headFuse)
	for name, cfg := range tinyConfigs() {
		if cfg.FinalSoftcap > 0 {
			continue // two passes always
		}
		for _, half := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/bf16base=%v", name, half), func(t *testing.T) {
				newM := New
				if half {
					newM = NewBF16
				}
				m, err := newM(cfg, 4)
				if err != nil {
					t.Fatal(err)
				}
				l, err := m.AddLoRA(LoRAConfig{Rank: 2, Alpha: 4, TargetModules: DefaultLoRATargets(cfg), Seed: 3})
				if err != nil {
					t.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(43, 44))
				for i := range l.params {
					l.params[i] = float32(rng.NormFloat64()) * 0.1
				}
				b := randomBatch(rng, cfg.Vocab, 3, 9)
				b.Weights = []float32{1, -0.5, 2}
				b.PositionWeight = func(pos int, logp float64) float32 { return float32(1 + 0.1*float64(pos%3) + 0.01*logp) }
				run := func(rows, cols int, fuse bool) (Loss, []float32) {
					headRows, headCols, headFuse = rows, cols, fuse
					m.ReleaseWorkspace()
					clear(l.grads)
					loss, err := m.ForwardBackward(b, 0)
					if err != nil {
						t.Fatal(err)
					}
					return loss, append([]float32(nil), l.grads...)
				}
				l0, g0 := run(1024, 2048, false)
				for _, bl := range [][2]int{{1024, 2048}, {4, 7}, {5, 3}} {
					l1, g1 := run(bl[0], bl[1], true)
					if math.Abs(l1.Sum-l0.Sum) > 1e-5*math.Abs(l0.Sum) || l1.Count != l0.Count {
						t.Errorf("blocks %v: fused loss %+v, two passes %+v", bl, l1, l0)
					}
					if d := relDiff(g1, g0); d > 1e-5 || math.IsNaN(d) {
						t.Errorf("blocks %v: adapter gradients differ by %.3g from two passes", bl, d)
					}
				}
			})
		}
	}
}
