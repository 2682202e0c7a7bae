package eval

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/crucible-net/crucible/ml/model"
)

// countReward gives each completion the share of its tokens below 8 and,
// as a second part, its length.
func countReward(_ context.Context, _ int, comps [][]int32) ([]RewardScore, error) {
	out := make([]RewardScore, len(comps))
	for i, c := range comps {
		low := 0
		for _, t := range c {
			if t < 8 {
				low++
			}
		}
		share := float64(low) / float64(len(c))
		out[i] = RewardScore{Total: share + 0.01*float64(len(c)), Parts: []float64{share, float64(len(c))}}
	}
	return out, nil
}

func TestGRPOEvaluation(t *testing.T) {
	cfg := model.NewLlamaConfig(32, 64, 2, 4, 2, 32, 64)
	base, err := model.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	prompts := make([][]int32, 6)
	for i := range prompts {
		for range 3 + i {
			prompts[i] = append(prompts[i], int32(rng.IntN(32)))
		}
	}
	opt := GRPOOptions{MaxNewTokens: 6, Temperature: 1, Seed: 42, Samples: 3, StopTokens: []int32{2}}
	ctx := context.Background()
	// The base against itself: no KL, the score is the reward.
	r, err := GRPO(ctx, base, base, prompts, countReward, opt)
	if err != nil {
		t.Fatal(err)
	}
	if r.KL != 0 || r.Score != r.Reward || r.Completions != 18 || len(r.Parts) != 2 || r.MeanLength != r.Parts[1] {
		t.Fatalf("base vs base: %+v", r)
	}
	// A tuned model: positive KL, score = reward − 0.5·KL; re-running is
	// bit-identical, also on one thread.
	tuned, _ := model.New(cfg, 1)
	for i := range tuned.Params() {
		tuned.Params()[i] += float32(rng.NormFloat64() * 0.05)
	}
	a, err := GRPO(ctx, tuned, base, prompts, countReward, opt)
	if err != nil {
		t.Fatal(err)
	}
	prev := runtime.GOMAXPROCS(1)
	b, err := GRPO(ctx, tuned, base, prompts, countReward, opt)
	runtime.GOMAXPROCS(prev)
	if err != nil {
		t.Fatal(err)
	}
	if !(a.KL > 0) || math.Float64bits(a.Score) != math.Float64bits(a.Reward-DefaultKLPenalty*a.KL) {
		t.Fatalf("tuned: %+v", a)
	}
	if math.Float64bits(a.Score) != math.Float64bits(b.Score) || math.Float64bits(a.KL) != math.Float64bits(b.KL) {
		t.Fatalf("re-run differs: %+v vs %+v", a, b)
	}
	// Another seed samples other completions.
	opt.Seed = 43
	c, err := GRPO(ctx, tuned, nil, prompts, countReward, opt)
	if err != nil {
		t.Fatal(err)
	}
	if c.Reward == a.Reward || !math.IsNaN(c.KL) || c.Score != c.Reward {
		t.Fatalf("seed 43 without a base: %+v (seed 42: %+v)", c, a)
	}
	// The KL guard: the farther the model, the larger.
	far, _ := model.New(cfg, 1)
	for i := range far.Params() {
		far.Params()[i] += float32(rng.NormFloat64() * 0.5)
	}
	kf, err := PromptKL(ctx, base, far, prompts)
	if err != nil || !(kf > a.KL) {
		t.Fatalf("far model KL %v (%v), near %v", kf, err, a.KL)
	}
	if _, err := GRPO(ctx, base, nil, nil, countReward, opt); err == nil {
		t.Error("no prompts passed")
	}
}
