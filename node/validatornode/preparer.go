package validatornode

import (
	"context"
	"fmt"
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

// Prepare splits the task's data and writes both splits' token files with
// the base's tokenizer (all but grpo tasks, whose prompts are sampled from,
// not scored token by token), exactly as the engine's evaluation tokenizes
// a split: miners get the train split's, evaluators read the test split's.
func (p preparer) Prepare(ctx context.Context, t *crucible.Task, dir string, hp *crucible.Honeypot) (*validator.Prepared, error) {
	r, err := p.p.Prepare(ctx, t, dir, hp)
	if err != nil {
		return nil, err
	}
	out := &validator.Prepared{TrainPath: r.TrainPath, TestPath: r.TestPath, TrainRows: r.TrainRows, TestRows: r.TestRows,
		Mapping: r.Mapping, SourceMapping: r.SourceMapping, Reason: r.Reason, ModelParams: r.ModelParams,
		TrainTokens: r.TrainTokens}
	if t.Type == crucible.TaskGRPO {
		return out, nil
	}
	modelDir, err := p.p.Models.ResolveModel(ctx, t.Model)
	if err != nil {
		return nil, err
	}
	for _, s := range []struct{ in, out string }{{r.TrainPath, "train.tokens.safetensors"}, {r.TestPath, "test.tokens.safetensors"}} {
		path := filepath.Join(dir, s.out)
		if _, _, err := tuning.Tokenize(ctx, tuning.TokenizeSpec{ModelDir: modelDir, DataPath: s.in, TaskType: t.Type,
			Mapping: &r.Mapping, OutPath: path, MaxLength: tuning.EvalMaxLength}); err != nil {
			return nil, fmt.Errorf("token file of %s: %w", filepath.Base(s.in), err)
		}
	}
	out.TrainTokensPath, out.TestTokensPath = filepath.Join(dir, "train.tokens.safetensors"), filepath.Join(dir, "test.tokens.safetensors")
	return out, nil
}

// countParams counts a model directory's parameters.
func countParams(dir string) (int64, error) { return dataprep.CountParams(dir) }

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
