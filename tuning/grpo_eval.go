package tuning

import (
	"context"
	"math"
	"sync/atomic"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
)

// GRPOEvalSpec names a grpo evaluation: a submission (or the base) on a
// task's hidden prompts with the task's rewards.
type GRPOEvalSpec struct {
	BaseDir  string
	ModelDir string // a full model or a PEFT adapter; empty: the base
	TestPath string
	Mapping  crucible.ColumnMapping // zero: detected
	Rewards  []crucible.Reward
	// Seed fixes every sampled completion; the validator derives it from
	// the task, so every submission answers the same draws and a re-run
	// (an auditor's) gives the same score bit for bit.
	Seed          uint64
	Samples       int     // completions per prompt; default eval.DefaultSamples
	MaxCompletion int     // default DefaultMaxCompletion
	Temperature   float64 // default 1
	KLPenalty     float64 // default eval.DefaultKLPenalty; negative: none
	Progress      func(done, total int)
}

// GRPOEvalResult is a grpo evaluation's outcome: Score (mean weighted
// reward less the KL guard) ranks submissions, higher is better. A
// submission that is not a valid fine-tune of the base has Failure set.
type GRPOEvalResult struct {
	eval.GRPOResult
	RewardNames []string  `json:"reward_names"`
	Weights     []float64 `json:"weights"`
	Prompts     int       `json:"prompts"`
	// RewardErrors counts the (reward, completion) pairs whose reward
	// failed and counted 0.
	RewardErrors int       `json:"reward_errors"`
	Failure      string    `json:"failure,omitempty"`
	IsAdapter    bool      `json:"is_adapter"`
	Fingerprint  []float32 `json:"fingerprint,omitempty"`
}

// EvaluateGRPO samples completions of the hidden prompts from the
// submission with seeds derived from spec.Seed, scores them with the
// task's rewards and measures KL(base‖submission) over the prompts.
// Errors are for the base, the test split, the rewards or cancellation;
// problems with the submission set Failure.
func EvaluateGRPO(ctx context.Context, spec GRPOEvalSpec) (*GRPOEvalResult, error) {
	tok, err := tokenizer.Load(spec.BaseDir)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "evaluate: load the base tokenizer")
	}
	base, err := model.Load(spec.BaseDir)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "evaluate: load the base model")
	}
	var mapping *crucible.ColumnMapping
	if spec.Mapping != (crucible.ColumnMapping{}) {
		mapping = &spec.Mapping
	}
	completion := spec.MaxCompletion
	if completion <= 0 {
		completion = DefaultMaxCompletion
	}
	ds, err := loadTrainData(ctx, Spec{DataPath: spec.TestPath, TaskType: crucible.TaskGRPO, Mapping: mapping, Recipe: Recipe{MaxCompletion: completion}}, tok, base.Config().Vocab, maxLength(base.Config(), math.MaxInt32), data.TokenCache{}, nil)
	if err != nil {
		return nil, err
	}
	set, err := CheckRewards(spec.Rewards, ds.Prompts, 0)
	if err != nil {
		return nil, err
	}
	res := &GRPOEvalResult{RewardNames: set.Names(), Weights: set.Weights(), Prompts: len(ds.Prompts)}
	policy := base
	if spec.ModelDir != "" {
		// The submission is loaded onto a second copy of the base (an
		// adapter is merged into it); the first stays the KL reference.
		other, err := model.Load(spec.BaseDir)
		if err != nil {
			return nil, crucible.Wrap(err, crucible.EINVALID, "evaluate: load the base model")
		}
		var er EvalResult
		var failure string
		policy, failure, err = loadSubmission(other, spec.ModelDir, &er)
		if err != nil {
			return nil, err
		}
		res.IsAdapter, res.Fingerprint = er.IsAdapter, er.Fingerprint
		if failure != "" {
			res.Failure = failure
			return res, nil
		}
	}
	stops := StopTokens(base, tok)
	ids := make([][]int32, len(ds.Prompts))
	for i, p := range ds.Prompts {
		ids[i] = p.IDs
	}
	temp := spec.Temperature
	if temp == 0 {
		temp = 1
	}
	var ref *model.Model
	if spec.ModelDir != "" {
		ref = base
	}
	var failures atomic.Int64
	onError := func(error) { failures.Add(1) }
	r, err := eval.GRPO(ctx, policy, ref, ids, RewardFunc(set, tok, ds.Prompts, stops, onError), eval.GRPOOptions{Samples: spec.Samples, MaxNewTokens: completion,
		Temperature: temp, TopP: 1, StopTokens: stops, Seed: spec.Seed, KLPenalty: spec.KLPenalty, Progress: spec.Progress})
	if err != nil {
		return nil, err
	}
	res.GRPOResult = *r
	res.RewardErrors = int(failures.Load())
	if !finiteF(r.Score) {
		res.Failure = FailNaN
	}
	return res, nil
}

func finiteF(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// RewardResultOf is a grpo evaluation as the domain records it.
func RewardResultOf(r *GRPOEvalResult) *crucible.RewardResult {
	out := &crucible.RewardResult{Score: r.Score, Reward: r.Reward, Parts: r.Parts, Completions: r.Completions}
	if !math.IsNaN(r.KL) {
		kl := r.KL
		out.KL = &kl
	}
	return out
}
