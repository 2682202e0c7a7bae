package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/tuning"
)

func init() { register(newTrainCmd) }

// TrainConfig configures "crucible train" (with the column mapping and
// reward flags beside it). Each field's doc comment is its documentation
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

func newTrainCmd() *cobra.Command {
	var (
		c       TrainConfig
		mapping crucible.ColumnMapping
		rf      *rewardFlags
	)
	config.Defaults(&c)
	cmd := &cobra.Command{
		Use:   "train --model DIR --data FILE --out DIR",
		Short: "Fine-tune a model on a dataset within a time budget",
		Long: `train fine-tunes a base model (a Hugging Face directory, or a model in the local
Hugging Face cache) on a dataset (.json, .jsonl, .csv, .parquet or a dataset
directory) and writes the result to --out: a full model, or with LoRA a PEFT
adapter, plus the base's tokenizer files, a model card (README.md), the
per-step metrics (metrics.jsonl) and training.json.

A grpo task (--type grpo, implied by --reward or --reward-file) trains on
prompts with reward functions: each step samples --generations completions
per prompt, scores them, and moves the model toward the completions that
score above their group's mean, with a KL penalty (--beta) that keeps it
near the base. The rewards are checked on the dataset's rows first.

Everything not given is chosen automatically and printed with its reason: the
task type and column mapping (detected), LoRA or full fine-tuning (from the
model size and memory), the batch (from a memory budget), the epochs (from the
data size and the time budget) and the learning rate (from a short range
test). The run always ends, with a valid model written, before --time is up;
interrupting it (Ctrl-C) ends training early and still writes the result.`,
		Example: `  crucible train --model ./models/tiny --data alpaca.jsonl --out ./tuned --time 10m
  crucible train --model ./models/tiny --data prefs.csv --type dpo --lora --out ./dpo --time 5m
  crucible train --model ./models/tiny --data qa.jsonl --field-instruction question --field-output answer --out ./qa
  crucible train --model ./models/tiny --data arithmetic.jsonl --type grpo --reward numeric_answer --reward 'regex_match:pattern=^ *[0-9]+,weight=0.5' --out ./rl --time 5m`,
		Args: cobra.NoArgs,
	}
	addMappingFlags(cmd, &mapping)
	rf = addRewardFlags(cmd)
	return configured(cmd, &c, func(ctx context.Context, c *TrainConfig) error {
		spec := tuning.Spec{ModelDir: c.Model, DataPath: c.Data, TokensPath: c.Tokens, TokenCache: node.ExpandHome(c.TokenCache),
			OutDir: c.Out, BaseModel: c.BaseName, Resume: c.Resume}
		typ, recipe, budget := c.Type, c.Recipe, c.Time
		lora, full, merge := c.LoRA, c.Full, c.Merge
		lr, epochs, batch, accum, steps, maxLen, rank := c.LR, c.Epochs, c.BatchSize, c.GradAccum, c.MaxSteps, c.MaxLength, c.LoRARank
		seed, memoryMB, metricsPath, workDir := c.Seed, c.Memory, c.Metrics, c.WorkDir
		gens, maxCompletion, temperature, beta := c.Generations, c.MaxCompletion, c.Temperature, c.Beta
		required := []string{"model", "data", "out"}
		if spec.TokensPath != "" {
			required = []string{"model", "out"} // the token file is the data
		}
		if err := requireFlags(cmd, required...); err != nil {
			return err
		}
		if err := notNegative(cmd, "lora-rank", "lr", "epochs", "batch-size", "grad-accum", "max-steps", "max-length", "memory", "generations", "max-completion", "temperature", "beta"); err != nil {
			return err
		}
		if lora && full {
			return crucible.Errorf(crucible.EINVALID, "--lora and --full exclude each other")
		}
		r, err := tuning.NamedRecipe(recipe)
		if err != nil {
			return crucible.Wrap(err, crucible.EINVALID, "--recipe")
		}
		switch {
		case lora:
			r.LoRA = &lora
		case full:
			no := false
			r.LoRA = &no
		}
		setIf(&r.LR, lr)
		setIf(&r.Epochs, epochs)
		setIf(&r.BatchSize, batch)
		setIf(&r.GradAccum, accum)
		setIf(&r.MaxSteps, steps)
		setIf(&r.MaxLength, maxLen)
		setIf(&r.LoRARank, rank)
		r.Merge = r.Merge || merge
		setIf(&r.Generations, gens)
		setIf(&r.MaxCompletion, maxCompletion)
		setIf(&r.Temperature, temperature)
		setIf(&r.Beta, beta)
		if gens == 1 {
			return crucible.Errorf(crucible.EINVALID, "--generations 1: grpo compares completions within a group; give at least 2")
		}
		if _, err := kernel.ParsePrecision(c.Precision); err != nil {
			return crucible.Wrap(err, crucible.EINVALID, "--precision")
		}
		r.Precision = c.Precision
		spec.Recipe = r
		if rf.given() {
			if spec.Rewards, _, err = rf.rewards(); err != nil {
				return err
			}
			if typ == "" {
				typ = string(crucible.TaskGRPO)
			}
		}
		if typ != "" {
			if spec.TaskType, err = crucible.ParseTaskType(typ); err != nil {
				return err
			}
		} else if mapping != (crucible.ColumnMapping{}) {
			if spec.TaskType, err = typeOfMapping(mapping); err != nil {
				return err
			}
		}
		if mapping != (crucible.ColumnMapping{}) {
			spec.Mapping = &mapping
		}
		if spec.ModelDir, err = (hub.Resolver{Cache: hub.Cache{Dir: hub.DefaultCacheDir()}, Kind: hub.Model}).Resolve(spec.ModelDir); err != nil {
			return err
		}
		if spec.DataPath != "" {
			if spec.DataPath, err = (hub.Resolver{Cache: hub.Cache{Dir: hub.DefaultCacheDir()}, Kind: hub.Dataset}).Resolve(spec.DataPath); err != nil {
				return err
			}
		}
		if budget <= 0 {
			return crucible.Errorf(crucible.EINVALID, "--time must be positive")
		}
		spec.Budget, spec.Seed, spec.MetricsPath, spec.WorkDir = budget, seed, metricsPath, workDir
		spec.Memory = memoryMB << 20
		out := cmd.ErrOrStderr()
		bar := newProgressBar(out, isTerminal(out), budget)
		spec.Log = bar.line
		what := spec.DataPath
		if spec.TokensPath != "" {
			what = spec.TokensPath
		}
		bar.line(fmt.Sprintf("training %s on %s for at most %s", spec.ModelDir, what, budget))
		res, err := tuning.Train(ctx, spec, bar.update)
		bar.done()
		if err != nil {
			return err
		}
		tr := res.Train
		kind := "full model"
		if res.IsAdapter {
			kind = "LoRA adapter"
		}
		w := cmd.OutOrStdout()
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
			printGRPOResult(w, g)
		}
		for _, warn := range tr.Warnings {
			fmt.Fprintln(w, "warning:", warn)
		}
		return nil
	})
}

func setIf[T int | float64](dst *T, v T) {
	if v > 0 {
		*dst = v
	}
}

// progressBar shows training progress: a redrawn bar on a terminal, plain
// lines at most every few seconds otherwise. Log lines go above the bar.
type progressBar struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	start  time.Time
	last   time.Time
	kind   string // the first word of the last message printed
	shown  bool
	budget time.Duration
}

func newProgressBar(w io.Writer, tty bool, budget time.Duration) *progressBar {
	return &progressBar{w: w, tty: tty, start: time.Now(), budget: budget}
}

func (b *progressBar) line(msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tty && b.shown {
		fmt.Fprint(b.w, "\r\x1b[2K")
		b.shown = false
	}
	fmt.Fprintln(b.w, msg)
}

func (b *progressBar) update(p tuning.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	elapsed := now.Sub(b.start)
	eta := ""
	if p.Fraction > 0.02 && p.Fraction < 1 {
		eta = " ETA " + (time.Duration(float64(elapsed) * (1 - p.Fraction) / p.Fraction)).Round(time.Second).String()
	}
	msg := p.Message
	if b.tty {
		const width = 24
		n := int(p.Fraction * width)
		fmt.Fprintf(b.w, "\r\x1b[2K[%s%s] %3.0f%% %s%s", strings.Repeat("#", n), strings.Repeat(".", width-n), 100*p.Fraction, msg, eta)
		b.shown = true
		return
	}
	// Repeated updates of one kind (steps, tokenizing) print every five
	// seconds; a new kind prints at once.
	kind, _, _ := strings.Cut(msg, " ")
	if now.Sub(b.last) < 5*time.Second && p.Fraction < 1 && kind == b.kind {
		return
	}
	b.last, b.kind = now, kind
	fmt.Fprintf(b.w, "%3.0f%% %s (elapsed %s%s)\n", 100*p.Fraction, msg, elapsed.Round(time.Second), eta)
}

func (b *progressBar) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tty && b.shown {
		fmt.Fprintln(b.w)
		b.shown = false
	}
}
