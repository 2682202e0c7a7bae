package server

import (
	"fmt"
	"strconv"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// A grpo task's page shows rewards, higher is better: the evaluation's
// scores as bars, each miner's sampled reward while training as curves,
// and a table of each reward function's mean per miner.

// rewardChart draws the evaluation scores (mean weighted reward less the
// KL guard): the base model, then each evaluated miner best first.
func rewardChart(res *api.TaskResults) any {
	var bars []bar
	if b := res.BaseReward; b != nil {
		bars = append(bars, bar{Label: "base model", Value: b.Score, Class: "base"})
	}
	for _, m := range res.Miners {
		if m.Reward == nil || m.Failure != "" {
			continue
		}
		b := bar{Label: m.Hotkey, Value: m.Reward.Score, Class: "miner"}
		if m.Winner {
			b.Class, b.Note = "winner", "  ★ winner"
		}
		if base := res.BaseReward; base != nil {
			b.Note = fmt.Sprintf("  (%+.4f vs base)%s", m.Reward.Score-base.Score, b.Note)
		}
		bars = append(bars, b)
	}
	return barChart("Reward on the hidden prompts, less the KL guard (higher is better)", bars, "%.4f")
}

// rewardCurves draws each miner's mean sampled reward while training,
// from the progress events that carry train_reward.
func rewardCurves(evs []*crucible.TaskEvent) any {
	return progressChart(evs, "train_reward", "Sampled reward per miner while training (higher is better)", "reward")
}

// rewardRow is one line of the per-reward breakdown.
type rewardRow struct {
	Label, Score, Reward, KL string
	Parts                    []string
	Winner                   bool
}

// rewardTable is the per-reward breakdown: the base model's and each
// evaluated miner's mean of every reward function, in the task's order.
func rewardTable(res *api.TaskResults) ([]string, []rewardRow) {
	var names []string
	for _, r := range res.Task.Rewards {
		names = append(names, fmt.Sprintf("%s ×%s", r.Name, strconv.FormatFloat(r.Weight, 'g', -1, 64)))
	}
	row := func(label string, r *crucible.RewardResult) rewardRow {
		out := rewardRow{Label: label, Score: f4(r.Score), Reward: f4(r.Reward), KL: "–"}
		if r.KL != nil {
			out.KL = f4(*r.KL)
		}
		for i := range names {
			p := "–"
			if i < len(r.Parts) {
				p = strconv.FormatFloat(r.Parts[i], 'f', 3, 64)
			}
			out.Parts = append(out.Parts, p)
		}
		return out
	}
	var rows []rewardRow
	if res.BaseReward != nil {
		rows = append(rows, row("base model", res.BaseReward))
	}
	for _, m := range res.Miners {
		if m.Reward != nil && m.Failure == "" {
			r := row(m.Hotkey, m.Reward)
			r.Winner = m.Winner
			rows = append(rows, r)
		}
	}
	return names, rows
}

func f4(x float64) string { return strconv.FormatFloat(x, 'f', 4, 64) }
