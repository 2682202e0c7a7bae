package main

import (
	"context"
	"fmt"

	"github.com/crucible-net/crucible/config/cli"
	"github.com/crucible-net/crucible/console"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/tuning"
)

func init() { register(newTrainCmd) }

func newTrainCmd() *cobra.Command {
	var (
		c       tuning.TrainConfig
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
	return cli.Run(cmd, &c, func(ctx context.Context, c *tuning.TrainConfig) error {
		required := []string{"model", "data", "out"}
		if c.Tokens != "" {
			required = []string{"model", "out"} // the token file is the data
		}
		if err := cli.Require(cmd, required...); err != nil {
			return err
		}
		if err := cli.NotNegative(cmd, "lora-rank", "lr", "epochs", "batch-size", "grad-accum", "max-steps", "max-length", "memory", "generations", "max-completion", "temperature", "beta"); err != nil {
			return err
		}
		var rewards []crucible.Reward
		if rf.given() {
			var err error
			if rewards, _, err = rf.rewards(); err != nil {
				return err
			}
		}
		c.TokenCache = node.ExpandHome(c.TokenCache)
		spec, err := c.Spec(mapping, rewards)
		if err != nil {
			return err
		}
		if spec.ModelDir, err = hub.ResolveModel(spec.ModelDir); err != nil {
			return err
		}
		if spec.DataPath != "" {
			if spec.DataPath, err = hub.ResolveDataset(spec.DataPath); err != nil {
				return err
			}
		}
		out := cmd.ErrOrStderr()
		bar := console.NewProgress(out, console.IsTerminal(out))
		spec.Log = bar.Line
		what := spec.DataPath
		if spec.TokensPath != "" {
			what = spec.TokensPath
		}
		bar.Line(fmt.Sprintf("training %s on %s for at most %s", spec.ModelDir, what, spec.Budget))
		res, err := tuning.Train(ctx, spec, func(p tuning.Progress) { bar.Update(p.Fraction, p.Message) })
		bar.Done()
		if err != nil {
			return err
		}
		tuning.WriteTrainResult(cmd.OutOrStdout(), res)
		return nil
	})
}
