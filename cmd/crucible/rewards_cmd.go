package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/config/cli"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/reward"
)

func init() { register(newRewardsCmd) }

func newRewardsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rewards",
		Short: "List the built-in grpo rewards, and score completions with a task's rewards",
	}
	cmd.AddCommand(newRewardsListCmd(), newRewardsScoreCmd())
	return cmd
}

func newRewardsListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the built-in rewards with their arguments",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return reward.WriteBuiltins(cmd.OutOrStdout()) },
	}
}

// RewardsScoreConfig configures "crucible rewards score". Each field's
// doc comment is its documentation and states its default (package
// config).
type RewardsScoreConfig struct {
	// Rewards is a JSON file of reward functions (a grpo task's rewards,
	// as a miner's external trainer gets them in CRUCIBLE_REWARDS).
	Rewards string `flag:"rewards"`
}

func newRewardsScoreCmd() *cobra.Command {
	var c RewardsScoreConfig
	config.Defaults(&c)
	var rf *rewardFlags
	cmd := &cobra.Command{
		Use:   "score --rewards FILE < completions.jsonl",
		Short: "Score completions with a grpo task's rewards, one JSON line in, one out",
		Long: `score reads JSON Lines from stdin, each {"prompt": ..., "completion": ...,
"extra": {...}} (extra: the row's extra columns), and writes one line per
input with the rewards' weighted total, each reward's raw value in order,
and the errors of rewards that failed on it (they count 0): exactly the
scores crucible's own trainer and the validator use. The rewards come from
--rewards (a JSON list of rewards) and/or --reward and --reward-file.
An external trainer (miner --strategy command) calls it with
CRUCIBLE_REWARDS to score its samples.`,
		Example: `  echo '{"prompt": "2+2?", "completion": "4", "extra": {"answer": 4}}' | crucible rewards score --reward numeric_answer
  crucible rewards score --rewards "$CRUCIBLE_REWARDS" < samples.jsonl > scores.jsonl`,
		Args: cobra.NoArgs,
	}
	rf = addRewardFlags(cmd)
	return cli.Run(cmd, &c, func(ctx context.Context, c *RewardsScoreConfig) error {
		var rs []crucible.Reward
		if c.Rewards != "" {
			var err error
			if rs, err = reward.ReadList(c.Rewards); err != nil {
				return err
			}
		}
		if rf.given() {
			more, _, err := rf.rewards()
			if err != nil {
				return err
			}
			rs = append(rs, more...)
		}
		set, err := reward.Compile(rs)
		if err != nil {
			return err
		}
		return reward.ScoreLines(ctx, set, cmd.InOrStdin(), cmd.OutOrStdout())
	})
}
