package validatornode

import (
	"context"
	"path/filepath"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/dataprep"
	"github.com/crucible-net/crucible/reward"
	"github.com/crucible-net/crucible/tuning"
	"github.com/crucible-net/crucible/validator"
)

// preparer adapts dataprep.Preparer to the validator's Preparer seam.
type preparer struct{ p *dataprep.Preparer }

// NewPreparer returns the production Preparer: datasets resolved by ds,
// models by models, split as split says.
func NewPreparer(ds datasetResolver, models validator.Models, split data.SplitOptions) validator.Preparer {
	return preparer{&dataprep.Preparer{Datasets: ds, Models: models, Split: split}}
}

func (p preparer) Prepare(ctx context.Context, t *crucible.Task, dir string, hp *crucible.Honeypot) (*validator.Prepared, error) {
	r, err := p.p.Prepare(ctx, t, dir, hp)
	if err != nil {
		return nil, err
	}
	return &validator.Prepared{TrainPath: r.TrainPath, TestPath: r.TestPath, TrainRows: r.TrainRows, TestRows: r.TestRows,
		Mapping: r.Mapping, SourceMapping: r.SourceMapping, Reason: r.Reason, ModelParams: r.ModelParams,
		TrainTokens: r.TrainTokens}, nil
}

// countParams counts a model directory's parameters.
func countParams(dir string) (int64, error) { return dataprep.CountParams(dir) }

// EngineEvaluator is the validator's metric on crucible's own engine
// (tuning.Evaluate): deterministic, so auditors can re-run it.
type EngineEvaluator struct{}

// Numerics implements validator.NumericsReporter.
func (EngineEvaluator) Numerics() string { return tuning.Numerics() }

// Evaluate implements validator.Evaluator.
func (EngineEvaluator) Evaluate(ctx context.Context, req validator.EvalRequest) (*validator.EvalResult, error) {
	if req.TaskType == crucible.TaskGRPO {
		r, err := tuning.EvaluateGRPO(ctx, tuning.GRPOEvalSpec{BaseDir: req.BaseDir, ModelDir: req.ModelDir, TestPath: req.TestPath,
			Mapping: req.Mapping, Rewards: req.Rewards, Seed: req.Seed, Progress: req.Progress})
		if err != nil {
			return nil, err
		}
		return &validator.EvalResult{Samples: r.Completions, Failure: r.Failure, IsAdapter: r.IsAdapter, Fingerprint: r.Fingerprint,
			Reward: tuning.RewardResultOf(r)}, nil
	}
	r, err := tuning.Evaluate(ctx, tuning.EvalSpec{TaskType: req.TaskType, BaseDir: req.BaseDir, ModelDir: req.ModelDir,
		TestPath: req.TestPath, Mapping: req.Mapping, Progress: req.Progress})
	if err != nil {
		return nil, err
	}
	return &validator.EvalResult{Loss: r.Loss, Tokens: r.Tokens, Samples: r.Samples, Failure: r.Failure,
		IsAdapter: r.IsAdapter, Fingerprint: r.Fingerprint}, nil
}

// syntheticCandidates pairs the configured models with the configured (or
// shipped) datasets, detecting each dataset's task type.
func syntheticCandidates(cfg *Config) ([]validator.Synthetic, error) {
	datasets := cfg.SyntheticDatasets
	shipped := filepath.Join(filepath.Dir(cfg.Assets), "datasets")
	if len(datasets) == 0 {
		datasets, _ = filepath.Glob(filepath.Join(shipped, "*.jsonl"))
	}
	if len(datasets) == 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "synthetic tasks need datasets: none given and none shipped in %s", shipped).
			WithHint("name them with --synthetic-datasets")
	}
	var out []validator.Synthetic
	for _, ds := range datasets {
		det, err := data.DetectFile(ds, 0)
		if err != nil {
			return nil, crucible.Wrap(err, crucible.EINVALID, "synthetic dataset %s", ds)
		}
		var rewards []crucible.Reward
		if det.Type == crucible.TaskGRPO {
			// A grpo task is only as good as its rewards: a dataset
			// without its own rewards file makes no synthetic task.
			rs, ok, err := reward.LoadSidecar(ds)
			if err != nil {
				return nil, crucible.Wrap(err, crucible.EINVALID, "synthetic dataset %s", ds)
			}
			if !ok {
				continue
			}
			rewards = rs
		}
		for _, m := range cfg.SyntheticModels {
			out = append(out, validator.Synthetic{Type: det.Type, Model: m, Dataset: ds, Hours: cfg.SyntheticHours, Rewards: rewards})
		}
	}
	return out, nil
}
