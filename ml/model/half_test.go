package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/crucible-net/crucible/ml/kernel"
)

// TestHoldBaseBF16 holds a frozen base in bf16 and checks, for every tiny
// family, that LoRA training (loss and adapter gradients, fp32 and bf16
// arithmetic), evaluation and generation give the bits of the same base in
// float32, that saving, merging and training the base widen it exactly,
// and that a base that is not bf16 already is left alone.
func TestHoldBaseBF16(t *testing.T) {
	for name, cfg := range tinyConfigs() {
		t.Run(name, func(t *testing.T) {
			newModel := func() *Model {
				m, err := New(cfg, 5)
				if err != nil {
					t.Fatal(err)
				}
				if ok, err := m.HoldBaseBF16(); ok || err != nil {
					t.Fatalf("a float32 base was held in bf16: %v, %v", ok, err)
				}
				for i, x := range m.params { // as a bf16 checkpoint loads
					m.params[i] = kernel.BF16ToFloat32(kernel.Float32ToBF16(x))
				}
				l, err := m.AddLoRA(LoRAConfig{Rank: 4, Alpha: 8, TargetModules: DefaultLoRATargets(cfg), Seed: 6})
				if err != nil {
					t.Fatal(err)
				}
				for i := range l.params {
					l.params[i] += 0.01 * float32(i%7)
				}
				return m
			}
			ref, held := newModel(), newModel()
			if ok, err := held.HoldBaseBF16(); !ok || err != nil {
				t.Fatalf("HoldBaseBF16 = %v, %v", ok, err)
			}
			if held.Params() != nil || held.NumParams() != ref.NumParams() || !held.HoldsBaseBF16() {
				t.Fatalf("held base: Params %d values, NumParams %d (want nil, %d)", len(held.Params()), held.NumParams(), ref.NumParams())
			}
			b := randomBatch(rand.New(rand.NewPCG(51, 52)), cfg.Vocab, 2, 9)
			for _, p := range []kernel.Precision{kernel.FP32, kernel.BF16} {
				ref.SetPrecision(p)
				held.SetPrecision(p)
				for _, m := range []*Model{ref, held} {
					m.ZeroGrads()
				}
				l1, err1 := ref.ForwardBackward(b, 0)
				l2, err2 := held.ForwardBackward(b, 0)
				if err1 != nil || err2 != nil || l1 != l2 || !slices.Equal(bits32(ref.LoRA().Grads()), bits32(held.LoRA().Grads())) {
					t.Fatalf("%v: training differs: loss %v vs %v (%v, %v) or adapter gradients", p, l1, l2, err1, err2)
				}
				e1, _ := ref.Evaluate(b, nil, nil)
				e2, _ := held.Evaluate(b, nil, nil)
				if e1 != e2 {
					t.Fatalf("%v: evaluation %v vs %v", p, e1, e2)
				}
				opts := GenerateOptions{MaxNewTokens: 5, StopTokens: []int32{}}
				g1, _ := ref.Generate(b.Tokens[:4], opts, nil)
				g2, _ := held.Generate(b.Tokens[:4], opts, nil)
				if !slices.Equal(g1, g2) {
					t.Fatalf("%v: generation %v vs %v", p, g1, g2)
				}
			}
			dir := t.TempDir()
			if err := held.Save(dir); err != nil {
				t.Fatal(err)
			}
			back, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(bits32(back.Params()), bits32(ref.Params())) {
				t.Fatal("a held base saves other weights than the float32 one")
			}
			if err := ref.MergeLoRA(); err != nil {
				t.Fatal(err)
			}
			if err := held.MergeLoRA(); err != nil {
				t.Fatal(err)
			}
			if held.HoldsBaseBF16() || !slices.Equal(bits32(held.Params()), bits32(ref.Params())) {
				t.Fatal("merging into a held base differs from merging into the float32 one")
			}
			if ok, _ := held.HoldBaseBF16(); ok {
				t.Fatal("a merged base (no longer bf16 values) was held in bf16")
			}
		})
	}
}

func bits32(x []float32) []uint32 {
	out := make([]uint32, len(x))
	for i, f := range x {
		out[i] = math.Float32bits(f)
	}
	return out
}

// TestHoldBaseBF16TrainBase checks that making the base trainable widens it.
func TestHoldBaseBF16TrainBase(t *testing.T) {
	m, err := New(tinyConfigs()["gpt2"], 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range m.params {
		m.params[i] = kernel.BF16ToFloat32(kernel.Float32ToBF16(x))
	}
	want := slices.Clone(m.params)
	if ok, err := m.HoldBaseBF16(); !ok || err != nil {
		t.Fatal(ok, err)
	}
	m.SetTrainBase(true)
	if m.HoldsBaseBF16() || !slices.Equal(bits32(m.Params()), bits32(want)) {
		t.Fatal("SetTrainBase(true) did not widen the held base exactly")
	}
	if _, err := m.HoldBaseBF16(); err == nil {
		t.Fatal("a trained base was held in bf16")
	}
}
