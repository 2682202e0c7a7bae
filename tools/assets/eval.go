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
	Date        string             `json:"date"`
	Threads     int                `json:"threads"`
	Split       *data.Prepared     `json:"facts_split"`
	Base        *tuning.EvalResult `json:"base_facts_test"`
	Tuned       *tuning.EvalResult `json:"tuned_facts_test"`
	TuneMinutes float64            `json:"tune_minutes"`
	TuneChoices []map[string]any   `json:"tune_choices"`
	Tune        tuneSummary        `json:"tune"`
	// Long is the same fine-tuning with the epochs fixed at longEpochs
	// (everything else automatic): what a miner buys with more passes.
	Long      *tuning.EvalResult   `json:"long_facts_test"`
	LongTune  tuneSummary          `json:"long_tune"`
	LongEpoch float64              `json:"long_epochs"`
	Answers   []answerSample       `json:"answers"`
	Text      []continuationSample `json:"continuations"`
	Pretrain  pretrainLog          `json:"pretrain"`
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
	Long     string `json:"long"`
}

// longEpochs is the epoch count of the second fine-tuning run.
const longEpochs = 10

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
// automatic strategy (tuning.Train with the zero recipe) within
// o.tuneMinutes and computes the tuned test loss; then the same with the
// epochs fixed at longEpochs. It records greedy answers of the three
// models to test questions and sampled continuations of the base, and
// writes evaluation.json and the model card.
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
	if rec.Tuned, rec.Tune, err = fineTune(ctx, o, base, trainPath, testPath, out, tuning.Recipe{}, &rec.TuneChoices); err != nil {
		return err
	}
	long := filepath.Join(work, "tuned-long")
	rec.LongEpoch = longEpochs
	if rec.Long, rec.LongTune, err = fineTune(ctx, o, base, trainPath, testPath, long, tuning.Recipe{Epochs: longEpochs}, nil); err != nil {
		return err
	}

	if err := sampleAnswers(&rec, base, out, long, rec.Tune.Adapter, rec.LongTune.Adapter, testPath); err != nil {
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

// fineTune runs tuning.Train with recipe on the train split into out and
// evaluates the result on the test split as the validator does.
func fineTune(ctx context.Context, o options, base, trainPath, testPath, out string, recipe tuning.Recipe, choices *[]map[string]any) (*tuning.EvalResult, tuneSummary, error) {
	var sum tuneSummary
	res, err := tuning.Train(ctx, tuning.Spec{ModelDir: base, DataPath: trainPath, OutDir: out,
		Budget: time.Duration(o.tuneMinutes * float64(time.Minute)), Seed: o.seed, Recipe: recipe,
		Log: func(msg string) { fmt.Println("tune:", msg) }}, nil)
	if err != nil {
		return nil, sum, err
	}
	if choices != nil {
		for _, c := range res.Choices {
			*choices = append(*choices, map[string]any{"name": c.Name, "value": c.Value, "reason": c.Reason})
		}
	}
	if t := res.Train; t != nil {
		sum = tuneSummary{Steps: t.Steps, Epochs: t.Epochs, Tokens: t.Tokens, LR: t.LR, StopReason: t.StopReason,
			Seconds: t.Duration.Seconds(), Adapter: res.IsAdapter}
	}
	ev, err := tuning.Evaluate(ctx, tuning.EvalSpec{BaseDir: base, ModelDir: out, TestPath: testPath})
	if err != nil {
		return nil, sum, err
	}
	if ev.Failure != "" {
		return nil, sum, fmt.Errorf("fine-tuned model %s rejected by the evaluator: %s", out, ev.Failure)
	}
	fmt.Printf("fine-tuned (%d steps, %.1f epochs): facts test loss %.4f over %d tokens (adapter: %v)\n", sum.Steps, sum.Epochs, ev.Loss, ev.Tokens, ev.IsAdapter)
	return ev, sum, nil
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
func sampleAnswers(rec *evalRecord, base, out, long string, adapter, longAdapter bool, testPath string) error {
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
	lm, err := loadTuned(base, long, longAdapter)
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
		if s.Long, err = greedy(lm, tok, ex.Prompt, 16); err != nil {
			return err
		}
		fmt.Printf("Q: %s\n   expected %q, base %q, tuned %q, long %q\n", s.Question, s.Expected, s.Base, s.Tuned, s.Long)
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
