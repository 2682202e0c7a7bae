package main

import (
	"context"

	"github.com/crucible-net/crucible/config/cli"
	"github.com/crucible-net/crucible/console"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data/hub"
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
		if c.Adapter != "" && c.Base != "" {
			return crucible.Errorf(crucible.EINVALID, "--adapter and --base exclude each other")
		}
		var err error
		spec := tuning.EvalSpec{Mapping: mapping, MaxLength: c.MaxLength, TokensPath: c.Tokens, TokenCache: node.ExpandHome(c.TokenCache)}
		if spec.TaskType, err = tuning.TaskTypeOf(c.Type, mapping); err != nil {
			return err
		}
		grpo := rf.given() || spec.TaskType == crucible.TaskGRPO
		var rs []crucible.Reward
		if grpo {
			if c.Tokens != "" {
				return crucible.Errorf(crucible.EINVALID, "--tokens is for loss evaluation; a grpo evaluation reads its prompts from --data")
			}
			if spec.TaskType != "" && spec.TaskType != crucible.TaskGRPO {
				return crucible.Errorf(crucible.EINVALID, "--reward and --reward-file are for grpo, not %s", spec.TaskType)
			}
			if rs, _, err = rf.rewards(); err != nil {
				return err
			}
		}
		adapter := c.Adapter
		if c.Base == "" {
			spec.BaseDir, adapter, err = node.FindModelAdapter(c.Model, c.Adapter, cmd.ErrOrStderr())
		} else {
			spec.BaseDir, err = node.FindModel(c.Model)
		}
		if err != nil {
			return err
		}
		switch {
		case adapter != "":
			spec.ModelDir = adapter
		case c.Base != "":
			spec.ModelDir = spec.BaseDir
			if spec.BaseDir, err = node.FindModel(c.Base); err != nil {
				return err
			}
		}
		if c.Data != "" {
			if spec.TestPath, err = (hub.Resolver{Cache: hub.Cache{Dir: hub.DefaultCacheDir()}, Kind: hub.Dataset}).Resolve(c.Data); err != nil {
				return err
			}
		}
		if grpo {
			return evalGRPO(ctx, cmd, tuning.GRPOEvalSpec{BaseDir: spec.BaseDir, ModelDir: spec.ModelDir, TestPath: spec.TestPath, Mapping: mapping,
				Rewards: rs, Seed: c.Seed, Samples: c.Samples, MaxCompletion: c.MaxCompletion}, c.JSON)
		}
		res, err := tuning.Evaluate(ctx, spec)
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if c.JSON {
			if err := console.PrintJSON(w, res); err != nil {
				return err
			}
		} else {
			res.WriteText(w)
		}
		if res.Failure != "" {
			return exitError{code: 1}
		}
		return nil
	})
}

// evalGRPO runs a grpo evaluation and prints it.
func evalGRPO(ctx context.Context, cmd *cobra.Command, spec tuning.GRPOEvalSpec, asJSON bool) error {
	res, err := tuning.EvaluateGRPO(ctx, spec)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if asJSON {
		if err := console.PrintJSON(w, res); err != nil {
			return err
		}
	} else {
		res.WriteText(w)
	}
	if res.Failure != "" {
		return exitError{code: 1}
	}
	return nil
}
