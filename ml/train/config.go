// Package train fine-tunes crucible models on tokenized data: supervised
// fine-tuning (full or LoRA) and continued pretraining on masked sequences,
// and DPO on preference pairs against the starting weights as reference.
//
// A run uses AdamW with linear warmup and cosine decay, global gradient
// clipping and gradient accumulation; it evaluates a held-out validation
// slice as it goes, keeps the best weights and stops early when they stop
// improving; it writes checkpoints atomically, rolls back to the last good
// weights when the loss turns NaN or infinite, and meets a time budget:
// it measures its own throughput, sizes the schedule to the time left and
// checks the clock before every step, leaving the time its caller reserved
// for saving. Every automatic choice (learning rate from a range test,
// batch size from a memory budget, epochs from data size and time, LoRA or
// full fine-tuning from model size) is returned with its reason.
//
// Given a seed, a run without a deadline is deterministic; under a
// deadline only the number of steps depends on the machine's speed.
package train

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/optim"
)

// Sequence and Pair are the tokenized examples training reads (see
// package eval for their alignment).
type (
	Sequence = eval.Sequence
	Pair     = eval.Pair
)

// Data is what a run trains on: Sequences for SFT and continued
// pretraining, Pairs for DPO (exactly one of the two). Val, when nil, is
// carved out of the training data (see Config.ValSize).
//
// Source, when set, is read instead of Train or Pairs, one micro-batch at
// a time (a token store: the dataset is never all in memory); with
// SourcePairs it holds preference pairs laid out as eval.PairsOf lays them
// out. ValSource, when set, is the validation data in the same layout.
type Data struct {
	Train    []Sequence
	Val      []Sequence
	Pairs    []Pair
	ValPairs []Pair

	Source      eval.Source
	ValSource   eval.Source
	SourcePairs bool
}

// DPO reports whether d is preference data.
func (d *Data) DPO() bool { return len(d.Pairs) > 0 || (d.Source != nil && d.SourcePairs) }

// Config controls a run. Zero values mean "choose automatically" where the
// field says so.
type Config struct {
	// LR is the peak learning rate; 0 runs a short learning-rate range test
	// to pick it.
	LR float64
	// Schedule is the learning rate's decay after the warmup: "cosine",
	// "linear" (both to MinLRRatio·LR at the last step) or "constant".
	// Defaults to "cosine".
	Schedule string
	// MinLRRatio is the final learning rate of the decay as a share of LR.
	// Defaults to 0.1; negative means 0 (decay to zero).
	MinLRRatio float64
	// WarmupRatio is the share of steps spent warming up linearly.
	// Defaults to 0.05; negative means none (a warmup of one step, the
	// least the schedule has).
	WarmupRatio float64
	// WeightDecay is AdamW's decoupled decay. Defaults to 0.01; negative
	// means none.
	WeightDecay float64
	// MaxGradNorm clips the global gradient norm. Defaults to 1; negative
	// disables clipping.
	MaxGradNorm float64
	// BatchSize is the number of sequences (pairs for DPO) of one
	// micro-batch. Defaults to 8.
	BatchSize int
	// MaxBatchTokens caps B·T of one micro-batch (memory); a micro-batch
	// holds fewer sequences when they are long. 0 means no cap.
	MaxBatchTokens int
	// GradAccum is the number of micro-batches per optimizer step.
	// Defaults to 1.
	GradAccum int
	// Epochs is the number of passes over the data; 0 picks it from the
	// data size (and the time budget decides how much of it runs).
	Epochs float64
	// MaxSteps caps the optimizer steps; 0 means no cap.
	MaxSteps int
	// Beta is DPO's temperature. Defaults to 0.1.
	Beta float64
	// ValSize is the number of training examples held out for validation
	// when Data has no Val: 0 picks 5% (at most 200, none below 40
	// examples); negative means none.
	ValSize int
	// EvalEvery is the number of steps between validations; 0 picks it so
	// that about ten run and they cost at most a tenth of the time.
	EvalEvery int
	// Patience is how many validations without improvement end the run.
	// Defaults to 3; negative means never stop early.
	Patience int
	// CheckpointDir, when set, receives checkpoints (trainable weights,
	// optimizer state, progress) every CheckpointEvery, each written to a
	// temporary directory and renamed into place; the previous one is
	// removed only after the new one is complete.
	CheckpointDir   string
	CheckpointEvery time.Duration // defaults to 5 minutes
	// Resume, when set, is a checkpoint (see LatestCheckpoint) to continue
	// from: its weights, optimizer state and place in the data order. The
	// model must be set up as when it was written (same mode, same
	// adapter), and the data and Seed the same.
	Resume string
	// Deadline, when set, is when the run must have returned; Reserve is
	// the time before it the caller keeps for itself (saving the model).
	Deadline time.Time
	Reserve  time.Duration
	// Clock is the clock the run's deadline decisions read (whether
	// another step, a validation, a checkpoint or the final validation
	// fits before Deadline); nil means time.Now. Tests set it to put a run
	// at its deadline whatever the machine's speed; the deadline's context
	// still cancels on the real clock.
	Clock func() time.Time
	// Compute, when set, is the run's clock instead of Clock: a compute
	// clock that the run advances by the estimated cost of the work it
	// does, so that every deadline decision (the steps that fit, the
	// range test, validations, checkpoints, the stop) is a function of
	// the work done, not of the machine's speed or load. Deadline is then
	// a time on that clock, and it does not cancel the run on the real
	// clock (the caller's context still can).
	Compute *ComputeClock
	// Seed fixes the data order and the validation split.
	Seed uint64
	// DataID identifies the training data (a token store's checksum), so
	// that a checkpoint is resumed only on the data it was written for:
	// the data order is a function of the seed and the data.
	DataID string
	// Metrics receives one JSON object per step (and per validation).
	Metrics io.Writer
	// Log receives human-readable lines: choices, validations, stops.
	Log func(msg string)
	// Progress is called after every step.
	Progress func(Progress)
	// EvalOptions bounds validation batches.
	EvalOptions eval.Options
	// Precision is the arithmetic of the matrix products while training
	// and validating: "fp32", "bf16" (bf16 operands, float32 sums; see
	// model.Model.SetPrecision) or "auto" (bf16 where the CPU has bf16
	// instructions). Defaults to "auto". The run leaves the model set to
	// it, so that re-evaluating the weights returned gives the losses it
	// reported; scoring uses kernel.FP32.
	Precision string

	// faultStep, in tests, makes the loss of this step NaN.
	faultStep int
}

// Progress reports a running job.
type Progress struct {
	Step, TotalSteps int
	Epoch            float64
	Loss             float64
	LR               float64
	TokensPerS       float64
	Fraction         float64 // 0..1
	Message          string
	// Reward is a GRPO step's mean reward of its samples; nil otherwise.
	Reward *float64
}

func (c Config) withDefaults() Config {
	if c.Schedule == "" {
		c.Schedule = optim.Cosine
	}
	if c.MinLRRatio == 0 {
		c.MinLRRatio = 0.1
	} else if c.MinLRRatio < 0 {
		c.MinLRRatio = 0
	}
	if c.WarmupRatio == 0 {
		c.WarmupRatio = 0.05
	} else if c.WarmupRatio < 0 {
		c.WarmupRatio = 0
	}
	if c.WeightDecay == 0 {
		c.WeightDecay = 0.01
	} else if c.WeightDecay < 0 {
		c.WeightDecay = 0
	}
	if c.MaxGradNorm == 0 {
		c.MaxGradNorm = 1
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 8
	}
	if c.GradAccum <= 0 {
		c.GradAccum = 1
	}
	if c.Beta == 0 {
		c.Beta = eval.DefaultBeta
	}
	if c.Patience == 0 {
		c.Patience = 3
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = 5 * time.Minute
	}
	return c
}

// Effective returns the configuration with every default filled in: the
// schedule, ratios, decay, clipping and batch shape a run uses.
func (c Config) Effective() Config { return c.withDefaults() }

// Validate reports settings that cannot train.
func (c Config) Validate() error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	switch {
	case c.LR < 0 || bad(c.LR):
		return fmt.Errorf("learning rate %g must be positive (or 0 for automatic)", c.LR)
	case c.MinLRRatio > 1 || math.IsNaN(c.MinLRRatio):
		return fmt.Errorf("min learning rate ratio %g must be in [0, 1]", c.MinLRRatio)
	case c.WarmupRatio >= 1 || math.IsNaN(c.WarmupRatio):
		return fmt.Errorf("warmup ratio %g must be in [0, 1)", c.WarmupRatio)
	case c.Schedule != "" && c.Schedule != optim.Cosine && c.Schedule != optim.Linear && c.Schedule != optim.Constant:
		return fmt.Errorf("learning rate schedule %q must be cosine, linear or constant", c.Schedule)
	case c.Epochs < 0 || bad(c.Epochs):
		return fmt.Errorf("epochs %g must be positive (or 0 for automatic)", c.Epochs)
	case c.MaxSteps < 0:
		return fmt.Errorf("max steps %d must be ≥ 0", c.MaxSteps)
	case c.Beta < 0 || bad(c.Beta):
		return fmt.Errorf("dpo beta %g must be positive", c.Beta)
	case bad(c.WeightDecay) || bad(c.MaxGradNorm):
		return fmt.Errorf("weight decay %g and max gradient norm %g must be finite", c.WeightDecay, c.MaxGradNorm)
	}
	if _, err := kernel.ParsePrecision(c.Precision); err != nil {
		return err
	}
	return nil
}

// Choice is one setting a run or its caller picked, with the reason.
type Choice struct {
	Name   string `json:"name"`
	Value  any    `json:"value"`
	Reason string `json:"reason"`
}

// Result is what a run did.
type Result struct {
	Steps      int     `json:"steps"`
	Epochs     float64 `json:"epochs"`
	Tokens     int64   `json:"tokens"` // tokens processed (not counting padding)
	TokensPerS float64 `json:"tokens_per_s"`
	TrainLoss  float64 `json:"train_loss"` // mean over the last steps
	// FirstLoss is the loss of the first step.
	FirstLoss float64 `json:"first_loss"`
	// InitialValLoss is the validation loss (DPO: loss) before training;
	// ValLoss the one of the weights returned; NaN without validation.
	InitialValLoss float64 `json:"initial_val_loss"`
	ValLoss        float64 `json:"val_loss"`
	// RewardAccuracy and Margin are DPO's validation figures of the
	// weights returned (initial ones before training).
	InitialRewardAccuracy float64 `json:"initial_reward_accuracy,omitempty"`
	RewardAccuracy        float64 `json:"reward_accuracy,omitempty"`
	Margin                float64 `json:"reward_margin,omitempty"`
	BestStep              int     `json:"best_step"`
	LR                    float64 `json:"lr"`
	// StopReason says why the run ended: "completed", "time budget",
	// "early stop", "diverged", "canceled".
	StopReason string        `json:"stop_reason"`
	Warnings   []string      `json:"warnings,omitempty"`
	Choices    []Choice      `json:"choices"`
	Duration   time.Duration `json:"duration_ns"`
	// ComputeGFLOP and ComputeTime are, for a run on a compute clock
	// (Config.Compute), the work it charged and that work as time on the
	// clock; zero otherwise.
	ComputeGFLOP float64       `json:"compute_gflop,omitempty"`
	ComputeTime  time.Duration `json:"compute_ns,omitempty"`
}

// Stop reasons.
const (
	StopCompleted = "completed"
	StopBudget    = "time budget"
	StopEarly     = "early stop"
	StopDiverged  = "diverged"
	StopCanceled  = "canceled"
)
