package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
	"github.com/crucible-net/crucible/tuning"
)

// evalRecord is what the eval step measured, written beside the model as
// evaluation.json and rendered into its model card.
type evalRecord struct {
	Date        string               `json:"date"`
	Threads     int                  `json:"threads"`
	Split       *data.Prepared       `json:"facts_split"`
	Base        *tuning.EvalResult   `json:"base_facts_test"`
	Tuned       *tuning.EvalResult   `json:"tuned_facts_test"`
	TuneMinutes float64              `json:"tune_minutes"`
	TuneChoices []map[string]any     `json:"tune_choices"`
	Tune        tuneSummary          `json:"tune"`
	Answers     []answerSample       `json:"answers"`
	Text        []continuationSample `json:"continuations"`
	Pretrain    pretrainLog          `json:"pretrain"`
}

// tuneSummary is the part of the fine-tuning result the model card shows.
type tuneSummary struct {
	Steps      int     `json:"steps"`
	Epochs     float64 `json:"epochs"`
	Tokens     int64   `json:"tokens"`
	LR         float64 `json:"lr"`
	StopReason string  `json:"stop_reason"`
	Seconds    float64 `json:"seconds"`
	Adapter    bool    `json:"adapter"`
}

type answerSample struct {
	Question string `json:"question"`
	Expected string `json:"expected"`
	Base     string `json:"base"`
	Tuned    string `json:"tuned"`
}

type continuationSample struct {
	Prompt string `json:"prompt"`
	Text   string `json:"text"`
}

// continuationPrompts open the base model's free-text samples, one per
// corpus source.
var continuationPrompts = []string{
	"It is a truth universally acknowledged, that",
	"Call me Ishmael. Some years ago",
	"Fellow-Citizens of the Senate and House of Representatives:",
	"river (noun):",
	"A man who",
}

// evaluate measures the base model on the facts set the way a crucible
// task does: it splits facts.jsonl as the validator does, computes the
// base model's test loss, fine-tunes it on the train split with the
// automatic strategy (tuning.Train with the zero recipe) for
// o.tuneMinutes, computes the tuned test loss, and records greedy answers
// of both models to test questions and sampled continuations of the base.
func evaluate(o options) error {
	ctx := context.Background()
	base := modelDir(o)
	work := filepath.Join(o.work, "eval")
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	rec := evalRecord{Date: time.Now().UTC().Format(time.RFC3339), Threads: setThreads(o), TuneMinutes: o.tuneMinutes}
	if b, err := os.ReadFile(filepath.Join(base, "pretrain_log.json")); err == nil {
		if err := json.Unmarshal(b, &rec.Pretrain); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(base, "pretrain_log.json"), err)
		}
	}

	trainPath, testPath := filepath.Join(work, "facts_train.jsonl"), filepath.Join(work, "facts_test.jsonl")
	tw, err := os.Create(trainPath)
	if err != nil {
		return err
	}
	sw, err := os.Create(testPath)
	if err != nil {
		tw.Close()
		return err
	}
	rec.Split, err = data.Prepare(filepath.Join(datasetsDir(o), "facts.jsonl"), data.PrepareOptions{Split: data.SplitOptions{Seed: o.seed}}, tw, sw)
	tw.Close()
	sw.Close()
	if err != nil {
		return err
	}
	fmt.Printf("facts split: %d train rows, %d test rows (%s)\n", rec.Split.TrainRows, rec.Split.TestRows, rec.Split.Type)

	if rec.Base, err = tuning.Evaluate(ctx, tuning.EvalSpec{BaseDir: base, TestPath: testPath}); err != nil {
		return err
	}
	fmt.Printf("base model: facts test loss %.4f over %d tokens\n", rec.Base.Loss, rec.Base.Tokens)

	out := filepath.Join(work, "tuned")
	res, err := tuning.Train(ctx, tuning.Spec{ModelDir: base, DataPath: trainPath, OutDir: out,
		Budget: time.Duration(o.tuneMinutes * float64(time.Minute)), Seed: o.seed,
		Log: func(msg string) { fmt.Println("tune:", msg) }}, nil)
	if err != nil {
		return err
	}
	for _, c := range res.Choices {
		rec.TuneChoices = append(rec.TuneChoices, map[string]any{"name": c.Name, "value": c.Value, "reason": c.Reason})
	}
	if t := res.Train; t != nil {
		rec.Tune = tuneSummary{Steps: t.Steps, Epochs: t.Epochs, Tokens: t.Tokens, LR: t.LR, StopReason: t.StopReason,
			Seconds: t.Duration.Seconds(), Adapter: res.IsAdapter}
	}
	if rec.Tuned, err = tuning.Evaluate(ctx, tuning.EvalSpec{BaseDir: base, ModelDir: out, TestPath: testPath}); err != nil {
		return err
	}
	if rec.Tuned.Failure != "" {
		return fmt.Errorf("tuned model rejected by the evaluator: %s", rec.Tuned.Failure)
	}
	fmt.Printf("tuned model: facts test loss %.4f over %d tokens (adapter: %v)\n", rec.Tuned.Loss, rec.Tuned.Tokens, rec.Tuned.IsAdapter)

	if err := sampleAnswers(&rec, base, out, res.IsAdapter, testPath); err != nil {
		return err
	}
	if err := sampleContinuations(&rec, base); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(base, "evaluation.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return writeModelCard(o, &rec)
}

// loadTuned loads the fine-tuned model: a full model, or the base with
// the adapter attached.
func loadTuned(base, out string, adapter bool) (*model.Model, error) {
	if !adapter {
		return model.Load(out)
	}
	m, err := model.Load(base)
	if err != nil {
		return nil, err
	}
	if err := m.LoadAdapter(out); err != nil {
		return nil, err
	}
	return m, nil
}

// greedy continues prompt with up to n tokens (stopping at EOS) and
// decodes what was generated.
func greedy(m *model.Model, tok *tokenizer.Tokenizer, prompt string, n int) (string, error) {
	ids := tok.EncodeOrdinary(prompt)
	p := make([]int32, len(ids))
	for i, id := range ids {
		p[i] = int32(id)
	}
	gen, err := m.Generate(p, model.GenerateOptions{MaxNewTokens: n}, nil)
	if err != nil {
		return "", err
	}
	return decodeGenerated(tok, gen), nil
}

// decodeGenerated decodes generated ids without a final stop token.
func decodeGenerated(tok *tokenizer.Tokenizer, gen []int32) string {
	out := make([]int, 0, len(gen))
	for _, id := range gen {
		if int(id) == tok.EOSID() {
			break
		}
		if t, ok := tok.TokenID("<|im_end|>"); ok && int(id) == t {
			break
		}
		out = append(out, int(id))
	}
	return tok.Decode(out)
}

// sampleAnswers records both models' greedy answers to the first test
// question of each kind (the instruct prompt as crucible formats it: the
// question alone).
func sampleAnswers(rec *evalRecord, base, out string, adapter bool, testPath string) error {
	tok, err := tokenizer.Load(base)
	if err != nil {
		return err
	}
	bm, err := model.Load(base)
	if err != nil {
		return err
	}
	tm, err := loadTuned(base, out, adapter)
	if err != nil {
		return err
	}
	exs, err := data.Examples(testPath, rec.Split.Type, rec.Split.Mapping)
	if err != nil {
		return err
	}
	for i, ex := range exs {
		if i%(max(1, len(exs)/10)) != 0 {
			continue
		}
		s := answerSample{Question: ex.Prompt, Expected: ex.Response}
		if s.Base, err = greedy(bm, tok, ex.Prompt, 16); err != nil {
			return err
		}
		if s.Tuned, err = greedy(tm, tok, ex.Prompt, 16); err != nil {
			return err
		}
		fmt.Printf("Q: %s\n   expected %q, base %q, tuned %q\n", s.Question, s.Expected, s.Base, s.Tuned)
		rec.Answers = append(rec.Answers, s)
	}
	return nil
}

// sampleContinuations records the base model's sampled continuations
// (temperature 0.8, top-p 0.9, fixed seed) of a few corpus-style openings.
func sampleContinuations(rec *evalRecord, base string) error {
	tok, err := tokenizer.Load(base)
	if err != nil {
		return err
	}
	m, err := model.Load(base)
	if err != nil {
		return err
	}
	for i, p := range continuationPrompts {
		ids := tok.EncodeOrdinary(p)
		prompt := make([]int32, len(ids))
		for j, id := range ids {
			prompt[j] = int32(id)
		}
		gen, err := m.Generate(prompt, model.GenerateOptions{MaxNewTokens: 48, Temperature: 0.8, TopP: 0.9, Seed: uint64(i + 1)}, nil)
		if err != nil {
			return err
		}
		text := decodeGenerated(tok, gen)
		fmt.Printf("%s|%s\n", p, text)
		rec.Text = append(rec.Text, continuationSample{Prompt: p, Text: text})
	}
	return nil
}
