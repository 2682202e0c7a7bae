package miner

import (
	"context"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// Job is everything a strategy needs to train one task.
type Job struct {
	TaskID   string
	TaskType crucible.TaskType
	Model    string // the base model's name
	ModelDir string // the base model, unpacked (Hugging Face layout)
	DataPath string // the train split, JSONL
	// TokensPath is the train split as a token file (docs/tokens.md),
	// written by the validator with the base model's tokenizer; empty when
	// the validator sent none.
	TokensPath      string
	Mapping         *crucible.ColumnMapping // how to read the train split
	Rewards         []crucible.Reward       // a grpo task's reward functions
	Hints           *crucible.Hints         // the customer's suggested hyperparameters; nil for none
	HoursToComplete float64
	Deadline        time.Time // the strategy must have written OutDir by then (ctx expires at it)
	// Budget and ComputeRate, when set (miners taking Turns on a compute
	// clock), are the training budget as compute: Budget's worth of work at
	// ComputeRate GFLOP/s (tuning.Spec.ComputeRate), however long it takes
	// before Deadline. Zero: the budget is the time until Deadline.
	Budget      time.Duration
	ComputeRate float64
	OutDir      string // write the result here: a full model or a PEFT adapter
	// DataSHA256 is the train split's hash, as the validator announced
	// it ("" when it did not).
	DataSHA256 string
	// Validator is the hotkey of the validator that started the job.
	Validator string
	// Results reads that validator's public results log from entry after
	// on (a page at a time); nil when the miner cannot reach it. Learning
	// strategies read what earlier tasks scored and how their winners
	// trained.
	Results func(ctx context.Context, after int64) ([]*crucible.ResultEntry, error)
}

// Progress is a strategy's report on a running job.
type Progress struct {
	Fraction float64  // 0..1
	Step     int      // optimizer steps done
	Loss     *float64 // latest training loss
	Reward   *float64 // grpo: the latest mean reward of the samples
	Message  string
}

// Strategy trains a job. Strategies are a miner's edge: the automatic one,
// fixed recipes, or any external program.
type Strategy interface {
	// Name names the strategy in logs and status.
	Name() string
	// Train fine-tunes job.ModelDir on job.DataPath and writes the result to
	// job.OutDir before ctx's deadline, calling report as it goes.
	Train(ctx context.Context, job *Job, report func(Progress)) error
}
