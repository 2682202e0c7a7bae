package model

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// A position-weighted objective Σ a_pos·exp(log p_pos) (a policy ratio
// times an advantage, as in GRPO) gets the gradient finite differences
// give, through PositionWeight.
func TestPositionWeightFiniteDifference(t *testing.T) {
	for name, cfg := range tinyConfigs() {
		if cfg.MoE != nil {
			// Expert choices are not differentiable (and the router's
			// balancing loss is not part of this objective); the PyTorch
			// goldens cover mixtures.
			continue
		}
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			m, err := New(cfg, 7)
			if err != nil {
				t.Fatal(err)
			}
			scaleParams(m, rng)
			m.SetTrainBase(true)
			b := randomBatch(rng, cfg.Vocab, 2, 5)
			adv := make([]float64, b.B*b.T)
			for i := range adv {
				adv[i] = rng.NormFloat64() * 5
			}
			objective := func(lp []float64) float64 {
				var s float64
				for i, l := range lp {
					if b.Labels[i] != IgnoreIndex {
						s += adv[i] * math.Exp(l)
					}
				}
				return s
			}
			var called []int
			b.PositionWeight = func(pos int, logp float64) float32 {
				called = append(called, pos)
				return float32(-adv[pos] * math.Exp(logp)) // −f′(log p)
			}
			if _, err := m.ForwardBackward(b, 1); err != nil {
				t.Fatal(err)
			}
			if len(called) != b.B*b.T-2 || !slices.IsSorted(called) {
				t.Fatalf("PositionWeight called at %v", called)
			}
			grads := append([]float32(nil), m.Grads()...)
			tl := make([]float32, b.B*b.T)
			loss := func() float64 {
				if _, err := m.Evaluate(b, tl, nil); err != nil {
					t.Fatal(err)
				}
				lp := make([]float64, len(tl))
				for i, v := range tl {
					lp[i] = -float64(v)
				}
				return objective(lp)
			}
			fdCheck(t, m.ParamInfos(), m.Params(), grads, loss, rng)
		})
	}
}

func TestGenerateGroup(t *testing.T) {
	for name, cfg := range tinyConfigs() {
		t.Run(name, func(t *testing.T) {
			m, err := New(cfg, 13)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(6, 6))
			scaleParams(m, rng)
			prompt := []int32{1, 5, 7, 3, 2}
			opts := GenerateOptions{MaxNewTokens: 9, Temperature: 1, Seed: 11, StopTokens: []int32{4}}
			// One sample is Generate with that sample's seed.
			one, err := m.GenerateGroup(prompt, 1, opts)
			if err != nil {
				t.Fatal(err)
			}
			single := opts
			single.Seed = SampleSeed(opts.Seed, 0)
			want, err := m.Generate(prompt, single, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(one[0], want) {
				t.Fatalf("group of one %v, Generate %v", one[0], want)
			}
			// A group is reproducible, also on another thread count, and
			// its samples differ; stops end a sample (kept), others run to
			// the limit.
			got, err := m.GenerateGroup(prompt, 6, opts)
			if err != nil {
				t.Fatal(err)
			}
			prev := runtime.GOMAXPROCS(1)
			again, err := m.GenerateGroup(prompt, 6, opts)
			runtime.GOMAXPROCS(prev)
			if err != nil {
				t.Fatal(err)
			}
			distinct := map[string]bool{}
			for i := range got {
				if !slices.Equal(got[i], again[i]) {
					t.Fatalf("sample %d: %v, then %v", i, got[i], again[i])
				}
				s := got[i]
				if len(s) == 0 || len(s) > 9 || (len(s) < 9 && s[len(s)-1] != 4) || slices.Contains(s[:len(s)-1], 4) {
					t.Errorf("sample %d = %v", i, s)
				}
				distinct[string(rune(len(s)))+string(s2r(s))] = true
			}
			if len(distinct) < 2 {
				t.Errorf("all samples equal: %v", got)
			}
			// Greedy: every sample is Generate's greedy continuation.
			greedy := GenerateOptions{MaxNewTokens: 6, StopTokens: []int32{}}
			gg, err := m.GenerateGroup(prompt, 3, greedy)
			if err != nil {
				t.Fatal(err)
			}
			want, _ = m.Generate(prompt, greedy, nil)
			for i := range gg {
				if !slices.Equal(gg[i], want) {
					t.Errorf("greedy sample %d = %v, Generate %v", i, gg[i], want)
				}
			}
		})
	}
}

func s2r(s []int32) []rune {
	out := make([]rune, len(s))
	for i, v := range s {
		out[i] = rune(v + 64)
	}
	return out
}

func TestGenerateGroupErrors(t *testing.T) {
	m, _ := New(tinyConfigs()["gpt2"], 1)
	for _, c := range []struct {
		prompt []int32
		n      int
		opts   GenerateOptions
	}{
		{[]int32{1}, 0, GenerateOptions{MaxNewTokens: 2}},
		{nil, 2, GenerateOptions{MaxNewTokens: 2}},
		{[]int32{1}, 2, GenerateOptions{}},
		{[]int32{99}, 2, GenerateOptions{MaxNewTokens: 2}},
		{make([]int32, 16), 2, GenerateOptions{MaxNewTokens: 2}},
		{[]int32{1}, 2, GenerateOptions{MaxNewTokens: 2, TopP: 2}},
	} {
		if _, err := m.GenerateGroup(c.prompt, c.n, c.opts); err == nil {
			t.Errorf("GenerateGroup(%v, %d, %+v) passed", c.prompt, c.n, c.opts)
		}
	}
}
