package main

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
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
)

// demoReport prints the leaderboard, a before/after generation and where the
// winner is.
func demoReport(ctx context.Context, vn *validatorNode, t *crucible.Task, base, dir string, names map[string]string, cfg *demoSettings, w io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	subs, err := vn.store.FindSubmissions(ctx, t.ID)
	if err != nil {
		return err
	}
	baseLoss, hasBase := t.Extra["base_loss"].(float64)
	sort.SliceStable(subs, func(a, b int) bool {
		la, lb := math.Inf(1), math.Inf(1)
		if subs[a].TestLoss != nil {
			la = *subs[a].TestLoss
		}
		if subs[b].TestLoss != nil {
			lb = *subs[b].TestLoss
		}
		return la < lb
	})
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
		say("  %-13s %-10s %10s %9s %6s  %s", names[s.Hotkey], short(s.Hotkey), loss, vs, score, note)
	}
	if t.Status != crucible.StatusSuccess {
		say("\nthe task ended %s: %s", t.Status, t.Failure)
		return nil
	}
	var winner *crucible.Submission
	for _, s := range subs {
		if s.Hotkey == t.Winner {
			winner = s
		}
	}
	if hasBase && winner != nil && winner.TestLoss != nil {
		say("\nwinner: %s (%s), test loss %.4f vs the base model's %.4f: %.1f%% lower",
			names[t.Winner], short(t.Winner), *winner.TestLoss, baseLoss, 100*(baseLoss-*winner.TestLoss)/baseLoss)
	}
	// Unpack the winner where the customer can use it.
	out := filepath.Join(dir, "winner")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	rc, err := vn.v.Blobs.Get(ctx, t.ResultModel)
	if err != nil {
		return err
	}
	_, err = api.ExtractTar(rc, out, api.ExtractLimits{})
	rc.Close()
	if err != nil {
		return err
	}
	type sample struct{ prompt, want string }
	samples := []sample{{prompt: cfg.Prompt}}
	if cfg.Prompt == "" {
		samples = nil
		for _, p := range samplePrompts(ctx, vn, t, 3) {
			samples = append(samples, sample{p[0], p[1]})
		}
	}
	if len(samples) > 0 {
		say("\nbefore and after, on prompts from the hidden test split (greedy decoding):")
	}
	for _, sm := range samples {
		before, err := demoGenerate(base, "", sm.prompt)
		if err != nil {
			return fmt.Errorf("generate with the base model: %w", err)
		}
		after, err := demoGenerate(base, out, sm.prompt)
		if err != nil {
			return fmt.Errorf("generate with the winner: %w", err)
		}
		say("  prompt:   %s", sm.prompt)
		if sm.want != "" {
			say("  expected: %s", sm.want)
		}
		say("  base:     %s", orNothing(before))
		say("  winner:   %s\n", orNothing(after))
	}
	kind := "a full model"
	if _, err := os.Stat(filepath.Join(out, "adapter_config.json")); err == nil {
		kind = "a PEFT adapter over " + cfg.Model
	}
	say("the winner (%s) is in %s", kind, out)
	try := "--model " + out
	if strings.HasPrefix(kind, "a PEFT") {
		try = "--model " + base + " --adapter " + out
	}
	prompt := "What is the capital of Peru?"
	if len(samples) > 0 {
		prompt = samples[0].prompt
	}
	say("  try it:  crucible generate %s --raw --prompt %q", try, prompt)
	return nil
}

// samplePrompts takes the first n examples of the task's hidden test split
// as (prompt, expected answer) pairs.
func samplePrompts(ctx context.Context, vn *validatorNode, t *crucible.Task, n int) [][2]string {
	rc, err := vn.v.Blobs.Get(ctx, t.TestData)
	if err != nil {
		return nil
	}
	defer rc.Close()
	var m crucible.ColumnMapping
	if raw, ok := t.Extra["split_mapping"]; ok {
		b, _ := json.Marshal(raw)
		json.Unmarshal(b, &m)
	}
	f, err := data.NewFormatter(t.Type, m)
	if err != nil || (t.Type != crucible.TaskInstruct && t.Type != crucible.TaskDPO) {
		return nil
	}
	var out [][2]string
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() && len(out) < n {
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

// demoGenerate greedily continues prompt (tokenized as training saw it:
// BOS when the tokenizer wants it, then the prompt) with the base model, or
// with the result in dir (a full model or an adapter over the base).
func demoGenerate(base, dir, prompt string) (string, error) {
	tok, err := tokenizer.Load(base)
	if err != nil {
		return "", err
	}
	var m *model.Model
	switch {
	case dir == "":
		m, err = model.Load(base)
	case fileExists(filepath.Join(dir, "adapter_config.json")):
		if m, err = model.Load(base); err == nil {
			if err = m.LoadAdapter(dir); err == nil {
				err = m.MergeLoRA()
			}
		}
	default:
		m, err = model.Load(dir)
	}
	if err != nil {
		return "", err
	}
	ids := tok.Encode(prompt)
	if tok.AddBOS() && tok.BOSID() >= 0 {
		ids = append([]int{tok.BOSID()}, ids...)
	}
	in := make([]int32, len(ids))
	for i, id := range ids {
		in[i] = int32(id)
	}
	stops := stopTokens(m, tok)
	var out []int
	_, err = m.Generate(in, model.GenerateOptions{MaxNewTokens: 24, StopTokens: stops}, func(t int32) bool {
		if containsID(stops, t) {
			return false
		}
		out = append(out, int(t))
		return true
	})
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(strings.ReplaceAll(tok.Decode(out), "\n", " ")), nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// orNothing shows an empty generation as such.
func orNothing(s string) string {
	if s == "" {
		return "(nothing: the model ended its answer at once)"
	}
	return s
}
