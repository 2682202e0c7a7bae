package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/tuning"
)

func init() { register(newTrainCmd) }

func newTrainCmd() *cobra.Command {
	var (
		spec                 tuning.Spec
		typ, recipe          string
		precision            string
		mapping              crucible.ColumnMapping
		budget               time.Duration
		lora, full, merge    bool
		lr, epochs           float64
		batch, accum, steps  int
		maxLen, rank         int
		seed                 uint64
		memoryMB             int64
		metricsPath, workDir string
		rf                   *rewardFlags
		gens, maxCompletion  int
		temperature, beta    float64
	)
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
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			if _, err := kernel.ParsePrecision(precision); err != nil {
				return crucible.Wrap(err, crucible.EINVALID, "--precision")
			}
			r.Precision = precision
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
			res, err := tuning.Train(cmd.Context(), spec, bar.update)
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
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.ModelDir, "model", "", "base model directory (Hugging Face layout) or cached org/name")
	f.StringVar(&spec.DataPath, "data", "", "dataset file or directory, or cached dataset org/name")
	f.StringVar(&spec.TokensPath, "tokens", "", "token file to train on instead of tokenizing --data (see crucible data tokenize)")
	f.StringVar(&spec.TokenCache, "token-cache", defaultTokenCacheDir(), "directory where tokenized datasets are kept for the next run (empty: keep them for this run only)")
	f.StringVar(&spec.OutDir, "out", "", "output directory (must not exist or be empty)")
	f.StringVar(&spec.BaseModel, "base-name", "", "name of the base model in the model card (default: the model directory's name)")
	f.StringVar(&typ, "type", "", "task type: instruct, chat, dpo, text or grpo (default: detected; grpo with --reward)")
	addMappingFlags(cmd, &mapping)
	rf = addRewardFlags(cmd)
	f.IntVar(&gens, "generations", 0, "grpo: completions sampled per prompt (default 8)")
	f.IntVar(&maxCompletion, "max-completion", 0, fmt.Sprintf("grpo: most tokens of a completion (default %d)", tuning.DefaultMaxCompletion))
	f.Float64Var(&temperature, "temperature", 0, "grpo: sampling temperature (default 1)")
	f.Float64Var(&beta, "beta", 0, "dpo: temperature (default 0.1); grpo: weight of the KL penalty to the base (default 0.04)")
	f.DurationVar(&budget, "time", 10*time.Minute, "time budget: the result is written before it is up")
	f.StringVar(&recipe, "recipe", "auto", "named recipe: "+strings.Join(tuning.RecipeNames(), ", "))
	f.BoolVar(&lora, "lora", false, "train a LoRA adapter (default: chosen by model size)")
	f.BoolVar(&full, "full", false, "fine-tune every weight (default: chosen by model size)")
	f.BoolVar(&merge, "merge", false, "with LoRA, write a merged full model instead of the adapter")
	f.IntVar(&rank, "lora-rank", 0, "LoRA rank (default 16; alpha is twice the rank)")
	f.StringVar(&precision, "precision", "auto", "arithmetic of the matrix products: auto (bf16 where the CPU has AMX-BF16 or AVX512_BF16), fp32 or bf16")
	f.Float64Var(&lr, "lr", 0, "peak learning rate (default: from a learning-rate range test)")
	f.Float64Var(&epochs, "epochs", 0, "passes over the data (default: from the data size; the time budget may cut it)")
	f.IntVar(&batch, "batch-size", 0, "sequences per micro-batch (default: from the memory budget)")
	f.IntVar(&accum, "grad-accum", 0, "micro-batches per optimizer step (default: about 16 sequences per step)")
	f.IntVar(&steps, "max-steps", 0, "cap on optimizer steps")
	f.IntVar(&maxLen, "max-length", 0, "tokens per sequence (default: the model's context, at most 1024)")
	f.Uint64Var(&seed, "seed", 0, "seed of the data order, validation split and LoRA initialization")
	f.Int64Var(&memoryMB, "memory", 0, "memory budget in MiB (default: 60% of the available memory)")
	f.StringVar(&metricsPath, "metrics", "", "also write the per-step metrics (JSON Lines) to this file")
	f.StringVar(&workDir, "work-dir", "", "checkpoint directory (default: --out with .work appended; removed on success)")
	f.BoolVar(&spec.Resume, "resume", false, "continue from the latest checkpoint of an interrupted run with the same flags")
	return cmd
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
