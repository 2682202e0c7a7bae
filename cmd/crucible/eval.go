package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/tuning"
)

func init() { register(newEvalCmd) }

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

func newEvalCmd() *cobra.Command {
	var (
		c       EvalConfig
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
	return configured(cmd, &c, func(ctx context.Context, c *EvalConfig) error {
		required := []string{"model", "data"}
		if c.Tokens != "" {
			required = []string{"model"} // the token file is the data
		}
		if err := requireFlags(cmd, required...); err != nil {
			return err
		}
		if err := notNegative(cmd, "max-length", "samples", "max-completion"); err != nil {
			return err
		}
		if c.Adapter != "" && c.Base != "" {
			return crucible.Errorf(crucible.EINVALID, "--adapter and --base exclude each other")
		}
		var err error
		spec := tuning.EvalSpec{Mapping: mapping, MaxLength: c.MaxLength, TokensPath: c.Tokens, TokenCache: node.ExpandHome(c.TokenCache)}
		if c.Type != "" {
			if spec.TaskType, err = crucible.ParseTaskType(c.Type); err != nil {
				return err
			}
		} else if mapping != (crucible.ColumnMapping{}) {
			if spec.TaskType, err = typeOfMapping(mapping); err != nil {
				return err
			}
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
			spec.BaseDir, adapter, err = resolveWithAdapter(c.Model, c.Adapter, cmd.ErrOrStderr())
		} else {
			spec.BaseDir, err = resolveModel(c.Model)
		}
		if err != nil {
			return err
		}
		switch {
		case adapter != "":
			spec.ModelDir = adapter
		case c.Base != "":
			spec.ModelDir = spec.BaseDir
			if spec.BaseDir, err = resolveModel(c.Base); err != nil {
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
			if err := printJSON(w, res); err != nil {
				return err
			}
		} else {
			printEval(w, res)
		}
		if res.Failure != "" {
			return exitError{code: 1}
		}
		return nil
	})
}

func printEval(w interface{ Write([]byte) (int, error) }, r *tuning.EvalResult) {
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
