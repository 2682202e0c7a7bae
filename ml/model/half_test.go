package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/tensor"
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
			if held.params != nil || held.NumParams() != ref.NumParams() || !held.HoldsBaseBF16() {
				t.Fatalf("held base: %d float32 values, NumParams %d (want none, %d)", len(held.params), held.NumParams(), ref.NumParams())
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
			if !slices.Equal(bits32(back.Params()), bits32(ref.Params())) || !held.HoldsBaseBF16() {
				t.Fatal("a held base saves other weights than the float32 one, or saving widened it")
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

// TestLoadHoldsBF16Checkpoint saves a model in BF16 and checks that Load
// holds it in bf16 without float32 copies, computes what the float32 load
// of an F32 save computes, and widens exactly on Params; and that NewBF16
// is New rounded and held.
func TestLoadHoldsBF16Checkpoint(t *testing.T) {
	cfg := tinyConfigs()["qwen2-gqa-tied"]
	m, err := NewBF16(cfg, 9)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := New(cfg, 9)
	for i, x := range ref.params {
		ref.params[i] = kernel.BF16ToFloat32(kernel.Float32ToBF16(x))
	}
	if !m.HoldsBaseBF16() || m.params != nil {
		t.Fatal("NewBF16 made float32 weights")
	}
	bf, f32 := t.TempDir(), t.TempDir()
	if err := m.SaveAs(bf, tensor.BF16); err != nil {
		t.Fatal(err)
	}
	if err := ref.Save(f32); err != nil {
		t.Fatal(err)
	}
	held, err := Load(bf)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Load(f32)
	if err != nil {
		t.Fatal(err)
	}
	if !held.HoldsBaseBF16() || held.params != nil || plain.HoldsBaseBF16() {
		t.Fatalf("Load of the BF16 save held %v, of the F32 save %v", held.HoldsBaseBF16(), plain.HoldsBaseBF16())
	}
	b := randomBatch(rand.New(rand.NewPCG(61, 62)), cfg.Vocab, 2, 7)
	e1, _ := held.Evaluate(b, nil, nil)
	e2, _ := plain.Evaluate(b, nil, nil)
	if e1 != e2 {
		t.Fatalf("evaluation: held %v, float32 %v", e1, e2)
	}
	if !slices.Equal(bits32(held.Params()), bits32(ref.Params())) || !slices.Equal(bits32(m.Params()), bits32(ref.Params())) {
		t.Fatal("widened weights differ from New's rounded ones")
	}
	if held.HoldsBaseBF16() {
		t.Fatal("Params did not widen the base")
	}
}
