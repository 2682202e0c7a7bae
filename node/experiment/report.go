package experiment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/node/localnet"
)

// finish draws the charts, writes report.md and the finished results.
func (e *env) finish() error {
	charts, err := drawCharts(e.res, e.cfg.Dir)
	if err != nil {
		return err
	}
	e.res.Charts, e.res.Finished = charts, true
	if err := e.save(); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(e.cfg.Dir, "report.md"), []byte(markdown(e.res))); err != nil {
		return err
	}
	e.say("\n%s", targetsText(e.res))
	e.say("report: %s (results.json, report.md, %s)", e.cfg.Dir, strings.Join(charts, ", "))
	return nil
}

// serve keeps the validator's dashboard up when asked.
func (e *env) serve(ctx context.Context, net *localnet.Net) error {
	if !e.cfg.Serve {
		return nil
	}
	e.say("the dashboard shows the experiment at %s/experiments/%s (Ctrl-C to stop)", net.Validator.URL(), filepath.Base(mustAbs(e.cfg.Dir)))
	<-ctx.Done()
	return nil
}

// notes are what a reader of the numbers must know.
func notes(e *env) []string {
	out := []string{
		fmt.Sprintf("Machine: %s, %d cores; 1-minute load average at each step: %s (other work shares this machine).",
			e.res.Machine.CPU, e.res.Machine.Cores, loadsText(e.res)),
		"Every loss is the validator's metric (crucible's engine, token-weighted cross-entropy on the responses) on the same hidden test split.",
	}
	budget := e.cfg.Budget.String() + " of wall-clock time"
	if e.cfg.BudgetClock == ClockCompute {
		budget = fmt.Sprintf("%s of compute (--budget-clock compute: the estimated work of every step, validation and probe at a nominal %g GFLOP/s)", e.cfg.Budget, e.cfg.ComputeRate)
	}
	if e.cfg.Miners == localnet.MinersSequential {
		out = append(out, fmt.Sprintf("Miners trained one after another, each alone on the machine for %s (--miners sequential); the single runs had the same budget alone.", budget))
	} else {
		out = append(out, fmt.Sprintf("Miners trained at once, sharing the machine's cores for %s (--miners parallel); the single runs had the same budget alone, more compute than one miner.", budget))
	}
	if e.cfg.BudgetClock == ClockCompute {
		out = append(out, "The budget is compute, not time: every time decision of training (the steps that fit, the learning-rate test, validations, the stop) reads the work done, so the numbers do not depend on the machine's speed or load, and training is deterministic given the seed.")
	} else {
		out = append(out, "Training is deterministic given the seed except for how many steps a time budget allows, which depends on the machine's speed and load (--budget-clock wall).")
	}
	if n := controlNote(e.res); n != "" {
		out = append(out, n)
	}
	if e.res.Kind == api.ExperimentPlatforms {
		out = append(out, "Platform recipes copy each service's documented defaults (sources in results.json); they run on crucible's engine, so the services' hardware, sequence packing and 8-bit optimizers are not reproduced.")
	}
	return out
}

// controlNote compares a series' first and last rounds through its fixed
// miners (a strategy that does not learn, auto say): what they lost or
// gained came from the machine (how many steps a budget allowed), not
// from learning, and it bounds what the winner's line can show.
func controlNote(res *api.ExperimentResults) string {
	if res.Kind != api.ExperimentSeries || len(res.Rounds) < 2 {
		return ""
	}
	first, last := res.Rounds[0], res.Rounds[len(res.Rounds)-1]
	var parts []string
	for i, m := range first.Miners {
		if m.Strategy == "adaptive" || i >= len(last.Miners) {
			continue
		}
		l := last.Miners[i]
		if m.Loss == nil || l.Loss == nil || m.Training == nil || l.Training == nil {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s (a fixed strategy) went from %.4f after %.2f epochs in round 1 to %.4f after %.2f epochs in round %d (%+.1f%%)",
			m.Name, *m.Loss, m.Training.Epochs, *l.Loss, l.Training.Epochs, last.Round, 100*(*l.Loss-*m.Loss) / *m.Loss))
	}
	if len(parts) == 0 {
		return ""
	}
	why := "so its change is the machine's: a time budget buys fewer steps under more load."
	if res.BudgetClock == ClockCompute {
		why = "and on a compute budget the same steps, so it should not change."
	}
	return "Control: " + strings.Join(parts, "; ") + ". A fixed strategy trains the same recipe every round, " + why
}

func loadsText(res *api.ExperimentResults) string {
	var parts []string
	for _, r := range res.Rounds {
		parts = append(parts, fmt.Sprintf("%.1f", r.Load))
	}
	if res.Reference != nil {
		parts = append(parts, fmt.Sprintf("%.1f", res.Reference.Load))
	}
	for _, r := range res.Runs {
		parts = append(parts, fmt.Sprintf("%.1f", r.Load))
	}
	if len(parts) == 0 {
		return "not measured"
	}
	return strings.Join(parts, ", ")
}

func targetsText(res *api.ExperimentResults) string {
	var b strings.Builder
	b.WriteString("targets:\n")
	for _, t := range res.Targets {
		mark := "MET   "
		if !t.Met {
			mark = "MISSED"
		}
		fmt.Fprintf(&b, "  %s %s: %s\n", mark, t.Name, t.Detail)
	}
	return strings.TrimRight(b.String(), "\n")
}

// markdown is report.md.
func markdown(res *api.ExperimentResults) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# %s\n", res.Title)
	p("Ran `%s` (crucible %s) on %s, %d cores, %s. Wall time %.0f min.\n", res.Command, res.Version, res.Machine.CPU, res.Machine.Cores, res.Machine.Go, res.Seconds/60)
	p("Base model `%s`, dataset `%s`, hidden test split of %d rows (sha256 `%.16s…`); base model's test loss %s. Miners: %s, %s, %.0f s of training each.\n",
		res.Model, res.Dataset, res.TestRows, res.TestSHA256, lossText(res.BaseLoss, ""), strings.Join(res.Miners, ", "), res.MinersMode, res.Budget)
	for _, c := range res.Charts {
		if strings.HasSuffix(c, ".svg") {
			p("![%s](%s)\n", res.Kind, c)
		}
	}
	if len(res.Rounds) > 0 {
		p("## Competitions\n")
		p("| round | winner | winner's loss | every miner (loss, recipe) | load | time |")
		p("|---:|---|---:|---|---:|---:|")
		for _, r := range res.Rounds {
			var ms []string
			for _, m := range r.Miners {
				ms = append(ms, fmt.Sprintf("%s %s%s", m.Name, lossText(m.Loss, m.Failure), recipeText(m)))
			}
			p("| %d | %s | %s | %s | %.1f | %.0f s |", r.Round, r.Winner, lossText(r.WinnerLoss, ""), strings.Join(ms, "; "), r.Load, r.Seconds)
		}
		p("")
	}
	if res.Reference != nil {
		p("Reference line: %s, test loss %s (%s, %.0f s).\n", res.Reference.Title, lossText(res.Reference.Loss, res.Reference.Failure), res.Reference.Stop, res.Reference.Seconds)
	}
	if len(res.Runs) > 0 {
		p("## Single runs (one miner's compute each)\n")
		p("| run | test loss | settings | stopped | load | sources |")
		p("|---|---:|---|---|---:|---|")
		for _, r := range res.Runs {
			p("| %s | %s | %s | %s | %.1f | %s |", r.Title, lossText(r.Loss, r.Failure), settingsText(r), r.Stop, r.Load, strings.Join(r.Sources, " "))
		}
		p("")
	}
	if len(res.Targets) > 0 {
		p("## Targets\n")
		for _, t := range res.Targets {
			mark := "met"
			if !t.Met {
				mark = "**missed**"
			}
			p("- %s: %s (%s)", t.Name, mark, t.Detail)
		}
		p("")
	}
	if len(res.Notes) > 0 {
		p("## Notes\n")
		for _, n := range res.Notes {
			p("- %s", n)
		}
	}
	return b.String()
}

func recipeText(m api.ExperimentMiner) string {
	t := m.Training
	if t == nil {
		return ""
	}
	mode := t.Mode
	if mode == "lora" {
		mode = fmt.Sprintf("lora r%d", t.LoRARank)
	}
	return fmt.Sprintf(" (%s, lr %.2g, %.1f epochs, batch %d)", mode, t.LR, t.Epochs, t.BatchSize)
}

func settingsText(r api.ExperimentRun) string {
	t := r.Training
	if t == nil {
		return ""
	}
	mode := t.Mode
	if mode == "lora" {
		mode = fmt.Sprintf("lora r%d", t.LoRARank)
	}
	return fmt.Sprintf("%s, lr %.2g, %.1f epochs, batch %d, %s", mode, t.LR, t.Epochs, t.BatchSize, t.Schedule)
}

// fileSHA256 is a file's hex SHA-256 ("" when it cannot be read).
func fileSHA256(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}
