package main

import (
	"context"

	"github.com/crucible-net/crucible/config/cli"
	"github.com/crucible-net/crucible/console"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/tuning"
)

func init() { register(newEvalCmd) }

func newEvalCmd() *cobra.Command {
	var (
		c       tuning.EvalConfig
		mapping crucible.ColumnMapping
		rf      *rewardFlags
	)
	config.Defaults(&c)
	cmd := &cobra.Command{
		Use:   "eval --model DIR --data FILE",
		Short: "Compute a model's test loss on a dataset, as the validator does",
		Long: `eval computes the validator's metric on a dataset with the base model's
tokenizer: the token-weighted mean cross-entropy over response tokens (and
the per-sample mean and perplexity), or for dpo the DPO loss against the base
and the reward accuracy. The result is bit-identical on re-runs.

--model is the base; --adapter evaluates a PEFT adapter (or a full fine-tuned
model directory) over it, with the validator's checks: same architecture, an
adapter that fits, weights that differ from the base. --base evaluates --model
as a fine-tune of another base. A submission that fails the checks prints the
failure and exits with status 1.

For grpo (--reward, --reward-file) the metric is the mean weighted reward of
--samples completions per prompt, sampled with seeds derived from --seed,
less 0.5 × KL(base‖model) over the prompts when a fine-tune is evaluated;
higher is better, and the same --seed gives the same score bit for bit.`,
		Example: `  crucible eval --model ./models/tiny --data test.jsonl
  crucible eval --model ./models/tiny --adapter ./tuned --data test.jsonl --json
  crucible eval --model ./dpo-tuned --base ./models/tiny --data prefs.jsonl --type dpo
  crucible eval --model ./models/tiny --tokens test.tokens.safetensors
  crucible eval --model ./rl --base ./models/tiny --data arithmetic.jsonl --reward numeric_answer --seed 7`,
		Args: cobra.NoArgs,
	}
	addMappingFlags(cmd, &mapping)
	rf = addRewardFlags(cmd)
	return cli.Run(cmd, &c, func(ctx context.Context, c *tuning.EvalConfig) error {
		required := []string{"model", "data"}
		if c.Tokens != "" {
			required = []string{"model"} // the token file is the data
		}
		if err := cli.Require(cmd, required...); err != nil {
			return err
		}
		if err := cli.NotNegative(cmd, "max-length", "samples", "max-completion"); err != nil {
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
		res, err := c.Evaluate(ctx, mapping, rewards, tuning.ModelFinder{Model: node.FindModel, WithAdapter: node.FindModelAdapter}, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		if c.JSON {
			err = console.PrintJSON(cmd.OutOrStdout(), res)
		} else {
			res.WriteText(cmd.OutOrStdout())
		}
		if err == nil && res.Failed() {
			return exitError{code: 1}
		}
		return err
	})
}
