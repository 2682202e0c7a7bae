package crucible

import (
	"context"
	"time"
)

// EvaluationVersion is the format version of the Evaluation records this
// code writes. A store refuses to read a record of a later version (written
// by a newer crucible) rather than misread it; a change to the record's
// meaning bumps it and migrates older records.
const EvaluationVersion = 1

// Evaluation is a validator's private record of how it evaluates one task:
// what it planted in the splits, how to read them, what it measured. It is
// kept apart from the Task, in its own table, and never sent to customers
// or miners (the base loss reaches customers only as a field of their
// results, and auditors only through the results log once the task ends).
type Evaluation struct {
	TaskID  string `json:"task_id"`
	Version int    `json:"version"` // the format version it was written in (EvaluationVersion)
	// SplitMapping says how to read the prepared splits' columns (the
	// standard columns of the task's type), fixed when the data is prepared.
	SplitMapping *ColumnMapping `json:"split_mapping,omitempty"`
	// Honeypot is what was planted in a synthetic task's splits; nil for a
	// customer's task.
	Honeypot *Honeypot `json:"honeypot,omitempty"`
	// BaseLoss is the base model's test loss, nil until measured.
	BaseLoss *float64 `json:"base_loss,omitempty"`
	// BaseReward is, for a grpo task, the base model's evaluation, nil
	// until measured.
	BaseReward *RewardResult `json:"base_reward,omitempty"`
	// Evaluator is what computed BaseLoss, and so every loss of the task:
	// all of a task's losses come from one kind of evaluator. Nil until the
	// base is evaluated.
	Evaluator *EvaluatorInfo `json:"evaluator,omitempty"`
	// TrainTokens and TestTokens are the blob keys of the splits' token
	// files (docs/tokens.md), written with the base model's tokenizer when
	// the data is prepared; empty for tasks prepared without them.
	TrainTokens string `json:"train_tokens,omitempty"`
	TestTokens  string `json:"test_tokens,omitempty"`
	// ScoredAt is the time the task's scores and results-log entry carry,
	// fixed the first time it is scored so that a re-run gives the same.
	ScoredAt  *time.Time `json:"scored_at,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// Evaluator kinds: what computed a loss.
const (
	// EvaluatorEngine is crucible's own engine: deterministic, so a re-run
	// on the same machine and thread count gives the same bits.
	EvaluatorEngine = "engine"
	// EvaluatorTorch is crucible_torch, the PyTorch evaluator (GPUs): a
	// re-run agrees within TorchTolerance.
	EvaluatorTorch = "torch"
)

// TorchTolerance is the relative difference within which two evaluations
// of the same submission by the PyTorch evaluator count as equal: float32
// evaluation whose reductions a GPU does not order the same way twice, on
// other cards or versions. (Measured: the PyTorch and Go evaluators agree
// within 1e-7 relative on the CPU.)
const TorchTolerance = 1e-4

// EvaluatorInfo says which evaluator computed a loss, and its versions.
type EvaluatorInfo struct {
	Kind    string `json:"kind"`              // EvaluatorEngine or EvaluatorTorch
	Version string `json:"version,omitempty"` // versions and device, e.g. "crucible_torch 1, torch 2.5.1, CUDA 12.4, NVIDIA H100 80GB HBM3, compact"
}

// SameLoss reports whether a re-computed loss equals a logged one for the
// evaluator kind that logged it: bit for bit for crucible's engine, within
// TorchTolerance (relative) for the PyTorch evaluator.
func SameLoss(kind string, logged, recomputed float64) bool {
	if kind != EvaluatorTorch {
		return logged == recomputed
	}
	d := logged - recomputed
	if d < 0 {
		d = -d
	}
	scale := logged
	if scale < 0 {
		scale = -scale
	}
	return d <= TorchTolerance*scale || d == 0
}

// Honeypot describes the changes planted in a synthetic task's splits so
// that training on the public dataset's original does not pay: a marker
// before every prompt, a second marker after a share of the answers, and
// for DPO possibly chosen and rejected swapped throughout.
type Honeypot struct {
	PromptMarker string  `json:"prompt_marker"`
	AnswerMarker string  `json:"answer_marker"`
	AnswerShare  float64 `json:"answer_share"` // fraction of rows whose answer gets AnswerMarker
	SwapDPO      bool    `json:"swap_dpo"`
}

// EvaluationService stores the validator's evaluation records and the
// weight-delta fingerprints of submissions.
type EvaluationService interface {
	// FindEvaluation returns a task's evaluation record. Returns ENOTFOUND
	// when none was saved yet, EINTERNAL for a record of a later format
	// version than this code knows.
	FindEvaluation(ctx context.Context, taskID string) (*Evaluation, error)
	// SaveEvaluation stores e as its task's record (replacing the one
	// there), written in the current format version. Returns ENOTFOUND when
	// the task does not exist.
	SaveEvaluation(ctx context.Context, e *Evaluation) error
	// SaveFingerprint records the fingerprint of one miner's submission,
	// replacing an earlier one. Returns ENOTFOUND when the task does not
	// exist, EINVALID for an empty fingerprint.
	SaveFingerprint(ctx context.Context, taskID, hotkey string, fp []float32) error
	// FindFingerprints returns a task's submission fingerprints by hotkey.
	FindFingerprints(ctx context.Context, taskID string) (map[string][]float32, error)
}
