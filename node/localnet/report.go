package localnet

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/tuning"
)

// report prints the leaderboard, before/after generations and where the
// winner is (unpacked under dir/winner).
func (n *Net) report(ctx context.Context, t *crucible.Task, base, dir string, cfg DemoConfig, w io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	store := n.Validator.Store()
	subs, err := store.FindSubmissions(ctx, t.ID)
	if err != nil {
		return err
	}
	var baseLoss float64
	var split crucible.ColumnMapping
	hasBase := false
	if rec, err := store.FindEvaluation(ctx, t.ID); err == nil {
		if rec.BaseLoss != nil {
			baseLoss, hasBase = *rec.BaseLoss, true
		}
		if rec.SplitMapping != nil {
			split = *rec.SplitMapping
		}
	}
	if t.Type == crucible.TaskGRPO {
		if err := n.rewardBoard(ctx, t, subs, w); err != nil {
			return err
		}
	} else {
		n.lossBoard(t, subs, hasBase, baseLoss, w)
	}
	if t.Status != crucible.StatusSuccess {
		say("\nthe task ended %s: %s", t.Status, t.Failure)
		return nil
	}
	for _, s := range subs {
		if s.Hotkey == t.Winner && hasBase && s.TestLoss != nil {
			say("\nwinner: %s (%s), test loss %.4f vs the base model's %.4f: %.1f%% lower",
				n.Names[t.Winner], Short(t.Winner), *s.TestLoss, baseLoss, 100*(baseLoss-*s.TestLoss)/baseLoss)
		}
	}
	return n.showWinner(ctx, t, base, dir, split, cfg, w)
}

// lossBoard prints the leaderboard of a task ranked by test loss.
func (n *Net) lossBoard(t *crucible.Task, subs []*crucible.Submission, hasBase bool, baseLoss float64, w io.Writer) {
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	sort.SliceStable(subs, func(a, b int) bool { return lossOf(subs[a]) < lossOf(subs[b]) })
	say("\nleaderboard (test loss on %d hidden test rows; lower is better)", t.TestRows)
	say("  %-13s %-10s %10s %9s %6s  %s", "miner", "hotkey", "test loss", "vs base", "score", "")
	if hasBase {
		say("  %-13s %-10s %10.4f %9s %6s", "base model", "", baseLoss, "", "")
	}
	for _, s := range subs {
		loss, vs := "-", ""
		if s.TestLoss != nil {
			loss = fmt.Sprintf("%.4f", *s.TestLoss)
			if hasBase && baseLoss > 0 {
				vs = fmt.Sprintf("%+.1f%%", 100*(*s.TestLoss-baseLoss)/baseLoss)
			}
		}
		score := ""
		if s.QualityScore != nil {
			score = fmt.Sprintf("%g", *s.QualityScore)
		}
		note := s.Reason
		if s.Failure != "" {
			note = s.Failure
		}
		say("  %-13s %-10s %10s %9s %6s  %s", n.Names[s.Hotkey], Short(s.Hotkey), loss, vs, score, note)
	}
}

// showWinner unpacks the winner under dir/winner and prints before/after
// generations and how to try it.
func (n *Net) showWinner(ctx context.Context, t *crucible.Task, base, dir string, split crucible.ColumnMapping, cfg DemoConfig, w io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	// Unpack the winner where the customer can use it.
	out := filepath.Join(dir, "winner")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	rc, err := n.Validator.Blobs().Get(ctx, t.ResultModel)
	if err != nil {
		return err
	}
	_, err = api.ExtractTar(rc, out, api.ExtractLimits{})
	rc.Close()
	if err != nil {
		return err
	}
	samples := [][2]string{{cfg.Prompt, ""}}
	if cfg.Prompt == "" {
		samples = n.samplePrompts(ctx, t, split, 3)
	}
	if len(samples) > 0 {
		say("\nbefore and after, on prompts from the hidden test split (greedy decoding):")
	}
	adapter := fileExists(filepath.Join(out, "adapter_config.json"))
	for _, sm := range samples {
		before, err := tuning.Generate(ctx, tuning.GenerateSpec{ModelDir: base, Prompt: sm[0], Raw: true, MaxTokens: 24}, nil)
		if err != nil {
			return fmt.Errorf("generate with the base model: %w", err)
		}
		after := tuning.GenerateSpec{ModelDir: out, Prompt: sm[0], Raw: true, MaxTokens: 24}
		if adapter {
			after.ModelDir, after.Adapter = base, out
		}
		got, err := tuning.Generate(ctx, after, nil)
		if err != nil {
			return fmt.Errorf("generate with the winner: %w", err)
		}
		say("  prompt:   %s", sm[0])
		if sm[1] != "" {
			say("  expected: %s", sm[1])
		}
		say("  base:     %s", orNothing(before))
		say("  winner:   %s\n", orNothing(got))
	}
	kind, try := "a full model", "--model "+out
	if adapter {
		kind, try = "a PEFT adapter over "+cfg.Model, "--model "+base+" --adapter "+out
	}
	say("the winner (%s) is in %s", kind, out)
	prompt := "What is the capital of Peru?"
	if len(samples) > 0 {
		prompt = samples[0][0]
	}
	say("  try it:  crucible generate %s --raw --prompt %q", try, prompt)
	return nil
}

func lossOf(s *crucible.Submission) float64 {
	if s.TestLoss == nil {
		return math.Inf(1)
	}
	return *s.TestLoss
}

// samplePrompts takes the first n examples of the task's hidden test split
// (read with the split's mapping) as (prompt, expected answer) pairs.
func (n *Net) samplePrompts(ctx context.Context, t *crucible.Task, m crucible.ColumnMapping, count int) [][2]string {
	if t.Type != crucible.TaskInstruct && t.Type != crucible.TaskDPO && t.Type != crucible.TaskGRPO {
		return nil
	}
	rc, err := n.Validator.Blobs().Get(ctx, t.TestData)
	if err != nil {
		return nil
	}
	defer rc.Close()
	f, err := data.NewFormatter(t.Type, m)
	if err != nil {
		return nil
	}
	var out [][2]string
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() && len(out) < count {
		var values map[string]any
		if json.Unmarshal(sc.Bytes(), &values) != nil {
			continue
		}
		ex, err := f.Example(data.Row{Values: values})
		if err != nil {
			continue
		}
		want := strings.TrimSpace(ex.Response + ex.Chosen)
		if a, ok := ex.Extra["answer"]; ok {
			want = strings.TrimSpace(fmt.Sprint(a))
		}
		out = append(out, [2]string{ex.Prompt, want})
	}
	return out
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// orNothing shows an empty generation as such.
func orNothing(s string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\n", " "))
	if s == "" {
		return "(nothing: the model ended its answer at once)"
	}
	return s
}

// rewardBoard prints the leaderboard of a grpo task: each miner's score
// (mean weighted reward less the KL guard; higher is better), its reward,
// KL and each reward function's mean, against the base model's.
func (n *Net) rewardBoard(ctx context.Context, t *crucible.Task, subs []*crucible.Submission, w io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	score := func(s *crucible.Submission) float64 {
		if s.Reward == nil || s.Failure != "" {
			return math.Inf(-1)
		}
		return s.Reward.Score
	}
	sort.SliceStable(subs, func(a, b int) bool { return score(subs[a]) > score(subs[b]) })
	var names []string
	for _, r := range t.Rewards {
		names = append(names, r.Name)
	}
	say("\nleaderboard (reward on %d hidden prompts, 2 sampled completions each; higher is better)", t.TestRows)
	say("  %-13s %-10s %8s %8s %7s  %-28s %5s  %s", "miner", "hotkey", "score", "reward", "kl", strings.Join(names, " / "), "", "")
	line := func(name, hotkey string, r *crucible.RewardResult, q, note string) {
		kl, parts := "", ""
		if r.KL != nil {
			kl = fmt.Sprintf("%.4f", *r.KL)
		}
		for i, p := range r.Parts {
			if i > 0 {
				parts += " / "
			}
			parts += fmt.Sprintf("%.3f", p)
		}
		say("  %-13s %-10s %8.4f %8.4f %7s  %-28s %5s  %s", name, hotkey, r.Score, r.Reward, kl, parts, q, note)
	}
	rec, err := n.Validator.Store().FindEvaluation(ctx, t.ID)
	if err == nil && rec.BaseReward != nil {
		line("base model", "", rec.BaseReward, "", "")
	}
	for _, s := range subs {
		q := ""
		if s.QualityScore != nil {
			q = fmt.Sprintf("%g", *s.QualityScore)
		}
		note := s.Reason
		if s.Failure != "" {
			note = s.Failure
		}
		if s.Reward == nil {
			say("  %-13s %-10s %8s %8s %7s  %-28s %5s  %s", n.Names[s.Hotkey], Short(s.Hotkey), "-", "-", "", "", q, note)
			continue
		}
		line(n.Names[s.Hotkey], Short(s.Hotkey), s.Reward, q, note)
	}
	if err == nil && rec.BaseReward != nil && t.Status == crucible.StatusSuccess {
		for _, s := range subs {
			if s.Hotkey == t.Winner && s.Reward != nil {
				say("\nwinner: %s (%s), reward %.4f vs the base model's %.4f (score %.4f after the KL guard)",
					n.Names[t.Winner], Short(t.Winner), s.Reward.Reward, rec.BaseReward.Reward, s.Reward.Score)
			}
		}
	}
	return nil
}
