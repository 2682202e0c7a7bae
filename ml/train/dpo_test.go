package train

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/optim"
)

// TestDPOGradient checks the DPO step's gradient against the loss it
// claims to minimize: along the gradient g, the directional derivative of
// the mean DPO loss, by central differences, must equal |g|².
func TestDPOGradient(t *testing.T) {
	m := tinyModel(t)
	m.SetTrainBase(true)
	ref, err := model.New(m.Config(), 0)
	if err != nil {
		t.Fatal(err)
	}
	copy(ref.Params(), m.Params())
	// Move the policy away from the reference so that margins are not 0.
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range m.Params() {
		m.Params()[i] += float32(rng.NormFloat64() * 0.02)
	}
	pairs := prefTask(6, 9)
	o := newDPO(m, ref, eval.PairsOf(pairs), nil, 0.5, eval.Options{})
	params := m.TrainableParams()
	optim.ZeroGrads(params)
	if _, err := o.step([]microBatch{{0, 1, 2}, {3, 4, 5}}); err != nil {
		t.Fatal(err)
	}
	g := make([]float64, len(m.Grads()))
	var g2 float64
	for i, v := range m.Grads() {
		g[i] = float64(v)
		g2 += g[i] * g[i]
	}
	loss := func() float64 {
		idx := []int{0, 1, 2, 3, 4, 5}
		r, err := o.evalPairs(context.Background(), eval.PairsOf(pairs), o.trainRef, idx)
		if err != nil {
			t.Fatal(err)
		}
		return r.Loss
	}
	base := append([]float32(nil), m.Params()...)
	eps := 1e-2 / math.Sqrt(g2)
	shift := func(s float64) float64 {
		for i := range base {
			m.Params()[i] = base[i] + float32(s*g[i])
		}
		return loss()
	}
	fd := (shift(eps) - shift(-eps)) / (2 * eps)
	if math.Abs(fd-g2)/g2 > 0.05 {
		t.Fatalf("directional derivative %.6g, |g|² %.6g", fd, g2)
	}
}
