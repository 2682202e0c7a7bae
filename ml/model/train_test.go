package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/crucible-net/crucible/ml/optim"
)

// TestEvaluateMatchesTraining checks that the forward-only path scores a
// batch exactly as the training path does, per token and per sequence.
func TestEvaluateMatchesTraining(t *testing.T) {
	for name, cfg := range tinyConfigs() {
		t.Run(name, func(t *testing.T) {
			m, err := New(cfg, 2)
			if err != nil {
				t.Fatal(err)
			}
			m.SetTrainBase(true)
			b := randomBatch(rand.New(rand.NewPCG(8, 8)), cfg.Vocab, 3, 7)
			tok := make([]float32, 21)
			seq := make([]float64, 3)
			ev, err := m.Evaluate(b, tok, seq)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := m.ForwardBackward(b, 0)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Count != 19 || tr.Count != 19 || math.Abs(ev.Sum-tr.Sum) > 1e-4 {
				t.Fatalf("evaluate %+v, train %+v", ev, tr)
			}
			var s float64
			for i, v := range tok {
				if b.Labels[i] == IgnoreIndex && v != 0 {
					t.Fatalf("ignored position %d has loss %v", i, v)
				}
				s += float64(v)
			}
			if math.Abs(s-ev.Sum) > 1e-4 || math.Abs(seq[0]+seq[1]+seq[2]-ev.Sum) > 1e-4 {
				t.Fatalf("token losses sum to %v, sequences to %v, total %v", s, seq, ev.Sum)
			}
			// Each sequence scores the same alone as in the batch.
			one := Batch{Tokens: b.Tokens[7:14], Labels: b.Labels[7:14], B: 1, T: 7}
			l1, _ := m.Evaluate(one, nil, nil)
			if math.Abs(l1.Sum-seq[1]) > 1e-4 {
				t.Fatalf("sequence 1 alone %v, in batch %v", l1.Sum, seq[1])
			}
		})
	}
}

// TestTrainingLearns memorizes one batch with AdamW, full fine-tuning and
// LoRA, and checks that a frozen base stays untouched.
func TestTrainingLearns(t *testing.T) {
	for _, mode := range []string{"full", "lora"} {
		t.Run(mode, func(t *testing.T) {
			cfg := tinyConfigs()["qwen2-gqa-tied"]
			m, err := New(cfg, 4)
			if err != nil {
				t.Fatal(err)
			}
			scaleParams(m, rand.New(rand.NewPCG(2, 9))) // a base with some signal for an adapter to steer
			base := append([]float32(nil), m.Params()...)
			lr := 3e-3
			if mode == "lora" {
				if _, err := m.AddLoRA(LoRAConfig{Rank: 4, Alpha: 8, TargetModules: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}}); err != nil {
					t.Fatal(err)
				}
				lr = 2e-2
			} else {
				m.SetTrainBase(true)
			}
			opt := optim.NewAdamW(m.TrainableParams(), optim.DefaultAdamW())
			b := randomBatch(rand.New(rand.NewPCG(1, 9)), cfg.Vocab, 2, 8)
			var first, last float64
			for step := 0; step < 40; step++ {
				m.ZeroGrads()
				l, err := m.ForwardBackward(b, 0)
				if err != nil {
					t.Fatal(err)
				}
				if step == 0 {
					first = l.Mean()
				}
				last = l.Mean()
				opt.Step(lr)
			}
			t.Logf("loss %.4f → %.4f", first, last)
			if !(last < first*0.5) {
				t.Fatalf("loss %.4f → %.4f: not learning", first, last)
			}
			if mode == "lora" {
				for i, v := range m.Params() {
					if v != base[i] {
						t.Fatalf("LoRA training changed base parameter %d", i)
					}
				}
			}
		})
	}
}

func TestBatchRejects(t *testing.T) {
	m, _ := New(tinyConfigs()["gpt2"], 1)
	m.SetTrainBase(true)
	for _, b := range []Batch{
		{Tokens: []int32{1, 2}, Labels: []int32{1, 2}, B: 1, T: 3},
		{Tokens: []int32{1, 2}, Labels: []int32{1}, B: 1, T: 2},
		{Tokens: []int32{1, 99}, Labels: []int32{1, 2}, B: 1, T: 2},
		{Tokens: []int32{1, 2}, Labels: []int32{-5, 2}, B: 1, T: 2},
		{Tokens: make([]int32, 17), Labels: make([]int32, 17), B: 1, T: 17},
		{B: 0, T: 0},
	} {
		if _, err := m.ForwardBackward(b, 0); err == nil {
			t.Errorf("ForwardBackward(%+v) succeeded", b)
		}
		if _, err := m.Evaluate(b, nil, nil); err == nil {
			t.Errorf("Evaluate(%+v) succeeded", b)
		}
	}
	frozen, _ := New(tinyConfigs()["gpt2"], 1)
	if _, err := frozen.ForwardBackward(Batch{Tokens: []int32{1}, Labels: []int32{1}, B: 1, T: 1}, 0); err == nil {
		t.Error("training a frozen model without an adapter succeeded")
	}
}

// TestWorkspaceReuse runs batches of varying shape through one model and
// checks each against a fresh model, and that the workspace stops being
// reallocated once it holds the largest shape.
func TestWorkspaceReuse(t *testing.T) {
	for _, name := range []string{"qwen2-gqa-tied", "gpt2"} {
		t.Run(name, func(t *testing.T) {
			cfg := tinyConfigs()[name]
			m, _ := New(cfg, 3)
			m.SetTrainBase(true)
			rng := rand.New(rand.NewPCG(4, 4))
			shapes := [][2]int{{2, 8}, {4, 4}, {1, 16}, {3, 5}, {2, 8}, {1, 3}}
			var ws *workspace
			for i, sh := range shapes {
				b := randomBatch(rng, cfg.Vocab, sh[0], sh[1])
				fresh, _ := New(cfg, 3)
				fresh.SetTrainBase(true)
				m.ZeroGrads()
				got, err := m.ForwardBackward(b, 0)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := fresh.ForwardBackward(b, 0)
				if got != want {
					t.Fatalf("shape %v: loss %+v, fresh model %+v", sh, got, want)
				}
				if e := maxAbsErr(m.Grads(), fresh.Grads()); e != 0 {
					t.Fatalf("shape %v: gradients differ from a fresh model's by %g", sh, e)
				}
				ev, _ := m.Evaluate(b, nil, nil)
				if math.Abs(ev.Sum-got.Sum) > 1e-4 {
					t.Fatalf("shape %v: evaluate %v, train %v", sh, ev.Sum, got.Sum)
				}
				if i >= 3 && m.trainWS != ws { // (1, 16) grew T; nothing after it needs more
					t.Fatalf("shape %v: workspace reallocated although it holds 16 positions", sh)
				}
				ws = m.trainWS
			}
		})
	}
}

// TestSequenceWeights checks that weighted sequences in one batch give the
// weighted sum of their separate gradients.
func TestSequenceWeights(t *testing.T) {
	cfg := tinyConfigs()["llama-mqa-bias"]
	rng := rand.New(rand.NewPCG(7, 7))
	b := randomBatch(rng, cfg.Vocab, 2, 6)
	b.Weights = []float32{0.7, -1.3}
	m, _ := New(cfg, 5)
	m.SetTrainBase(true)
	if _, err := m.ForwardBackward(b, 1); err != nil {
		t.Fatal(err)
	}
	want := make([]float32, len(m.Grads()))
	for i, w := range b.Weights {
		one := Batch{Tokens: b.Tokens[i*6 : (i+1)*6], Labels: b.Labels[i*6 : (i+1)*6], B: 1, T: 6}
		s, _ := New(cfg, 5)
		s.SetTrainBase(true)
		if _, err := s.ForwardBackward(one, w); err != nil {
			t.Fatal(err)
		}
		for j, g := range s.Grads() {
			want[j] += g
		}
	}
	if e := maxRelErr(m.Grads(), want); e > 1e-5 {
		t.Fatalf("weighted batch gradient differs from the weighted sum by %.3g", e)
	}
	b.Weights = []float32{1}
	if _, err := m.ForwardBackward(b, 1); err == nil {
		t.Fatal("accepted 1 weight for 2 sequences")
	}
}
