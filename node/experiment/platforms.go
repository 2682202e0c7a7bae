package experiment

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/tuning"
)

// PlatformsConfig configures "crucible experiment platforms". Each field's
// doc comment is its documentation and states its default (package
// config).
type PlatformsConfig struct {
	Common
	// Platforms are the platform recipes to compare (tuning.Platforms:
	// together, vertex, openai, autotrain, axolotl); empty means all.
	Platforms []string `flag:"platforms"`
	// AutoRuns is how many single crucible train --recipe auto runs are
	// made (seeds Seed, Seed+1, ...); the best one counts. Defaults to `2`.
	AutoRuns int `flag:"auto-runs"`
	// Rounds is how many competitions the network runs; the last one's
	// winner is compared (the miners learn from the earlier ones).
	// Defaults to `1`.
	Rounds int `flag:"rounds"`
	// PretrainLR is the base model's peak pretraining learning rate, which
	// OpenAI's recipe scales; 0 means crucible-tiny's 2e-3 for the shipped
	// model and 3e-4 otherwise.
	PretrainLR float64 `flag:"pretrain-lr"`
}

// DefaultPlatformsConfig returns the documented defaults.
func DefaultPlatformsConfig() PlatformsConfig {
	var c PlatformsConfig
	config.Defaults(&c)
	return c
}

type platformsSettings struct {
	Model, Dataset   string
	Budget           string
	BudgetClock      string  `json:",omitempty"`
	ComputeRate      float64 `json:",omitempty"`
	Strategies       []string
	Miners           string
	TestRows         int
	Seed             uint64
	Platforms        []string
	AutoRuns, Rounds int
	PretrainLR       float64
}

// RunPlatforms runs the network's competition(s) and, on the same train
// and hidden test split, a single run of each platform's zero-configuration
// recipe and of crucible train --recipe auto, each with one miner's
// budget, and writes the report. It resumes an interrupted comparison in
// cfg.Dir.
func RunPlatforms(ctx context.Context, cfg PlatformsConfig, w io.Writer) (*api.ExperimentResults, error) {
	if cfg.AutoRuns < 0 || cfg.Rounds < 1 {
		return nil, crucible.Errorf(crucible.EINVALID, "--auto-runs %d and --rounds %d: want at least 0 and 1", cfg.AutoRuns, cfg.Rounds)
	}
	var platforms []tuning.Platform
	if len(cfg.Platforms) == 0 {
		platforms = tuning.Platforms()
	}
	for _, name := range cfg.Platforms {
		p, err := tuning.PlatformNamed(name)
		if err != nil {
			return nil, crucible.Wrap(err, crucible.EINVALID, "--platforms")
		}
		platforms = append(platforms, p)
	}
	cfg.Common.normalize()
	set := platformsSettings{Model: cfg.Model, Dataset: portable(cfg.Dataset), Budget: cfg.Budget.String(), BudgetClock: cfg.BudgetClock, ComputeRate: cfg.computeRate(), Strategies: cfg.Strategies, Miners: cfg.Miners,
		TestRows: cfg.TestRows, Seed: cfg.Seed, Platforms: cfg.Platforms, AutoRuns: cfg.AutoRuns, Rounds: cfg.Rounds, PretrainLR: cfg.PretrainLR}
	e, err := open(cfg.Common, api.ExperimentPlatforms, set, w)
	if err != nil {
		return nil, err
	}
	e.res.Title = fmt.Sprintf("the network against managed platforms' defaults on %s, %s", cfg.Model, e.res.Dataset)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	net, err := e.network(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { cancel(); net.Wait() }()
	if err := net.Validator.SyncMetagraph(ctx); err != nil {
		return nil, err
	}
	e.say("platforms: the network (%s; %s, %s each) against %d platform recipes and crucible train --recipe auto; dashboard %s",
		strings.Join(cfg.Strategies, ", "), cfg.Miners, cfg.Budget, len(platforms), net.Validator.URL())
	for r := len(e.res.Rounds) + 1; r <= cfg.Rounds; r++ {
		round, err := e.compete(ctx, net, r, e.res.Pending, func(id string) error {
			e.res.Pending = id
			return e.save()
		})
		if err != nil {
			return nil, err
		}
		e.res.Rounds, e.res.Pending = append(e.res.Rounds, *round), ""
		e.res.BaseLoss = round.BaseLoss
		if err := e.save(); err != nil {
			return nil, err
		}
		e.sayRound(round)
	}
	last := e.res.Rounds[len(e.res.Rounds)-1]
	if last.Status != string(crucible.StatusSuccess) {
		return nil, crucible.Errorf(crucible.EINTERNAL, "the network's competition ended %s: nothing to compare", last.Status)
	}
	t, err := net.Validator.Store().FindTask(ctx, last.TaskID)
	if err != nil {
		return nil, err
	}
	train, test, mapping, err := e.splits(ctx, net, t)
	if err != nil {
		return nil, err
	}
	e.res.TestRows, e.res.TestSHA256 = t.TestRows, fileSHA256(test)
	facts := tuning.PlatformFacts{Examples: t.TrainRows, PretrainLR: cfg.PretrainLR}
	if facts.PretrainLR == 0 && cfg.Model == "crucible-tiny" {
		facts.PretrainLR = 2e-3 // tools/assets: crucible-tiny's pretraining peak rate
	}
	var singles []single
	for _, p := range platforms {
		singles = append(singles, single{name: p.Name, title: p.Title + " defaults", sources: p.Sources, recipe: p.Recipe(facts),
			data: train, dataName: "the competition's train split"})
	}
	auto, _ := tuning.NamedRecipe("auto")
	for i := range cfg.AutoRuns {
		singles = append(singles, single{name: fmt.Sprintf("auto-%d", i+1), title: "crucible train --recipe auto", recipe: auto,
			data: train, dataName: "the competition's train split"})
	}
	done := map[string]bool{}
	for _, r := range e.res.Runs {
		done[r.Name] = true
	}
	for i, s := range singles {
		if done[s.name] {
			continue
		}
		e.say("  %s: %s for %s on the train split ...", s.name, s.title, cfg.Budget)
		if strings.HasPrefix(s.name, "auto-") {
			e.cfg.Seed = cfg.Seed + uint64(i-len(platforms)) // each auto run its own seed
		}
		run, err := e.run(ctx, s, test, mapping)
		e.cfg.Seed = cfg.Seed
		if err != nil {
			return nil, err
		}
		e.res.Runs = append(e.res.Runs, run)
		if err := e.save(); err != nil {
			return nil, err
		}
		e.say("  %s: test loss %s (%s, %.0fs, load %.1f)", s.name, lossText(run.Loss, run.Failure), run.Stop, run.Seconds, run.Load)
	}
	e.res.Targets = platformTargets(e.res)
	e.res.Notes = append(e.res.Notes[:0], notes(e)...)
	if err := e.finish(); err != nil {
		return nil, err
	}
	return e.res, e.serve(ctx, net)
}

// platformTargets checks the comparison's target: the network's winner
// beats every platform recipe and the best single auto run.
func platformTargets(res *api.ExperimentResults) []api.ExperimentTarget {
	last := res.Rounds[len(res.Rounds)-1]
	var out []api.ExperimentTarget
	var bestAuto *api.ExperimentRun
	for i := range res.Runs {
		r := &res.Runs[i]
		if strings.HasPrefix(r.Name, "auto-") {
			if r.Loss != nil && (bestAuto == nil || *r.Loss < *bestAuto.Loss) {
				bestAuto = r
			}
			continue
		}
		out = append(out, beats(last, r.Title, r))
	}
	if bestAuto != nil {
		out = append(out, beats(last, "the best single crucible train --recipe auto run ("+bestAuto.Name+")", bestAuto))
	}
	return out
}

func beats(last api.ExperimentRound, what string, r *api.ExperimentRun) api.ExperimentTarget {
	t := api.ExperimentTarget{Name: "the network's winner beats " + what}
	switch {
	case last.WinnerLoss == nil:
		t.Detail = "the network had no winner"
	case r.Loss == nil:
		t.Met, t.Detail = true, fmt.Sprintf("winner %.4f; the run failed: %s", *last.WinnerLoss, r.Failure)
	default:
		t.Met = *last.WinnerLoss < *r.Loss
		t.Detail = fmt.Sprintf("winner %.4f, %s %.4f (%+.1f%%)", *last.WinnerLoss, r.Name, *r.Loss, 100*(*last.WinnerLoss-*r.Loss) / *r.Loss)
	}
	return t
}
