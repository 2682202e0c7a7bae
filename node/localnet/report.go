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
	if t.Type != crucible.TaskInstruct && t.Type != crucible.TaskDPO {
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
		out = append(out, [2]string{ex.Prompt, strings.TrimSpace(ex.Response + ex.Chosen)})
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
