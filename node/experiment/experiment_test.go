package experiment_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/node/experiment"
	"github.com/crucible-net/crucible/node/localnet"
)

// common is a small experiment: the tiny random model, 140 rows, two
// miners taking turns, each with a few seconds' worth of compute.
func common(t *testing.T, dir string) experiment.Common {
	t.Helper()
	data := t.TempDir()
	model, err := localnet.TinyModel(data, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	facts, err := localnet.SampleDataset(data, assets.Facts, 140)
	if err != nil {
		t.Fatal(err)
	}
	return experiment.Common{Dir: dir, Assets: filepath.Join("..", "..", "assets"), Model: model, Dataset: facts, Budget: 3 * time.Second,
		BudgetClock: experiment.ClockCompute, ComputeRate: 10, // 30 GFLOP a miner: a few seconds here
		Strategies: []string{"adaptive", "auto"}, Miners: localnet.MinersSequential, TestRows: 30, Seed: 1, Listen: "127.0.0.1:0",
		Command: "crucible experiment (test)", Version: "test"}
}

// A series runs its rounds on one hidden split, measures the reference,
// writes results.json, report.md and the chart; run again on the same
// folder it resumes (here: a round whose task had finished when the
// experiment stopped is taken as it is, not run again).
func TestSeries(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "series-1")
	cfg := experiment.DefaultSeriesConfig()
	cfg.Common, cfg.Rounds = common(t, dir), 2
	defs, err := localnet.SampleDataset(t.TempDir(), assets.Definitions, 140)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Reference = defs
	var out strings.Builder
	res, err := experiment.RunSeries(context.Background(), cfg, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !res.Finished || len(res.Rounds) != 2 || res.BaseLoss == nil || res.Reference == nil || res.Reference.Loss == nil {
		t.Fatalf("results %+v\n%s", res, out.String())
	}
	for _, r := range res.Rounds {
		if r.Status != "success" || r.WinnerLoss == nil || len(r.Miners) != 2 || *r.WinnerLoss >= *res.BaseLoss {
			t.Errorf("round %+v", r)
		}
		for _, m := range r.Miners {
			if m.Loss == nil || m.Training == nil {
				t.Errorf("round %d, %s: loss %v, published recipe %v (%s)", r.Round, m.Name, m.Loss, m.Training, m.Failure)
			}
		}
	}
	if c := res.Rounds[1].Miners[0].Choice; !strings.Contains(c, "Gaussian process") {
		t.Errorf("the adaptive miner's second choice was not learned: %q", c)
	}
	if len(res.Targets) != 2 || res.TestRows < 1 || res.TestRows > 30 || res.TestSHA256 == "" {
		t.Errorf("targets %+v, test rows %d", res.Targets, res.TestRows)
	}
	for _, f := range []string{"results.json", "report.md", "series.svg", "series.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, want := range []string{"![series](series.svg)", "| 2 |", "Reference line", "## Targets", "sequential", "Control: auto (a fixed strategy)", "--budget-clock compute", "10 GFLOP/s"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	svg, _ := os.ReadFile(filepath.Join(dir, "series.svg"))
	if !strings.Contains(string(svg), "<svg") || !strings.Contains(string(svg), "reference") {
		t.Errorf("series.svg is not the chart")
	}

	// Deterministic given the seed: on a compute budget the same series in
	// another folder gives the same losses, byte for byte, whatever the
	// machine's load while each ran.
	twin := cfg
	twin.Dir = filepath.Join(t.TempDir(), "series-2")
	res2, err := experiment.RunSeries(context.Background(), twin, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := lossesOf(res), lossesOf(res2); a != b {
		t.Errorf("the same series twice gave other losses:\n%s\n%s", a, b)
	}
	if res.BudgetClock != "compute" || res.ComputeRate != 10 {
		t.Errorf("results.json says budget clock %q at %g GFLOP/s", res.BudgetClock, res.ComputeRate)
	}

	// Stopped during round 2 after its task finished: results.json without
	// round 2 and with its task pending.
	var saved api.ExperimentResults
	b, _ := os.ReadFile(filepath.Join(dir, "results.json"))
	json.Unmarshal(b, &saved)
	saved.Pending, saved.Rounds, saved.Finished = saved.Rounds[1].TaskID, saved.Rounds[:1], false
	b, _ = json.MarshalIndent(saved, "", "  ") // as the experiment writes it
	os.WriteFile(filepath.Join(dir, "results.json"), b, 0o644)
	out.Reset()
	again, err := experiment.RunSeries(context.Background(), cfg, &out)
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "resuming") || len(again.Rounds) != 2 || again.Rounds[1].TaskID != res.Rounds[1].TaskID ||
		*again.Rounds[1].WinnerLoss != *res.Rounds[1].WinnerLoss {
		t.Errorf("resumed series %+v\n%s", again.Rounds, out.String())
	}
	// Other settings on the same folder are refused.
	other := cfg
	other.Budget = 4 * time.Second
	if _, err := experiment.RunSeries(context.Background(), other, io.Discard); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("a series with another budget on the same folder: %v", err)
	}
}

// lossesOf is every loss of a series, as text: each miner's in each round,
// the winner's, the base's and the reference's.
func lossesOf(res *api.ExperimentResults) string {
	var b strings.Builder
	f := func(x *float64) string {
		if x == nil {
			return "none"
		}
		return strconv.FormatFloat(*x, 'g', -1, 64)
	}
	fmt.Fprintf(&b, "base %s", f(res.BaseLoss))
	if res.Reference != nil {
		fmt.Fprintf(&b, " reference %s", f(res.Reference.Loss))
	}
	for _, r := range res.Rounds {
		fmt.Fprintf(&b, "; round %d winner %s:", r.Round, f(r.WinnerLoss))
		for _, m := range r.Miners {
			fmt.Fprintf(&b, " %s %s", m.Name, f(m.Loss))
		}
	}
	return b.String()
}

func TestPlatforms(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "platforms-1")
	cfg := experiment.DefaultPlatformsConfig()
	cfg.Common, cfg.Platforms, cfg.AutoRuns = common(t, dir), []string{"together", "autotrain"}, 1
	var out strings.Builder
	res, err := experiment.RunPlatforms(context.Background(), cfg, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !res.Finished || len(res.Rounds) != 1 || len(res.Runs) != 3 || len(res.Targets) != 3 {
		t.Fatalf("results %+v\n%s", res, out.String())
	}
	for _, r := range res.Runs {
		if r.Loss == nil || r.Training == nil || (r.Name != "auto-1" && len(r.Sources) == 0) {
			t.Errorf("run %+v", r)
		}
	}
	if res.Runs[0].Training.LR != 1e-5 || res.Runs[0].Training.Mode != "lora" {
		t.Errorf("together's recipe did not run as documented: %+v", res.Runs[0].Training)
	}
	for _, f := range []string{"platforms.svg", "platforms.png", "report.md"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := experiment.RunPlatforms(context.Background(), experiment.PlatformsConfig{Common: cfg.Common, Platforms: []string{"nope"}}, io.Discard); err == nil {
		t.Error("an unknown platform was accepted")
	}
}
