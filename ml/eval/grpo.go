package eval

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/crucible-net/crucible/ml/model"
)

// RewardScore is one completion's reward: the weighted total (higher is
// better) and each reward function's raw value.
type RewardScore struct {
	Total float64
	Parts []float64
}

// RewardFunc scores the completions sampled for prompt number prompt
// (an index into the prompts the caller handed over), one RewardScore per
// completion in order. It must be a pure function of its arguments for
// evaluations to be reproducible.
type RewardFunc func(ctx context.Context, prompt int, completions [][]int32) ([]RewardScore, error)

// DefaultSamples is how many completions GRPO evaluation samples per
// prompt (as Gradients does).
const DefaultSamples = 2

// DefaultKLPenalty weighs the KL guard in the GRPO score (Gradients'
// BETA_GRPO).
const DefaultKLPenalty = 0.5

// GRPOOptions controls GRPO evaluation.
type GRPOOptions struct {
	// Samples is the completions sampled per prompt; defaults to
	// DefaultSamples.
	Samples      int
	MaxNewTokens int     // required
	Temperature  float64 // 0 is greedy (then every sample is the same)
	TopP         float64
	StopTokens   []int32 // end a completion; nil means the model's EOS ids
	// Seed fixes every sample: prompt i is sampled with PromptSeed(Seed,
	// i), so an evaluation is a pure function of the model, the prompts,
	// the rewards and Seed (the validator derives it from the task).
	Seed uint64
	// KLPenalty weighs KL(base‖model) in the score; 0 means
	// DefaultKLPenalty, negative means none.
	KLPenalty float64
	// Progress, when set, is called after each prompt.
	Progress func(done, total int)
}

// GRPOResult is a model's reward on held-out prompts.
type GRPOResult struct {
	// Reward is the mean weighted reward over every sampled completion.
	Reward float64 `json:"reward"`
	// Parts is each reward function's mean raw value.
	Parts []float64 `json:"parts"`
	// KL is the mean over prompts of the mean per-position KL(base‖model)
	// of the next-token distributions over the prompt tokens: how far the
	// model moved from the base on the task's own inputs. NaN without a
	// base.
	KL float64 `json:"kl"`
	// Score is Reward − KLPenalty·KL (Reward without a base): the
	// ranking metric, higher is better.
	Score       float64 `json:"score"`
	Completions int     `json:"completions"`
	// MeanLength is the mean completion length in tokens.
	MeanLength float64 `json:"mean_length"`
	// PromptReward is each prompt's mean reward, in input order.
	PromptReward []float64 `json:"-"`
}

// PromptSeed is the sampling seed of prompt i under seed.
func PromptSeed(seed uint64, i int) uint64 {
	x := seed + 0x9e3779b97f4a7c15*uint64(i+1)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// GRPO evaluates m on prompts: Samples completions per prompt, sampled
// with seeds derived from opt.Seed, scored by reward; and, when base is
// given, the KL guard against base. Sums run in prompt and sample order
// in float64, so re-running gives the same result bit for bit.
func GRPO(ctx context.Context, m, base *model.Model, prompts [][]int32, reward RewardFunc, opt GRPOOptions) (*GRPOResult, error) {
	if len(prompts) == 0 {
		return nil, errors.New("grpo evaluation: no prompts")
	}
	if opt.MaxNewTokens <= 0 {
		return nil, fmt.Errorf("grpo evaluation: max new tokens %d must be positive", opt.MaxNewTokens)
	}
	if opt.Samples <= 0 {
		opt.Samples = DefaultSamples
	}
	if opt.KLPenalty == 0 {
		opt.KLPenalty = DefaultKLPenalty
	}
	res := &GRPOResult{KL: math.NaN(), PromptReward: make([]float64, len(prompts))}
	var total, length float64
	var parts []float64
	for i, p := range prompts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		gen := model.GenerateOptions{MaxNewTokens: opt.MaxNewTokens, Temperature: opt.Temperature, TopP: opt.TopP,
			StopTokens: opt.StopTokens, Seed: PromptSeed(opt.Seed, i)}
		comps, err := m.GenerateGroup(p, opt.Samples, gen)
		if err != nil {
			return nil, fmt.Errorf("grpo evaluation: prompt %d: %w", i, err)
		}
		scores, err := reward(ctx, i, comps)
		if err != nil {
			return nil, fmt.Errorf("grpo evaluation: prompt %d: %w", i, err)
		}
		if len(scores) != len(comps) {
			return nil, fmt.Errorf("grpo evaluation: prompt %d: %d scores for %d completions", i, len(scores), len(comps))
		}
		var pr float64
		for k, s := range scores {
			if parts == nil {
				parts = make([]float64, len(s.Parts))
			}
			if len(s.Parts) != len(parts) || !finite(s.Total) {
				return nil, fmt.Errorf("grpo evaluation: prompt %d: bad score %+v", i, s)
			}
			pr += s.Total
			for j, v := range s.Parts {
				parts[j] += v
			}
			length += float64(len(comps[k]))
		}
		total += pr
		res.PromptReward[i] = pr / float64(len(scores))
		if opt.Progress != nil {
			opt.Progress(i+1, len(prompts))
		}
	}
	n := float64(len(prompts) * opt.Samples)
	res.Completions = len(prompts) * opt.Samples
	res.Reward = total / n
	res.MeanLength = length / n
	for j := range parts {
		parts[j] /= n
	}
	res.Parts = parts
	res.Score = res.Reward
	if base != nil {
		kl, err := PromptKL(ctx, base, m, prompts)
		if err != nil {
			return nil, err
		}
		res.KL = kl
		if opt.KLPenalty > 0 {
			res.Score = res.Reward - opt.KLPenalty*kl
		}
	}
	return res, nil
}

// PromptKL is the mean over prompts of the mean over each prompt's
// positions of KL(p‖q), p the base's and q the model's next-token
// distribution, computed in float64 over the whole vocabulary.
func PromptKL(ctx context.Context, base, m *model.Model, prompts [][]int32) (float64, error) {
	V := m.Config().Vocab
	if base.Config().Vocab != V {
		return 0, fmt.Errorf("kl: the base has %d tokens, the model %d", base.Config().Vocab, V)
	}
	var sum float64
	for i, p := range prompts {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		b := model.Batch{Tokens: p, B: 1, T: len(p)}
		lb, err := base.Logits(b)
		if err != nil {
			return 0, fmt.Errorf("kl: prompt %d: %w", i, err)
		}
		lm, err := m.Logits(b)
		if err != nil {
			return 0, fmt.Errorf("kl: prompt %d: %w", i, err)
		}
		var pk float64
		for t := 0; t < len(p); t++ {
			pk += rowKL(lb[t*V:(t+1)*V], lm[t*V:(t+1)*V])
		}
		sum += pk / float64(len(p))
	}
	return sum / float64(len(prompts)), nil
}

// rowKL is KL(softmax(a)‖softmax(b)).
func rowKL(a, b []float32) float64 {
	la, lb := logSumExp(a), logSumExp(b)
	var kl float64
	for v := range a {
		lpa := float64(a[v]) - la
		kl += math.Exp(lpa) * (lpa - (float64(b[v]) - lb))
	}
	return max(kl, 0)
}

func logSumExp(x []float32) float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(s)
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
