package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/ml/train"
	"github.com/crucible-net/crucible/reward"
	"github.com/crucible-net/crucible/tuning"
)

// rewardFlags are the --reward and --reward-file flags of the commands
// that take a grpo task's reward functions.
type rewardFlags struct {
	specs, files []string
}

func addRewardFlags(cmd *cobra.Command) *rewardFlags {
	rf := &rewardFlags{}
	f := cmd.Flags()
	f.StringArrayVar(&rf.specs, "reward", nil, "grpo: a built-in reward, NAME[:key=value,...] (weight=W sets its weight), or a JSON object; repeatable. Built-ins: "+strings.Join(reward.BuiltinNames(), ", "))
	f.StringArrayVar(&rf.files, "reward-file", nil, "grpo: a Starlark file defining reward(prompt, completion, extra), as PATH or PATH:weight=W; repeatable")
	return rf
}

// given reports whether any reward flag was set.
func (rf *rewardFlags) given() bool { return len(rf.specs)+len(rf.files) > 0 }

// rewards reads the flags into the task's rewards and compiles them, so
// that a reward that does not parse or compile fails before any work.
func (rf *rewardFlags) rewards() ([]crucible.Reward, *reward.Set, error) {
	var rs []crucible.Reward
	for _, s := range rf.specs {
		r, err := reward.ParseSpec(s)
		if err != nil {
			return nil, nil, crucible.Wrap(err, crucible.EINVALID, "--reward %s", s)
		}
		rs = append(rs, r)
	}
	for _, s := range rf.files {
		r, err := reward.FromFile(s)
		if err != nil {
			return nil, nil, err
		}
		rs = append(rs, r)
	}
	set, err := reward.Compile(rs)
	if err != nil {
		return nil, nil, err
	}
	return rs, set, nil
}

// checkRewards returns a data.CheckOptions.CheckExample that runs every
// reward on a row with the probe completions.
func checkRewards(set *reward.Set) func(data.Example) error {
	c := set.NewChecker()
	return func(ex data.Example) error {
		if errs := c.Check(reward.Sample{Where: ex.Pos.String(), Prompt: ex.Prompt, Extra: ex.Extra}); len(errs) > 0 {
			return errs[0]
		}
		return nil
	}
}

// describeRewards lists rewards for logs.
func describeRewards(rs []crucible.Reward) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, reward.Describe(r))
	}
	return fmt.Sprintf("%d reward function(s): %s", len(rs), strings.Join(parts, ", "))
}

// printGRPOResult prints a grpo run's rewards and where its time went.
func printGRPOResult(w io.Writer, g *train.GRPOResult) {
	fmt.Fprintf(w, "reward (sampled) %.4f -> %.4f\n", g.FirstReward, g.TrainReward)
	if g.ValReward == g.ValReward {
		fmt.Fprintf(w, "validation reward %.4f -> %.4f", g.InitialValReward, g.ValReward)
		for i, p := range g.ValParts {
			if i < len(g.RewardNames) {
				fmt.Fprintf(w, "%s%s %.3f", sepOf(i), g.RewardNames[i], p)
			}
		}
		if len(g.ValParts) > 0 {
			fmt.Fprint(w, ")")
		}
		fmt.Fprintln(w)
	}
	total := g.Cost.Total().Seconds()
	if total > 0 {
		fmt.Fprintf(w, "%d completions sampled at %.0f tokens/s; time: sampling %.0f%%, reward %.0f%%, backward %.0f%%\n", g.Completions, g.SampleTokensPerS,
			100*g.Cost.Sampling.Seconds()/total, 100*g.Cost.Reward.Seconds()/total, 100*g.Cost.Backward.Seconds()/total)
	}
}

func sepOf(i int) string {
	if i == 0 {
		return " ("
	}
	return ", "
}

// generateSamples samples n completions of one prompt as a batch and
// prints them, with the generation speed on stderr.
func generateSamples(cmd *cobra.Command, spec tuning.GenerateSpec, n int) error {
	t0 := time.Now()
	outs, err := tuning.Sample(spec, n)
	if err != nil {
		return err
	}
	d := time.Since(t0)
	w := cmd.OutOrStdout()
	tokens := 0
	for i, c := range outs {
		tokens += c.Tokens
		fmt.Fprintf(w, "--- sample %d (%d tokens)\n%s\n", i+1, c.Tokens, c.Text)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%d samples, %d tokens in %s: %.0f tokens/s\n", n, tokens, d.Round(time.Millisecond), float64(tokens)/d.Seconds())
	return nil
}

// evalGRPO runs a grpo evaluation and prints it.
func evalGRPO(ctx context.Context, cmd *cobra.Command, spec tuning.GRPOEvalSpec, asJSON bool) error {
	res, err := tuning.EvaluateGRPO(ctx, spec)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printGRPOEval(w, res)
	}
	if res.Failure != "" {
		return exitError{code: 1}
	}
	return nil
}

func printGRPOEval(w io.Writer, r *tuning.GRPOEvalResult) {
	if r.Failure != "" {
		fmt.Fprintf(w, "failure: %s\n", r.Failure)
		return
	}
	kind := ""
	if r.IsAdapter {
		kind = " (adapter)"
	}
	fmt.Fprintf(w, "score           %.6f%s (higher is better)\n", r.Score, kind)
	fmt.Fprintf(w, "reward          %.6f over %d completions of %d prompts (mean length %.1f tokens)\n", r.Reward, r.Completions, r.Prompts, r.MeanLength)
	for i, n := range r.RewardNames {
		if i < len(r.Parts) {
			fmt.Fprintf(w, "  %-14s %.4f (weight %g)\n", n, r.Parts[i], r.Weights[i])
		}
	}
	if r.KL == r.KL {
		fmt.Fprintf(w, "kl(base‖model)  %.6f\n", r.KL)
	}
	if r.RewardErrors > 0 {
		fmt.Fprintf(w, "reward errors   %d (each counted 0)\n", r.RewardErrors)
	}
}

// printRewardResults prints a grpo task's results: each miner's score
// (reward less the KL guard; higher is better), reward, KL and each
// reward function's mean.
func printRewardResults(out io.Writer, res *api.TaskResults) error {
	names := make([]string, len(res.Task.Rewards))
	for i, r := range res.Task.Rewards {
		names[i] = strings.ToUpper(r.Name)
	}
	if b := res.BaseReward; b != nil {
		fmt.Fprintf(out, "base model reward %.4f%s\n", b.Reward, partsLine(res.Task.Rewards, b.Parts))
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "RANK\tMINER\tSCORE ↑\tREWARD\tKL\t%s\tQUALITY\tWHY\n", strings.Join(names, "\t"))
	for _, m := range res.Miners {
		rank := "-"
		if m.Rank > 0 {
			rank = fmt.Sprint(m.Rank)
		}
		if m.Winner {
			rank += " *"
		}
		why := m.Reason
		if m.Failure != "" {
			why = m.Failure
		}
		score, rw, kl := "-", "-", "-"
		parts := make([]string, len(names))
		for i := range parts {
			parts[i] = "-"
		}
		if r := m.Reward; r != nil {
			score, rw = fmt.Sprintf("%.4f", r.Score), fmt.Sprintf("%.4f", r.Reward)
			if r.KL != nil {
				kl = fmt.Sprintf("%.4f", *r.KL)
			}
			for i := range parts {
				if i < len(r.Parts) {
					parts[i] = fmt.Sprintf("%.3f", r.Parts[i])
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", rank, m.Hotkey, score, rw, kl, strings.Join(parts, "\t"), fmtPtr(m.QualityScore, "%g"), why)
	}
	return tw.Flush()
}

// partsLine renders each reward's mean, e.g. " (numeric_answer 0.10, format 0.40)".
func partsLine(rs []crucible.Reward, parts []float64) string {
	var b []string
	for i, p := range parts {
		if i < len(rs) {
			b = append(b, fmt.Sprintf("%s %.3f", rs[i].Name, p))
		}
	}
	if len(b) == 0 {
		return ""
	}
	return " (" + strings.Join(b, ", ") + ")"
}
