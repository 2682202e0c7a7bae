package train

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/optim"
)

// grpoVocab is the toy task's vocabulary: small, so that a random model
// hits the answer now and then and the reward has something to reinforce.
const grpoVocab = 12

// toyModel is a tiny Llama over the toy vocabulary.
func toyModel(t *testing.T) *model.Model {
	t.Helper()
	m, err := model.New(model.NewLlamaConfig(32, 64, 2, 4, 2, grpoVocab, 32), 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// toyPrompts are random prompts of 3 to 6 tokens from [3, grpoVocab).
func toyPrompts(n int, seed uint64) [][]int32 {
	rng := rand.New(rand.NewPCG(seed, 3))
	out := make([][]int32, n)
	for i := range out {
		p := make([]int32, 3+rng.IntN(4))
		for j := range p {
			p[j] = int32(3 + rng.IntN(grpoVocab-3))
		}
		out[i] = p
	}
	return out
}

// exactReward is an exact-answer reward: 1 for a completion that is the
// token 7 then the stop token 2, 0.5 for one that starts with 7, else 0.
func exactReward(_ context.Context, _ int, comps [][]int32) ([]eval.RewardScore, error) {
	out := make([]eval.RewardScore, len(comps))
	for i, c := range comps {
		v := 0.0
		switch {
		case len(c) == 2 && c[0] == 7 && c[1] == 2:
			v = 1
		case len(c) > 0 && c[0] == 7:
			v = 0.5
		}
		out[i] = eval.RewardScore{Total: v, Parts: []float64{v}}
	}
	return out, nil
}

func toyGRPO(lora bool) GRPOConfig {
	return GRPOConfig{
		Config:      Config{LR: 1e-2, MaxSteps: 50, Epochs: 100, BatchSize: 4, ValSize: 16, EvalEvery: 10, Patience: -1, Seed: 3},
		Reward:      exactReward,
		RewardNames: []string{"exact"},
		Generations: 8, MaxCompletion: 4, StopTokens: []int32{2}, ValSamples: 4,
	}
}

// pAnswer is the mean probability, over prompts, that a completion starts
// with the toy task's answer token 7.
func pAnswer(t *testing.T, m *model.Model, prompts [][]int32) float64 {
	t.Helper()
	V := m.Config().Vocab
	var sum float64
	for _, p := range prompts {
		lg, err := m.Logits(model.Batch{Tokens: p, B: 1, T: len(p)})
		if err != nil {
			t.Fatal(err)
		}
		row := lg[(len(p)-1)*V : len(p)*V]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		var z float64
		for _, v := range row {
			z += math.Exp(float64(v) - mx)
		}
		sum += math.Exp(float64(row[7])-mx) / z
	}
	return sum / float64(len(prompts))
}

// On a toy task with an exact reward, GRPO raises the mean reward well
// above the base's (full fine-tuning) and moves a LoRA adapter toward the
// answer; a run is reproducible.
func TestGRPOLearnsExactReward(t *testing.T) {
	for _, mode := range []string{"full", "lora"} {
		t.Run(mode, func(t *testing.T) {
			m := toyModel(t)
			cfg := toyGRPO(mode == "lora")
			if mode == "lora" {
				if _, err := m.AddLoRA(model.LoRAConfig{Rank: 8, Alpha: 16, TargetModules: LoRATargets(m.Config()), Seed: 2}); err != nil {
					t.Fatal(err)
				}
				cfg.LR = 3e-2
			} else {
				m.SetTrainBase(true)
			}
			var metrics strings.Builder
			cfg.Metrics = &metrics
			prompts := toyPrompts(80, 1)
			before := pAnswer(t, m, prompts[:16])
			res, err := RunGRPO(context.Background(), m, GRPOData{Prompts: prompts}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			after := pAnswer(t, m, prompts[:16])
			t.Logf("%s: reward %.3f -> %.3f (validation %.3f -> %.3f), p(answer) %.3f -> %.3f, %d steps, sampled %.0f tokens/s, cost %+v",
				mode, res.FirstReward, res.TrainReward, res.InitialValReward, res.ValReward, before, after, res.Steps, res.SampleTokensPerS, res.Cost)
			switch {
			case mode == "full" && (res.InitialValReward > 0.1 || res.ValReward < 0.6 || res.TrainReward < 0.6):
				t.Errorf("reward did not rise: validation %.3f -> %.3f, training %.3f -> %.3f", res.InitialValReward, res.ValReward, res.FirstReward, res.TrainReward)
			case mode == "lora" && after < 1.5*before:
				t.Errorf("p(answer) %.3f -> %.3f", before, after)
			}
			if !strings.Contains(metrics.String(), `"kl":`) || !strings.Contains(metrics.String(), `"val_reward":`) {
				t.Errorf("metrics lack kl or val_reward:\n%s", metrics.String())
			}
			if res.Cost.Sampling <= 0 || res.Cost.Reward <= 0 || res.Cost.Backward <= 0 || res.CompletionTokens == 0 {
				t.Errorf("cost %+v, %d tokens", res.Cost, res.CompletionTokens)
			}
			if mode == "full" {
				// The same seed samples and trains the same way.
				m2 := toyModel(t)
				m2.SetTrainBase(true)
				cfg.Metrics = nil
				again, err := RunGRPO(context.Background(), m2, GRPOData{Prompts: prompts}, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if again.ValReward != res.ValReward || again.TrainReward != res.TrainReward {
					t.Errorf("re-run: %v/%v, first run %v/%v", again.ValReward, again.TrainReward, res.ValReward, res.TrainReward)
				}
				for i, p := range m.Params() {
					if m2.Params()[i] != p {
						t.Fatalf("re-run weights differ at %d", i)
					}
				}
			}
		})
	}
}

// With several updates per sample batch the ratio moves away from 1 and
// the clip engages; the loss stays finite and learning still happens.
func TestGRPOIterationsClip(t *testing.T) {
	m := toyModel(t)
	m.SetTrainBase(true)
	cfg := toyGRPO(false)
	cfg.Iterations, cfg.MaxSteps, cfg.ValSize = 3, 18, -1
	var metrics strings.Builder
	cfg.Metrics = &metrics
	res, err := RunGRPO(context.Background(), m, GRPOData{Prompts: toyPrompts(40, 2)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 18 || res.Completions != 6*4*8 {
		t.Errorf("%d steps, %d completions; want 18 updates on 6 sample batches", res.Steps, res.Completions)
	}
	if !strings.Contains(metrics.String(), `"clip_fraction":0.`) {
		t.Errorf("the clip never engaged:\n%s", metrics.String())
	}
	if res.TrainReward <= res.FirstReward {
		t.Errorf("reward %.3f -> %.3f", res.FirstReward, res.TrainReward)
	}
}

// The GRPO gradient is the gradient of the loss it reports: along the
// gradient g, the loss's directional derivative (central differences,
// with the samples and advantages fixed) is −|g|²... i.e. the loss falls
// by |g|² per unit step.
func TestGRPOGradient(t *testing.T) {
	for _, mode := range []string{"full", "lora"} {
		t.Run(mode, func(t *testing.T) { testGRPOGradient(t, mode == "lora") })
	}
}

func testGRPOGradient(t *testing.T, lora bool) {
	m := toyModel(t)
	if lora {
		l, err := m.AddLoRA(model.LoRAConfig{Rank: 4, Alpha: 8, TargetModules: LoRATargets(m.Config()), Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(2, 2))
		for i := range l.Params() {
			l.Params()[i] = float32(rng.NormFloat64() * 0.05)
		}
	} else {
		m.SetTrainBase(true)
	}
	cfg := toyGRPO(false).withDefaults()
	cfg.Iterations = 2 // old log-probabilities recorded, so the loss is a function of the weights
	r := &grpoRun{ctx: context.Background(), m: m, cfg: cfg, res: &GRPOResult{}}
	if err := r.setup(GRPOData{Prompts: toyPrompts(8, 4), Val: []int{}}); err != nil {
		t.Fatal(err)
	}
	r.params = m.TrainableParams()
	b, _, err := r.sample(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	optim.ZeroGrads(r.params)
	if _, err := r.update(context.Background(), b, 0); err != nil {
		t.Fatal(err)
	}
	// Move off the sampling weights so that ratios differ from 1.
	rng := rand.New(rand.NewPCG(1, 1))
	for _, p := range r.params {
		for i := range p.Data {
			p.Data[i] += float32(rng.NormFloat64() * 0.01)
		}
	}
	optim.ZeroGrads(r.params)
	if _, err := r.update(context.Background(), b, 1); err != nil {
		t.Fatal(err)
	}
	var g [][]float64
	var g2 float64
	var base [][]float32
	for _, p := range r.params {
		gp := make([]float64, len(p.Grad))
		for i, v := range p.Grad {
			gp[i] = float64(v)
			g2 += gp[i] * gp[i]
		}
		g = append(g, gp)
		base = append(base, append([]float32(nil), p.Data...))
	}
	loss := func(s float64) float64 {
		for k, p := range r.params {
			for i := range p.Data {
				p.Data[i] = base[k][i] + float32(s*g[k][i])
			}
		}
		optim.ZeroGrads(r.params)
		u, err := r.update(context.Background(), b, 1)
		if err != nil {
			t.Fatal(err)
		}
		return u.loss
	}
	eps := 1e-2 / math.Sqrt(g2)
	fd := (loss(eps) - loss(-eps)) / (2 * eps)
	if math.Abs(fd-g2)/g2 > 0.05 {
		t.Errorf("directional derivative %.6g, |g|² %.6g", fd, g2)
	}
}

func TestGRPOErrors(t *testing.T) {
	m := toyModel(t)
	m.SetTrainBase(true)
	ctx := context.Background()
	good := toyGRPO(false)
	cases := []struct {
		name string
		cfg  func(c *GRPOConfig)
		data GRPOData
		want string
	}{
		{"no reward", func(c *GRPOConfig) { c.Reward = nil }, GRPOData{Prompts: toyPrompts(4, 1)}, "needs a reward function"},
		{"one generation", func(c *GRPOConfig) { c.Generations = 1 }, GRPOData{Prompts: toyPrompts(4, 1)}, "at least 2 generations"},
		{"no prompts", func(c *GRPOConfig) {}, GRPOData{}, "no prompts"},
		{"long prompt", func(c *GRPOConfig) {}, GRPOData{Prompts: [][]int32{make([]int32, 32)}}, "leaving no room for a completion"},
		{"bad token", func(c *GRPOConfig) {}, GRPOData{Prompts: [][]int32{{1, 999}}}, "outside the vocabulary"},
		{"failing reward", func(c *GRPOConfig) {
			c.Reward = func(context.Context, int, [][]int32) ([]eval.RewardScore, error) {
				return nil, errors.New("reward broke")
			}
		}, GRPOData{Prompts: toyPrompts(4, 1)}, "reward broke"},
		{"past deadline", func(c *GRPOConfig) { c.Deadline = time.Now().Add(-time.Second) }, GRPOData{Prompts: toyPrompts(4, 1)}, "already passed"},
	}
	for _, c := range cases {
		cfg := good
		c.cfg(&cfg)
		_, err := RunGRPO(ctx, m, c.data, cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// A run under a deadline stops in time with its steps fitted to it. (The
// slack allows for one step slowed down by a busy machine.)
func TestGRPODeadline(t *testing.T) {
	m := toyModel(t)
	m.SetTrainBase(true)
	cfg := toyGRPO(false)
	cfg.MaxSteps = 0
	cfg.Epochs = 1000
	// The run's clock is the real one until the second step is reported,
	// then the deadline itself: the run must see that no further step fits
	// and stop there, returning what it trained, however fast or slow this
	// machine is (the real deadline is an hour away).
	cfg.Deadline = time.Now().Add(time.Hour)
	var late atomic.Int64
	cfg.Clock = func() time.Time { return time.Now().Add(time.Duration(late.Load())) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg.Progress = func(p Progress) {
		switch {
		case p.Step == 2:
			late.Store(int64(time.Until(cfg.Deadline)))
		case p.Step > 2:
			cancel() // it missed the deadline: fail now, not in an hour
		}
	}
	res, err := RunGRPO(ctx, m, GRPOData{Prompts: toyPrompts(80, 1)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.StopReason != StopBudget || res.Steps != 2 {
		t.Errorf("stop %q after %d steps, want %q after 2", res.StopReason, res.Steps, StopBudget)
	}
}
