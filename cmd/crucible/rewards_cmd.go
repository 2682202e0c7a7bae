package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/config"
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			for _, b := range reward.Builtins() {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", b.Name, b.Range, b.Doc)
				var args []string
				for k := range b.Args {
					args = append(args, k)
				}
				sort.Strings(args)
				for _, a := range args {
					fmt.Fprintf(tw, "\t  %s\t%s\n", a, b.Args[a])
				}
			}
			return tw.Flush()
		},
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

// scoreLine is one line of "crucible rewards score"'s input.
type scoreLine struct {
	Prompt     string         `json:"prompt"`
	Completion string         `json:"completion"`
	Extra      map[string]any `json:"extra"`
}

// scoreResult is one line of its output.
type scoreResult struct {
	Total  float64   `json:"total"`
	Parts  []float64 `json:"parts"`
	Errors []string  `json:"errors,omitempty"`
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
	return configured(cmd, &c, func(ctx context.Context, c *RewardsScoreConfig) error {
		var rs []crucible.Reward
		if c.Rewards != "" {
			b, err := os.ReadFile(c.Rewards)
			if err != nil {
				return crucible.Wrap(err, crucible.EINVALID, "--rewards")
			}
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&rs); err != nil {
				return crucible.Wrap(err, crucible.EINVALID, "--rewards %s: not a JSON list of rewards", c.Rewards)
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
		in := bufio.NewScanner(cmd.InOrStdin())
		in.Buffer(make([]byte, 1<<20), 64<<20)
		out := bufio.NewWriter(cmd.OutOrStdout())
		defer out.Flush()
		enc := json.NewEncoder(out)
		for line := 1; in.Scan(); line++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			if strings.TrimSpace(in.Text()) == "" {
				continue
			}
			var l scoreLine
			if err := json.Unmarshal(in.Bytes(), &l); err != nil {
				return crucible.Errorf(crucible.EINVALID, "stdin:%d: not a JSON object with prompt, completion and extra: %v", line, err)
			}
			s, errs := set.ScoreLenient(l.Prompt, l.Completion, l.Extra)
			res := scoreResult{Total: s.Total, Parts: s.Parts}
			for _, e := range errs {
				res.Errors = append(res.Errors, e.Error())
			}
			if err := enc.Encode(res); err != nil {
				return err
			}
		}
		return in.Err()
	})
}
