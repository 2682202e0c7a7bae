package main

import (
	"context"

	"github.com/crucible-net/crucible/auditor"
	"github.com/crucible-net/crucible/tuning"
	"github.com/crucible-net/crucible/validator"
)

// engineEvaluator is the validator's and the auditor's metric on crucible's
// own engine (tuning.Evaluate): deterministic, so auditors can re-run it.
type engineEvaluator struct{}

func (engineEvaluator) Evaluate(ctx context.Context, req validator.EvalRequest) (*validator.EvalResult, error) {
	r, err := tuning.Evaluate(ctx, tuning.EvalSpec{TaskType: req.TaskType, BaseDir: req.BaseDir, ModelDir: req.ModelDir,
		TestPath: req.TestPath, Mapping: req.Mapping, Progress: req.Progress})
	if err != nil {
		return nil, err
	}
	return &validator.EvalResult{Loss: r.Loss, Tokens: r.Tokens, Samples: r.Samples, Failure: r.Failure,
		IsAdapter: r.IsAdapter, Fingerprint: r.Fingerprint}, nil
}

// auditEvaluator adapts the same metric to the auditor.
type auditEvaluator struct{}

func (auditEvaluator) Evaluate(ctx context.Context, req auditor.EvalRequest) (float64, string, error) {
	r, err := tuning.Evaluate(ctx, tuning.EvalSpec{TaskType: req.TaskType, BaseDir: req.BaseDir, ModelDir: req.ModelDir,
		TestPath: req.TestPath, Mapping: req.Mapping})
	if err != nil {
		return 0, "", err
	}
	return r.Loss, r.Failure, nil
}
