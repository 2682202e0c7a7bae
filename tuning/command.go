package tuning

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/reward"
)

//go:generate go run github.com/crucible-net/crucible/tools/configdoc

// The settings of the engine's commands (crucible train, eval, generate):
// each is one Config struct whose doc comments document it (package
// config), and a method that checks it and turns it into this package's
// Spec. Model and data names are paths here; the command line resolves
// names of the Hugging Face cache and shipped models before the call.

// TrainConfig configures "crucible train" (the column mapping and the
// rewards come beside it: see Spec). Each field's doc comment is its documentation
// and states its default (package config); a numeric setting left at 0 is
// chosen automatically, and the run prints why.
type TrainConfig struct {
	// Model is the base model directory (Hugging Face layout) or a cached
	// org/name.
	Model string `flag:"model"`
	// Data is the dataset file or directory, or a cached dataset org/name.
	Data string `flag:"data"`
	// Tokens is a token file to train on instead of tokenizing --data (see
	// crucible data tokenize).
	Tokens string `flag:"tokens"`
	// TokenCache is the directory where tokenized datasets are kept for the
	// next run; empty keeps them for this run only. Defaults to
	// `$CRUCIBLE_HOME/cache/tokens`.
	TokenCache string `flag:"token-cache"`
	// Out is the output directory; it must not exist or be empty.
	Out string `flag:"out"`
	// BaseName is the base model's name in the model card; empty means the
	// model directory's name.
	BaseName string `flag:"base-name"`
	// Type is the task type: instruct, chat, dpo, text or grpo; empty
	// detects it (grpo with --reward).
	Type string `flag:"type"`
	// Time is the time budget: the result is written before it is up.
	// Defaults to `10m`.
	Time time.Duration `flag:"time"`
	// Recipe is a named recipe (auto, lora-fast, lora-quality, lora-small, full, full-short).
	// Defaults to `auto`.
	Recipe string `flag:"recipe"`
	// LoRA trains a LoRA adapter; unset with --full too, the model's size
	// decides.
	LoRA bool `flag:"lora"`
	// Full fine-tunes every weight; unset with --lora too, the model's size
	// decides.
	Full bool `flag:"full"`
	// Merge writes, with LoRA, a merged full model instead of the adapter.
	Merge bool `flag:"merge"`
	// LoRARank is the LoRA rank (alpha is twice the rank); 0 means 16.
	LoRARank int `flag:"lora-rank"`
	// Precision is the arithmetic of the matrix products: auto (bf16 where
	// the CPU has AMX-BF16 or AVX512_BF16), fp32 or bf16. Defaults to
	// `auto`.
	Precision string `flag:"precision"`
	// LR is the peak learning rate; 0 runs a learning-rate range test.
	LR float64 `flag:"lr"`
	// Epochs is the passes over the data; 0 picks them from the data size
	// (the time budget may cut them).
	Epochs float64 `flag:"epochs"`
	// BatchSize is the sequences per micro-batch; 0 picks it from the
	// memory budget.
	BatchSize int `flag:"batch-size"`
	// GradAccum is the micro-batches per optimizer step; 0 makes steps of
	// about 16 sequences.
	GradAccum int `flag:"grad-accum"`
	// MaxSteps caps the optimizer steps; 0 sets no cap.
	MaxSteps int `flag:"max-steps"`
	// MaxLength is the tokens per sequence; 0 means the model's context, at
	// most 1024.
	MaxLength int `flag:"max-length"`
	// Seed seeds the data order, the validation split and LoRA's
	// initialization.
	Seed uint64 `flag:"seed"`
	// Memory is the memory budget in MiB; 0 means 60% of the available
	// memory.
	Memory int64 `flag:"memory"`
	// Metrics also writes the per-step metrics (JSON Lines) to this file.
	Metrics string `flag:"metrics"`
	// WorkDir is the checkpoint directory; empty means --out with .work
	// appended (removed on success).
	WorkDir string `flag:"work-dir"`
	// Resume continues from the latest checkpoint of an interrupted run with
	// the same settings.
	Resume bool `flag:"resume"`
	// Generations is, for grpo, the completions sampled per prompt; 0 means
	// 8.
	Generations int `flag:"generations"`
	// MaxCompletion is, for grpo, the most tokens of a completion; 0 means
	// grpo's default length.
	MaxCompletion int `flag:"max-completion"`
	// Temperature is, for grpo, the sampling temperature; 0 means 1.
	Temperature float64 `flag:"temperature"`
	// Beta is, for dpo, its temperature (0 means 0.1) and, for grpo, the
	// weight of the KL penalty to the base (0 means 0.04).
	Beta float64 `flag:"beta"`
}

// EvalConfig configures "crucible eval" (with the column mapping flags
// beside it). Each field's doc comment is its documentation and states its
// default (package config).
type EvalConfig struct {
	// Model is the model directory (the base when --adapter is given) or a
	// cached org/name.
	Model string `flag:"model"`
	// Adapter is the submission to evaluate over --model: a PEFT adapter or
	// a full model directory.
	Adapter string `flag:"adapter"`
	// Base evaluates --model as a fine-tune of this base model.
	Base string `flag:"base"`
	// Data is the test dataset file or directory.
	Data string `flag:"data"`
	// Tokens is a token file of the test split to evaluate instead of
	// tokenizing --data (see crucible data tokenize).
	Tokens string `flag:"tokens"`
	// TokenCache is the directory where tokenized datasets are kept for the
	// next run; empty means a temporary one. Defaults to
	// `$CRUCIBLE_HOME/cache/tokens`.
	TokenCache string `flag:"token-cache"`
	// Type is the task type: instruct, chat, dpo, text or grpo; empty
	// detects it (grpo with --reward).
	Type string `flag:"type"`
	// Seed is, for grpo, the seed every sampled completion derives from (a
	// validator derives it from the task). Defaults to 0.
	Seed uint64 `flag:"seed"`
	// Samples is, for grpo, the completions sampled per prompt; 0 means 2.
	Samples int `flag:"samples"`
	// MaxCompletion is, for grpo, the most tokens of a completion; 0 means
	// 32 (what validators sample).
	MaxCompletion int `flag:"max-completion"`
	// MaxLength is the tokens per sequence; 0 means the model's context, at
	// most 4096.
	MaxLength int `flag:"max-length"`
	// JSON prints the result as JSON.
	JSON bool `flag:"json"`
}

// GenerateConfig configures "crucible generate". Each field's doc comment
// is its documentation and states its default (package config).
type GenerateConfig struct {
	// Model is the model directory (Hugging Face layout) or a cached
	// org/name.
	Model string `flag:"model"`
	// Adapter is a PEFT adapter directory to apply to the model.
	Adapter string `flag:"adapter"`
	// Prompt is the user's message.
	Prompt string `flag:"prompt"`
	// System is an optional system message.
	System string `flag:"system"`
	// Raw uses the prompt as is, without the chat template; unset, it is on
	// for a model crucible fine-tuned on instruct or text data.
	Raw bool `flag:"raw"`
	// MaxTokens is the most tokens to generate. Defaults to `128`.
	MaxTokens int `flag:"max-tokens"`
	// Temperature is the sampling temperature; 0 is greedy decoding.
	Temperature float64 `flag:"temperature"`
	// TopP is nucleus sampling: keep the smallest set of tokens with this
	// probability. Defaults to `1`.
	TopP float64 `flag:"top-p"`
	// Seed seeds sampling.
	Seed uint64 `flag:"seed"`
	// Samples samples this many completions as one batch (printed when all
	// are done, with tokens/s). Defaults to `1`.
	Samples int `flag:"samples"`
}

// Spec checks the settings and returns the training spec they ask for,
// with the column mapping (zero: detected) and a grpo task's rewards (a
// task type of grpo unless another is given). Numeric settings left at 0
// keep the recipe's values, chosen automatically.
func (c *TrainConfig) Spec(mapping crucible.ColumnMapping, rewards []crucible.Reward) (Spec, error) {
	spec := Spec{ModelDir: c.Model, DataPath: c.Data, TokensPath: c.Tokens, TokenCache: c.TokenCache,
		OutDir: c.Out, BaseModel: c.BaseName, Resume: c.Resume, Rewards: rewards,
		Budget: c.Time, Seed: c.Seed, MetricsPath: c.Metrics, WorkDir: c.WorkDir, Memory: c.Memory << 20}
	if c.LoRA && c.Full {
		return spec, crucible.Errorf(crucible.EINVALID, "--lora and --full exclude each other")
	}
	r, err := NamedRecipe(c.Recipe)
	if err != nil {
		return spec, crucible.Wrap(err, crucible.EINVALID, "--recipe")
	}
	switch {
	case c.LoRA:
		yes := true
		r.LoRA = &yes
	case c.Full:
		no := false
		r.LoRA = &no
	}
	setIf(&r.LR, c.LR)
	setIf(&r.Epochs, c.Epochs)
	setIf(&r.BatchSize, c.BatchSize)
	setIf(&r.GradAccum, c.GradAccum)
	setIf(&r.MaxSteps, c.MaxSteps)
	setIf(&r.MaxLength, c.MaxLength)
	setIf(&r.LoRARank, c.LoRARank)
	r.Merge = r.Merge || c.Merge
	setIf(&r.Generations, c.Generations)
	setIf(&r.MaxCompletion, c.MaxCompletion)
	setIf(&r.Temperature, c.Temperature)
	setIf(&r.Beta, c.Beta)
	if c.Generations == 1 {
		return spec, crucible.Errorf(crucible.EINVALID, "--generations 1: grpo compares completions within a group; give at least 2")
	}
	if _, err := kernel.ParsePrecision(c.Precision); err != nil {
		return spec, crucible.Wrap(err, crucible.EINVALID, "--precision")
	}
	r.Precision = c.Precision
	spec.Recipe = r
	typ := c.Type
	if len(rewards) > 0 && typ == "" {
		typ = string(crucible.TaskGRPO)
	}
	if spec.TaskType, err = TaskTypeOf(typ, mapping); err != nil {
		return spec, err
	}
	if mapping != (crucible.ColumnMapping{}) {
		spec.Mapping = &mapping
	}
	if c.Time <= 0 {
		return spec, crucible.Errorf(crucible.EINVALID, "--time must be positive")
	}
	return spec, nil
}

func setIf[T int | float64](dst *T, v T) {
	if v > 0 {
		*dst = v
	}
}

// TaskTypeOf is the task type a command was given: typ when set, else the
// one the column mapping's fields imply (data.MappingType), else "" (to be
// detected).
func TaskTypeOf(typ string, mapping crucible.ColumnMapping) (crucible.TaskType, error) {
	if typ != "" {
		return crucible.ParseTaskType(typ)
	}
	if mapping != (crucible.ColumnMapping{}) {
		return data.MappingType(mapping)
	}
	return "", nil
}

// WriteTrainResult writes what a training run did: where the result went,
// its steps and speed, its losses (or rewards), and its warnings.
func WriteTrainResult(w io.Writer, res *Result) {
	tr := res.Train
	kind := "full model"
	if res.IsAdapter {
		kind = "LoRA adapter"
	}
	fmt.Fprintf(w, "wrote %s (%s) in %s\n", res.OutDir, kind, res.Duration.Round(time.Second))
	fmt.Fprintf(w, "steps %d (%.2f epochs), %.0f tokens/s, stopped: %s\n", tr.Steps, tr.Epochs, tr.TokensPerS, tr.StopReason)
	if res.GRPO == nil {
		fmt.Fprintf(w, "train loss %.4f -> %.4f\n", tr.FirstLoss, tr.TrainLoss)
	}
	if tr.ValLoss == tr.ValLoss {
		fmt.Fprintf(w, "validation loss %.4f -> %.4f (weights of step %d)\n", tr.InitialValLoss, tr.ValLoss, tr.BestStep)
	}
	if res.TaskType == crucible.TaskDPO {
		fmt.Fprintf(w, "validation reward accuracy %.3f -> %.3f, margin %.4f\n", tr.InitialRewardAccuracy, tr.RewardAccuracy, tr.Margin)
	}
	if g := res.GRPO; g != nil {
		fmt.Fprintf(w, "reward (sampled) %.4f -> %.4f\n", g.FirstReward, g.TrainReward)
		if g.ValReward == g.ValReward {
			fmt.Fprintf(w, "validation reward %.4f -> %.4f", g.InitialValReward, g.ValReward)
			for i, p := range g.ValParts {
				if i < len(g.RewardNames) {
					sep := ", "
					if i == 0 {
						sep = " ("
					}
					fmt.Fprintf(w, "%s%s %.3f", sep, g.RewardNames[i], p)
				}
			}
			if len(g.ValParts) > 0 {
				fmt.Fprint(w, ")")
			}
			fmt.Fprintln(w)
		}
		if total := g.Cost.Total().Seconds(); total > 0 {
			fmt.Fprintf(w, "%d completions sampled at %.0f tokens/s; time: sampling %.0f%%, reward %.0f%%, backward %.0f%%\n", g.Completions, g.SampleTokensPerS,
				100*g.Cost.Sampling.Seconds()/total, 100*g.Cost.Reward.Seconds()/total, 100*g.Cost.Backward.Seconds()/total)
		}
	}
	for _, warn := range tr.Warnings {
		fmt.Fprintln(w, "warning:", warn)
	}
}

// WriteText writes an evaluation as the eval command prints it: its
// failure, or the loss (dpo: loss, reward accuracy and margin).
func (r *EvalResult) WriteText(w io.Writer) {
	if r.Failure != "" {
		fmt.Fprintf(w, "failure: %s\n", r.Failure)
		return
	}
	kind := ""
	if r.IsAdapter {
		kind = " (adapter)"
	}
	if r.RewardAccuracy != 0 || r.Perplexity == 0 {
		fmt.Fprintf(w, "dpo loss        %.6f%s over %d pairs (%d tokens)\n", r.Loss, kind, r.Samples, r.Tokens)
		fmt.Fprintf(w, "reward accuracy %.4f\nreward margin   %.6f\n", r.RewardAccuracy, r.Margin)
		return
	}
	fmt.Fprintf(w, "test loss       %.6f%s (token-weighted, %d tokens)\n", r.Loss, kind, r.Tokens)
	fmt.Fprintf(w, "per-sample mean %.6f (%d samples)\n", r.SampleMean, r.Samples)
	fmt.Fprintf(w, "perplexity      %.4f\n", r.Perplexity)
}

// WriteText writes a grpo evaluation as the eval command prints it: its
// failure, or the score, the reward and its parts, and the KL.
func (r *GRPOEvalResult) WriteText(w io.Writer) {
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

// RewardCheck returns a data.CheckOptions.CheckExample that runs every
// reward of set on a row with the probe completions (data check --reward).
func RewardCheck(set *reward.Set) func(data.Example) error {
	c := set.NewChecker()
	return func(ex data.Example) error {
		if errs := c.Check(reward.Sample{Where: ex.Pos.String(), Prompt: ex.Prompt, Extra: ex.Extra}); len(errs) > 0 {
			return errs[0]
		}
		return nil
	}
}

// WriteSamples samples n completions of one prompt as a batch and writes
// them to w, with the generation speed to stats.
func WriteSamples(w, stats io.Writer, spec GenerateSpec, n int) error {
	t0 := time.Now()
	outs, err := Sample(spec, n)
	if err != nil {
		return err
	}
	d := time.Since(t0)
	tokens := 0
	for i, c := range outs {
		tokens += c.Tokens
		fmt.Fprintf(w, "--- sample %d (%d tokens)\n%s\n", i+1, c.Tokens, c.Text)
	}
	fmt.Fprintf(stats, "%d samples, %d tokens in %s: %.0f tokens/s\n", n, tokens, d.Round(time.Millisecond), float64(tokens)/d.Seconds())
	return nil
}

// ModelFinder finds models by the names commands are given; the binary
// passes node's finders (paths, the Hugging Face cache, shipped models,
// and an adapter directory that names its base).
type ModelFinder struct {
	Model       func(name string) (string, error)
	WithAdapter func(model, adapter string, note io.Writer) (dir, adapterDir string, err error)
}

// Report is an evaluation's result as the eval command prints it.
type Report interface {
	WriteText(w io.Writer)
	Failed() bool // the submission failed the validator's checks
}

// Failed reports whether the submission failed the validator's checks.
func (r *EvalResult) Failed() bool { return r.Failure != "" }

// Failed reports whether the submission failed the validator's checks.
func (r *GRPOEvalResult) Failed() bool { return r.Failure != "" }

// Evaluate checks the eval settings and runs the evaluation they ask for:
// the loss of the model (or of --adapter over it, or of it as a fine-tune
// of --base), or for grpo (rewards given, or --type grpo) the seeded
// reward less the KL guard. Notes about resolved names go to note.
func (c *EvalConfig) Evaluate(ctx context.Context, mapping crucible.ColumnMapping, rewards []crucible.Reward, find ModelFinder, note io.Writer) (Report, error) {
	if c.Adapter != "" && c.Base != "" {
		return nil, crucible.Errorf(crucible.EINVALID, "--adapter and --base exclude each other")
	}
	var err error
	spec := EvalSpec{Mapping: mapping, MaxLength: c.MaxLength, TokensPath: c.Tokens, TokenCache: c.TokenCache}
	if spec.TaskType, err = TaskTypeOf(c.Type, mapping); err != nil {
		return nil, err
	}
	grpo := len(rewards) > 0 || spec.TaskType == crucible.TaskGRPO
	if grpo {
		if c.Tokens != "" {
			return nil, crucible.Errorf(crucible.EINVALID, "--tokens is for loss evaluation; a grpo evaluation reads its prompts from --data")
		}
		if spec.TaskType != "" && spec.TaskType != crucible.TaskGRPO {
			return nil, crucible.Errorf(crucible.EINVALID, "--reward and --reward-file are for grpo, not %s", spec.TaskType)
		}
		if _, err := reward.Compile(rewards); err != nil {
			return nil, err
		}
	}
	adapter := c.Adapter
	if c.Base == "" {
		spec.BaseDir, adapter, err = find.WithAdapter(c.Model, c.Adapter, note)
	} else {
		spec.BaseDir, err = find.Model(c.Model)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case adapter != "":
		spec.ModelDir = adapter
	case c.Base != "":
		spec.ModelDir = spec.BaseDir
		if spec.BaseDir, err = find.Model(c.Base); err != nil {
			return nil, err
		}
	}
	if c.Data != "" {
		if spec.TestPath, err = hub.ResolveDataset(c.Data); err != nil {
			return nil, err
		}
	}
	if grpo {
		return EvaluateGRPO(ctx, GRPOEvalSpec{BaseDir: spec.BaseDir, ModelDir: spec.ModelDir, TestPath: spec.TestPath, Mapping: mapping,
			Rewards: rewards, Seed: c.Seed, Samples: c.Samples, MaxCompletion: c.MaxCompletion})
	}
	return Evaluate(ctx, spec)
}
