package experiment

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node/validatornode"
	"github.com/crucible-net/crucible/tuning"
	"github.com/crucible-net/crucible/validator"
)

// single is one training run outside the network: a recipe on a dataset
// for one miner's budget, alone on the machine, scored by the validator's
// own metric on the hidden test split.
type single struct {
	name, title string
	sources     []string
	recipe      tuning.Recipe
	data        string // the file it trains on
	dataName    string // as the report names it
}

// run trains and evaluates s, with the runs' seed.
func (e *env) run(ctx context.Context, s single, test string, mapping crucible.ColumnMapping) (api.ExperimentRun, error) {
	start, load := time.Now(), loadAvg()
	recipe, _ := json.Marshal(s.recipe)
	out := api.ExperimentRun{Name: s.name, Title: s.title, Sources: s.sources, Recipe: recipe, Data: s.dataName, Load: load}
	dir := filepath.Join(e.cfg.Dir, "runs", s.name)
	if err := os.RemoveAll(dir); err != nil {
		return out, err
	}
	res, err := tuning.Train(ctx, tuning.Spec{ModelDir: e.base, BaseModel: e.cfg.Model, DataPath: s.data, TaskType: crucible.TaskInstruct,
		OutDir: dir, Budget: e.cfg.Budget, ComputeRate: e.cfg.computeRate(), Recipe: s.recipe, Seed: e.cfg.Seed, WorkDir: dir + ".work",
		Log: func(msg string) { e.log.Info(msg, "run", s.name) }}, nil)
	out.Seconds = math.Round(time.Since(start).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		out.Failure = err.Error()
		return out, nil
	}
	if res.Train != nil {
		out.Stop = res.Train.StopReason
	}
	if b, err := os.ReadFile(filepath.Join(dir, crucible.TrainingFile)); err == nil {
		out.Training, _ = crucible.ParseTrainingFile(b)
	}
	ev, err := validatornode.EngineEvaluator{}.Evaluate(ctx, validator.EvalRequest{TaskType: crucible.TaskInstruct, BaseDir: e.base,
		ModelDir: dir, TestPath: test, Mapping: mapping})
	if err != nil {
		return out, err
	}
	if ev.Failure != "" {
		out.Failure = ev.Failure
		return out, nil
	}
	loss := ev.Loss
	out.Loss = &loss
	dropWeights(dir)
	out.Seconds = math.Round(time.Since(start).Seconds())
	return out, nil
}

// dropWeights removes a scored run's weights, keeping its model card,
// training.json and metrics: the numbers are in the report, and a folder
// of full models would grow with every run.
func dropWeights(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		switch e.Name() {
		case crucible.TrainingFile, "README.md", "metrics.jsonl":
		default:
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}
