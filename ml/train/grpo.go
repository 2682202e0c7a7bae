package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/optim"
)

// GRPO (Group Relative Policy Optimization) trains a policy on prompts
// and a reward: for each prompt it samples a group of G completions from
// the current weights, scores them, and gives each completion the
// advantage A = (r − mean(r)) / (std(r) + 1e-4) within its group, so no
// value model is needed. The loss of completion o_i's token t is
//
//	−min(ρ·A, clip(ρ, 1−ε, 1+ε_high)·A) + β·(e^(ref−lp) − (ref−lp) − 1)
//
// with lp the token's log-probability now, ρ = e^(lp−old) its ratio to the
// weights that sampled it and ref its log-probability under the frozen
// starting weights (the k3 estimate of the KL divergence to them), averaged
// over each completion's tokens and then over the completions of a step.
// With one update per sample batch (Iterations 1) ρ is 1 and the clip
// only bounds later updates on the same samples (Iterations > 1).

// GRPOData is what a GRPO run trains on: prompts as token ids (BOS and
// prompt), numbered by their index, which is what the reward function is
// told. Val, when nil, is carved out of the prompts (see Config.ValSize).
type GRPOData struct {
	Prompts [][]int32
	Val     []int
}

// GRPOConfig controls a GRPO run. Config holds the settings shared with
// SFT (learning rate and schedule, clipping, gradient accumulation, steps,
// validation, patience, deadline, seed, metrics, log, progress); its
// BatchSize is the prompts sampled per micro-batch (default 4), and
// MaxBatchTokens caps the sequences of one backward pass (default 4096).
type GRPOConfig struct {
	Config
	// Reward scores a prompt's completions (required).
	Reward eval.RewardFunc
	// RewardNames names the reward functions' parts, for the metrics.
	RewardNames []string
	// Generations is G, the completions sampled per prompt. Defaults to 8.
	Generations int
	// MaxCompletion caps a completion's tokens. Defaults to 64.
	MaxCompletion int
	// Temperature and TopP shape sampling; default 1 and 1.
	Temperature, TopP float64
	// StopTokens end a completion; nil means the model's EOS ids.
	StopTokens []int32
	// KLBeta weighs the KL penalty to the starting weights. Defaults to
	// 0.04; negative means none (and no reference pass).
	KLBeta float64
	// Epsilon is the clip range of the policy ratio, EpsilonHigh its upper
	// side (defaults: 0.2, and Epsilon).
	Epsilon, EpsilonHigh float64
	// Iterations is the optimizer updates per batch of samples (μ).
	// Defaults to 1.
	Iterations int
	// ValSamples is the completions per validation prompt. Defaults to
	// eval.DefaultSamples.
	ValSamples int
}

func (c GRPOConfig) withDefaults() GRPOConfig {
	bs := c.BatchSize
	c.Config = c.Config.withDefaults()
	if bs <= 0 {
		c.BatchSize = 4
	}
	if c.MaxBatchTokens <= 0 {
		c.MaxBatchTokens = 4096
	}
	if c.Generations <= 0 {
		c.Generations = 8
	}
	if c.MaxCompletion <= 0 {
		c.MaxCompletion = 64
	}
	if c.Temperature == 0 {
		c.Temperature = 1
	}
	if c.TopP == 0 {
		c.TopP = 1
	}
	switch {
	case c.KLBeta == 0:
		c.KLBeta = 0.04
	case c.KLBeta < 0:
		c.KLBeta = 0
	}
	if c.Epsilon == 0 {
		c.Epsilon = 0.2
	}
	if c.EpsilonHigh == 0 {
		c.EpsilonHigh = c.Epsilon
	}
	if c.Iterations <= 0 {
		c.Iterations = 1
	}
	if c.ValSamples <= 0 {
		c.ValSamples = eval.DefaultSamples
	}
	if c.Epochs == 0 {
		c.Epochs = 1
	}
	return c
}

// Validate reports settings that cannot train.
func (c GRPOConfig) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	switch {
	case c.Reward == nil:
		return errors.New("grpo needs a reward function")
	case c.Generations == 1:
		return errors.New("grpo needs at least 2 generations per prompt: advantages compare completions within a group")
	case c.Generations > 256 || c.MaxCompletion > 1<<16:
		return fmt.Errorf("generations %d (at most 256) or max completion %d (at most 65536) out of range", c.Generations, c.MaxCompletion)
	case c.Temperature < 0 || c.TopP < 0 || c.TopP > 1 || math.IsNaN(c.Temperature+c.TopP):
		return fmt.Errorf("temperature %g must be ≥ 0 and top-p %g in [0, 1]", c.Temperature, c.TopP)
	case c.Epsilon < 0 || c.EpsilonHigh < 0 || math.IsNaN(c.Epsilon+c.EpsilonHigh) || c.Epsilon >= 1:
		return fmt.Errorf("clip range %g, %g must be in [0, 1) and ≥ 0", c.Epsilon, c.EpsilonHigh)
	case math.IsNaN(c.KLBeta) || math.IsInf(c.KLBeta, 0):
		return fmt.Errorf("kl beta %g must be finite", c.KLBeta)
	}
	return nil
}

// StepCost is where a GRPO step's time went.
type StepCost struct {
	Sampling time.Duration `json:"sampling_ns"`
	Reward   time.Duration `json:"reward_ns"`
	// Backward covers the reference pass (for the KL penalty) and the
	// policy's forward-backward passes and optimizer update.
	Backward time.Duration `json:"backward_ns"`
	// SamplingCPU is the process's CPU time during sampling (0 where the
	// platform does not report it): on a machine shared with other work it
	// measures the sampler's speed better than wall time.
	SamplingCPU time.Duration `json:"sampling_cpu_ns"`
}

// Total is the step's whole time.
func (s StepCost) Total() time.Duration { return s.Sampling + s.Reward + s.Backward }

// GRPOResult is what a GRPO run did: Result's fields (TrainLoss is the
// GRPO loss; the validation losses are unused), and the rewards.
type GRPOResult struct {
	Result
	// FirstReward and TrainReward are the mean reward of the first step's
	// samples and of the last steps' (up to 10).
	FirstReward float64 `json:"first_reward"`
	TrainReward float64 `json:"train_reward"`
	// InitialValReward is the validation prompts' mean reward before
	// training, ValReward that of the weights returned (NaN without
	// validation); ValParts each reward function's mean there.
	InitialValReward float64   `json:"initial_val_reward"`
	ValReward        float64   `json:"val_reward"`
	ValParts         []float64 `json:"val_parts,omitempty"`
	RewardNames      []string  `json:"reward_names,omitempty"`
	// Completions and CompletionTokens count what was sampled.
	Completions      int64 `json:"completions"`
	CompletionTokens int64 `json:"completion_tokens"`
	// SampleTokensPerS is the completion tokens sampled per second of
	// sampling time; PromptsPerS the prompts trained per second.
	SampleTokensPerS float64 `json:"sample_tokens_per_s"`
	PromptsPerS      float64 `json:"prompts_per_s"`
	// SampleTokensPerCPUS is completion tokens per CPU second of sampling.
	SampleTokensPerCPUS float64 `json:"sample_tokens_per_cpu_s"`
	// Cost sums where the steps' time went.
	Cost StepCost `json:"cost"`
}

// RunGRPO trains m (an attached LoRA adapter and/or the base when
// SetTrainBase(true)) by GRPO on d. It returns with the weights of the
// best validation reward (the last weights without validation) in m.
// Errors: bad data or config, a budget that fits no step, a loss that
// diverges before any good weights exist, a failing reward function.
func RunGRPO(ctx context.Context, m *model.Model, d GRPOData, cfg GRPOConfig) (*GRPOResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("grpo: %w", err)
	}
	if cfg.Compute != nil {
		return nil, errors.New("grpo: a compute clock is not supported (sampling's cost is not modelled): use the real clock")
	}
	cfg = cfg.withDefaults()
	r := &grpoRun{ctx: ctx, m: m, cfg: cfg, start: time.Now(), now: cfg.Clock,
		res: &GRPOResult{Result: Result{InitialValLoss: math.NaN(), ValLoss: math.NaN()}, InitialValReward: math.NaN(), ValReward: math.NaN(), RewardNames: cfg.RewardNames}}
	if r.now == nil {
		r.now = time.Now
	}
	if !cfg.Deadline.IsZero() {
		r.hard = cfg.Deadline.Add(-cfg.Reserve)
		if !r.now().Before(r.hard) {
			return nil, fmt.Errorf("grpo: %w: the deadline (less %s reserved for saving) has already passed", ErrBudget, cfg.Reserve)
		}
	}
	r.params = m.TrainableParams()
	if len(r.params) == 0 {
		return nil, errors.New("grpo: the model has nothing to train: attach a LoRA adapter or call SetTrainBase(true)")
	}
	if err := r.setup(d); err != nil {
		return nil, fmt.Errorf("grpo: %w", err)
	}
	err := r.loop()
	r.res.Duration = time.Since(r.start)
	if err != nil {
		return r.res, fmt.Errorf("grpo: %w", err)
	}
	return r.res, nil
}

// grpoRun is the state of one GRPO run.
type grpoRun struct {
	ctx    context.Context
	now    func() time.Time // the clock deadline decisions read (Config.Clock)
	m      *model.Model
	ref    *model.Model // frozen copy of the start (full fine-tuning with a KL penalty)
	cfg    GRPOConfig
	params []*optim.Param
	opt    *optim.AdamW
	res    *GRPOResult
	start  time.Time
	hard   time.Time

	prompts  [][]int32
	train    []int // prompt indices
	val      []int
	order    []int
	pos      int
	epoch    int
	perEpoch int // sample batches per epoch
	total    int // optimizer steps planned
	warmup   int
	planned  int
	stepDurs []time.Duration
	evalDur  time.Duration

	evalEvery int
	best      snapshot
	bestVal   float64
	bestStep  int
	bestParts []float64
	badEvals  int
	rewards   []float64 // recent steps' mean reward
	losses    []float64
	trainTime time.Duration
	tokens    int64
	sampleDur time.Duration
	prompted  int64
}

func (r *grpoRun) logf(format string, args ...any) {
	if r.cfg.Log != nil {
		r.cfg.Log(fmt.Sprintf(format, args...))
	}
}

func (r *grpoRun) choose(name string, value any, reason string) {
	r.res.Choices = append(r.res.Choices, Choice{Name: name, Value: value, Reason: reason})
	r.logf("%s = %v: %s", name, value, reason)
}

func (r *grpoRun) metric(v map[string]any) {
	(&run{cfg: r.cfg.Config}).metric(v)
}

func (r *grpoRun) timeLeft() time.Duration {
	if r.hard.IsZero() {
		return math.MaxInt64
	}
	return r.hard.Sub(r.now())
}

// grpoValSize is the validation slice ValSize = 0 picks: sampling makes
// validation costly, so it stays small.
func grpoValSize(n int) int {
	if n < 40 {
		return 0
	}
	return min(16, max(4, n/20))
}

func (r *grpoRun) setup(d GRPOData) error {
	cfg := &r.cfg
	mc := r.m.Config()
	limit := mc.MaxPositions
	if mc.SlidingWindow > 0 {
		limit = min(limit, mc.SlidingWindow)
	}
	if len(d.Prompts) == 0 {
		return errors.New("no prompts")
	}
	for i, p := range d.Prompts {
		if len(p) == 0 {
			return fmt.Errorf("prompt %d is empty", i)
		}
		if len(p) >= limit {
			return fmt.Errorf("prompt %d has %d tokens, leaving no room for a completion within the model's %d positions", i, len(p), limit)
		}
		for _, t := range p {
			if t < 0 || int(t) >= mc.Vocab {
				return fmt.Errorf("prompt %d holds token %d, outside the vocabulary [0, %d)", i, t, mc.Vocab)
			}
		}
	}
	r.prompts = d.Prompts
	isVal := map[int]bool{}
	if d.Val != nil {
		for _, i := range d.Val {
			if i < 0 || i >= len(d.Prompts) {
				return fmt.Errorf("validation prompt %d is out of range", i)
			}
			isVal[i] = true
		}
		r.val = append([]int(nil), d.Val...)
	} else {
		n := len(d.Prompts)
		val, reason := cfg.ValSize, "as configured"
		switch {
		case val < 0:
			val, reason = 0, "disabled"
		case val == 0:
			val = grpoValSize(n)
			reason = fmt.Sprintf("%d prompts held out by seed to measure the reward (5%%, at most 16: each costs %d samples)", val, cfg.ValSamples)
			if val == 0 {
				reason = fmt.Sprintf("%d prompts are too few to spare a validation slice (under 40): the last weights are kept", n)
			}
		default:
			val = min(val, n-1)
		}
		r.choose("validation prompts", val, reason)
		if val > 0 {
			_, vi := splitVal(n, val, cfg.Seed)
			for _, i := range vi {
				isVal[i] = true
			}
			r.val = vi
		}
	}
	for i := range d.Prompts {
		if !isVal[i] {
			r.train = append(r.train, i)
		}
	}
	if len(r.train) == 0 {
		return errors.New("no training prompts left after holding out validation")
	}
	if cfg.KLBeta > 0 && r.m.TrainsBase() {
		ref, err := model.New(mc, 0)
		if err != nil {
			return err
		}
		copy(ref.Params(), r.m.Params())
		r.ref = ref
	}
	per := cfg.BatchSize * cfg.GradAccum
	r.perEpoch = (len(r.train) + per - 1) / per
	r.total = max(1, int(math.Ceil(cfg.Epochs*float64(r.perEpoch))*float64(cfg.Iterations)))
	if cfg.MaxSteps > 0 {
		r.total = min(r.total, cfg.MaxSteps)
	}
	r.warmup = max(1, int(math.Round(cfg.WarmupRatio*float64(r.total))))
	r.choose("grpo", fmt.Sprintf("G=%d, %d prompts per step, completions up to %d tokens, temperature %g, top-p %g, beta %g, clip %g/%g, %d update(s) per batch",
		cfg.Generations, per, cfg.MaxCompletion, cfg.Temperature, cfg.TopP, cfg.KLBeta, cfg.Epsilon, cfg.EpsilonHigh, cfg.Iterations),
		"group-normalised advantages; clipped policy ratio; KL penalty to the starting weights")
	return nil
}
