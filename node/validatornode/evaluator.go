package validatornode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/trainers/torch"
	"github.com/crucible-net/crucible/tuning"
	"github.com/crucible-net/crucible/validator"
)

// EngineEvaluator is the validator's metric on crucible's own engine
// (tuning.Evaluate): deterministic, so auditors can re-run it bit for bit.
// It reads the test split's token file when there is one (the same bits as
// tokenizing the split).
type EngineEvaluator struct{}

// Numerics implements validator.NumericsReporter.
func (EngineEvaluator) Numerics() string { return tuning.Numerics() }

// Evaluate implements validator.Evaluator.
func (EngineEvaluator) Evaluate(ctx context.Context, req validator.EvalRequest) (*validator.EvalResult, error) {
	id := crucible.EvaluatorInfo{Kind: crucible.EvaluatorEngine, Version: tuning.EngineVersion()}
	if req.TaskType == crucible.TaskGRPO {
		r, err := tuning.EvaluateGRPO(ctx, tuning.GRPOEvalSpec{BaseDir: req.BaseDir, ModelDir: req.ModelDir, TestPath: req.TestPath,
			Mapping: req.Mapping, Rewards: req.Rewards, Seed: req.Seed, Progress: req.Progress})
		if err != nil {
			return nil, err
		}
		return &validator.EvalResult{Samples: r.Completions, Failure: r.Failure, IsAdapter: r.IsAdapter, Fingerprint: r.Fingerprint,
			Reward: tuning.RewardResultOf(r), Evaluator: id}, nil
	}
	r, err := tuning.Evaluate(ctx, tuning.EvalSpec{TaskType: req.TaskType, BaseDir: req.BaseDir, ModelDir: req.ModelDir,
		TestPath: req.TestPath, Mapping: req.Mapping, Progress: req.Progress, TokensPath: req.TestTokensPath})
	if err != nil {
		return nil, err
	}
	return &validator.EvalResult{Loss: r.Loss, Tokens: r.Tokens, Samples: r.Samples, Failure: r.Failure,
		IsAdapter: r.IsAdapter, Fingerprint: r.Fingerprint, Evaluator: id}, nil
}

// TorchEvaluator is the validator's metric computed by crucible_torch in a
// PyTorch process (on a GPU when there is one): the same definition as the
// engine's, within crucible.TorchTolerance of it. Task types it does not
// compute (grpo) go to Fallback.
type TorchEvaluator struct {
	Runtime  *torch.Runtime
	Device   string              // auto, cpu, cuda, cuda:N
	Fallback validator.Evaluator // for grpo tasks; nil refuses them
}

// NewTorchEvaluator finds a Python with PyTorch (python, or the usual
// interpreters when empty), extracting crucible_torch under dir. It fails
// with EINVALID and the fix when there is none.
func NewTorchEvaluator(ctx context.Context, python, dir, device string) (*TorchEvaluator, error) {
	rt, err := torch.Find(ctx, python, dir)
	if err != nil {
		return nil, fmt.Errorf("--evaluator torch: %w", err)
	}
	return &TorchEvaluator{Runtime: rt, Device: device, Fallback: EngineEvaluator{}}, nil
}

// Numerics implements validator.NumericsReporter: the class of the engine
// that evaluates grpo tasks in its place (the results log records it only
// for the engine's results).
func (e *TorchEvaluator) Numerics() string {
	if n, ok := e.Fallback.(validator.NumericsReporter); ok {
		return n.Numerics()
	}
	return ""
}

var evaluatedLine = regexp.MustCompile(`^evaluated (\d+)/(\d+) sequences`)

// Evaluate implements validator.Evaluator.
func (e *TorchEvaluator) Evaluate(ctx context.Context, req validator.EvalRequest) (*validator.EvalResult, error) {
	if req.TaskType == crucible.TaskGRPO {
		if e.Fallback == nil {
			return nil, crucible.Errorf(crucible.EINVALID, "the torch evaluator does not evaluate grpo tasks")
		}
		return e.Fallback.Evaluate(ctx, req)
	}
	tokens := req.TestTokensPath
	if tokens == "" {
		// A task prepared without token files: write one as preparation would.
		tmp, err := os.MkdirTemp("", "crucible-torch-eval-")
		if err != nil {
			return nil, crucible.Wrap(err, crucible.EINTERNAL, "torch evaluator: temporary directory")
		}
		defer os.RemoveAll(tmp)
		tokens = filepath.Join(tmp, "test.tokens.safetensors")
		m := req.Mapping
		if _, _, err := tuning.Tokenize(ctx, tuning.TokenizeSpec{ModelDir: req.BaseDir, DataPath: req.TestPath, TaskType: req.TaskType,
			Mapping: &m, OutPath: tokens, MaxLength: tuning.EvalMaxLength}); err != nil {
			return nil, fmt.Errorf("torch evaluator: tokenize the test split: %w", err)
		}
	}
	spec := torch.EvalSpec{BaseDir: req.BaseDir, ModelDir: req.ModelDir, TokensPath: tokens, Device: e.Device}
	if req.Progress != nil {
		spec.Progress = func(line string) {
			if m := evaluatedLine.FindStringSubmatch(line); m != nil {
				done, _ := strconv.Atoi(m[1])
				total, _ := strconv.Atoi(m[2])
				req.Progress(done, total)
			}
		}
	}
	r, err := e.Runtime.Evaluate(ctx, spec)
	if err != nil {
		return nil, err
	}
	return &validator.EvalResult{Loss: r.Loss, Tokens: r.Tokens, Samples: r.Samples, Failure: r.Failure, IsAdapter: r.IsAdapter,
		Fingerprint: r.Fingerprint, Evaluator: crucible.EvaluatorInfo{Kind: crucible.EvaluatorTorch, Version: r.Evaluator.String()}}, nil
}
