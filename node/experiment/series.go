package experiment

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node/localnet"
	"github.com/crucible-net/crucible/tuning"
)

// SeriesConfig configures "crucible experiment series". Each field's doc
// comment is its documentation and states its default (package config).
type SeriesConfig struct {
	Common
	// Rounds is the number of successive competitions. Defaults to `5`.
	Rounds int `flag:"rounds"`
	// Reference is the instruct dataset the reference line's model is
	// tuned on (the base, one miner's budget, crucible train --recipe
	// auto), evaluated on the series' hidden split: a file or a shipped
	// dataset's name; empty means the shipped definitions set (the facts
	// set when the series is on definitions).
	Reference string `flag:"reference"`
	// Improvement is the fall of the winner's loss from the first round to
	// the last that the series' target asks for. Defaults to `0.05`.
	Improvement float64 `flag:"improvement"`
}

// DefaultSeriesConfig returns the documented defaults.
func DefaultSeriesConfig() SeriesConfig {
	var c SeriesConfig
	config.Defaults(&c)
	return c
}

// seriesSettings are the settings that make a series what it is: resuming
// needs the same (more rounds extend it).
type seriesSettings struct {
	Model, Dataset, Reference string
	Budget                    string
	BudgetClock               string  `json:",omitempty"`
	ComputeRate               float64 `json:",omitempty"`
	Strategies                []string
	Miners                    string
	TestRows                  int
	Seed                      uint64
}

// RunSeries runs a series of competitions on one base model and dataset
// (the same hidden split each round) with the network's miners carrying
// what they learn from round to round, measures the reference line, and
// writes the report. It resumes an interrupted series in cfg.Dir.
func RunSeries(ctx context.Context, cfg SeriesConfig, w io.Writer) (*api.ExperimentResults, error) {
	if cfg.Rounds < 1 {
		return nil, crucible.Errorf(crucible.EINVALID, "--rounds %d: at least 1", cfg.Rounds)
	}
	cfg.Common.normalize()
	set := seriesSettings{Model: cfg.Model, Dataset: portable(cfg.Dataset), Reference: portable(cfg.Reference), Budget: cfg.Budget.String(), BudgetClock: cfg.BudgetClock, ComputeRate: cfg.computeRate(),
		Strategies: cfg.Strategies, Miners: cfg.Miners, TestRows: cfg.TestRows, Seed: cfg.Seed}
	e, err := open(cfg.Common, api.ExperimentSeries, set, w)
	if err != nil {
		return nil, err
	}
	shipped := "definitions.jsonl"
	if filepath.Base(e.dataset) == shipped {
		shipped = "facts.jsonl"
	}
	refData, err := e.datasetPath(cfg.Reference, shipped)
	if err != nil {
		return nil, err
	}
	e.res.Title = fmt.Sprintf("%d competitions on %s, %s", cfg.Rounds, cfg.Model, e.res.Dataset)
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
	e.say("series: %d competitions of %s on %s, miners %s (%s, %s each); dashboard %s", cfg.Rounds, cfg.Model, e.res.Dataset,
		strings.Join(cfg.Strategies, ", "), cfg.Miners, cfg.Budget, net.Validator.URL())
	for r := len(e.res.Rounds) + 1; r <= cfg.Rounds; r++ {
		round, err := e.compete(ctx, net, r, e.res.Pending, func(id string) error {
			e.res.Pending = id
			return e.save()
		})
		if err != nil {
			return nil, err
		}
		e.res.Rounds = append(e.res.Rounds, *round)
		e.res.Pending = ""
		if e.res.BaseLoss == nil {
			e.res.BaseLoss = round.BaseLoss
		}
		if err := e.save(); err != nil {
			return nil, err
		}
		e.sayRound(round)
		if e.res.Reference == nil && round.Status == string(crucible.StatusSuccess) {
			if err := e.reference(ctx, net, round.TaskID, refData); err != nil {
				return nil, err
			}
		}
	}
	e.res.Targets = seriesTargets(e.res, cfg.Improvement)
	e.res.Notes = append(e.res.Notes[:0], notes(e)...)
	if err := e.finish(); err != nil {
		return nil, err
	}
	return e.res, e.serve(ctx, net)
}

// reference measures the reference line: the base tuned on another
// instruct dataset with crucible train --recipe auto for one miner's
// budget, evaluated on the series' hidden split.
func (e *env) reference(ctx context.Context, net *localnet.Net, taskID, data string) error {
	t, err := net.Validator.Store().FindTask(ctx, taskID)
	if err != nil {
		return err
	}
	_, test, mapping, err := e.splits(ctx, net, t)
	if err != nil {
		return err
	}
	e.res.TestRows, e.res.TestSHA256 = t.TestRows, fileSHA256(test)
	e.say("  reference: %s tuned on %s (auto, %s), on the same hidden split ...", e.cfg.Model, filepath.Base(data), e.cfg.Budget)
	auto, _ := tuning.NamedRecipe("auto")
	run, err := e.run(ctx, single{name: "reference", title: "the base tuned on " + filepath.Base(data) + " (a generalist instruct model)",
		recipe: auto, data: data, dataName: filepath.Base(data)}, test, mapping)
	if err != nil {
		return err
	}
	e.res.Reference = &run
	e.say("  reference: test loss %s", lossText(run.Loss, run.Failure))
	return e.save()
}

func (e *env) sayRound(r *api.ExperimentRound) {
	var parts []string
	for _, m := range r.Miners {
		parts = append(parts, fmt.Sprintf("%s %s", m.Name, lossText(m.Loss, m.Failure)))
	}
	e.say("  round %d: %s, winner %s %s (base %s); %s; %.0fs, load %.1f", r.Round, r.Status, r.Winner, lossText(r.WinnerLoss, ""),
		lossText(r.BaseLoss, ""), strings.Join(parts, ", "), r.Seconds, r.Load)
}

// seriesTargets checks the series' targets: the winner's loss falls by
// improvement from the first round to the last, and ends below the
// reference line.
func seriesTargets(res *api.ExperimentResults, improvement float64) []api.ExperimentTarget {
	var out []api.ExperimentTarget
	n := len(res.Rounds)
	if n == 0 {
		return nil
	}
	first, last := res.Rounds[0].WinnerLoss, res.Rounds[n-1].WinnerLoss
	if n > 1 {
		t := api.ExperimentTarget{Name: fmt.Sprintf("the winner's loss falls at least %.0f%% from round 1 to round %d", 100*improvement, n)}
		if first != nil && last != nil {
			fall := (*first - *last) / *first
			t.Met = fall >= improvement
			t.Detail = fmt.Sprintf("round 1 %.4f, round %d %.4f: %+.1f%%", *first, n, *last, -100*fall)
		} else {
			t.Detail = "a round had no winner"
		}
		out = append(out, t)
	}
	t := api.ExperimentTarget{Name: "the last winner's loss is below the reference line"}
	switch {
	case res.Reference == nil || res.Reference.Loss == nil:
		t.Detail = "no reference measured"
	case last == nil:
		t.Detail = "the last round had no winner"
	default:
		t.Met = *last < *res.Reference.Loss
		t.Detail = fmt.Sprintf("round %d %.4f, reference %.4f", n, *last, *res.Reference.Loss)
	}
	return append(out, t)
}

func lossText(l *float64, failure string) string {
	switch {
	case l != nil:
		return fmt.Sprintf("%.4f", *l)
	case failure != "":
		return "failed (" + failure + ")"
	}
	return "-"
}
