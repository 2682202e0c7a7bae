package model

import (
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
