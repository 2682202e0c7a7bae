package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/reward"
)

// rewardFlags are the --reward and --reward-file flags of the commands
// that take a grpo task's reward functions.
type rewardFlags struct {
	specs, files []string
}

func addRewardFlags(cmd *cobra.Command) *rewardFlags {
	rf := &rewardFlags{}
	f := cmd.Flags()
	f.StringArrayVar(&rf.specs, "reward", nil, "grpo: a built-in reward, NAME[:key=value,...] (weight=W sets its weight), or a JSON object; repeatable. Built-ins: "+strings.Join(reward.BuiltinNames(), ", "))
	f.StringArrayVar(&rf.files, "reward-file", nil, "grpo: a Starlark file defining reward(prompt, completion, extra), as PATH or PATH:weight=W; repeatable")
	return rf
}

// given reports whether any reward flag was set.
func (rf *rewardFlags) given() bool { return len(rf.specs)+len(rf.files) > 0 }

// rewards reads the flags into the task's rewards and compiles them, so
// that a reward that does not parse or compile fails before any work.
func (rf *rewardFlags) rewards() ([]crucible.Reward, *reward.Set, error) {
	var rs []crucible.Reward
	for _, s := range rf.specs {
		r, err := reward.ParseSpec(s)
		if err != nil {
			return nil, nil, crucible.Wrap(err, crucible.EINVALID, "--reward %s", s)
		}
		rs = append(rs, r)
	}
	for _, s := range rf.files {
		r, err := reward.FromFile(s)
		if err != nil {
			return nil, nil, err
		}
		rs = append(rs, r)
	}
	set, err := reward.Compile(rs)
	if err != nil {
		return nil, nil, err
	}
	return rs, set, nil
}

// checkRewards returns a data.CheckOptions.CheckExample that runs every
// reward on a row with the probe completions.
func checkRewards(set *reward.Set) func(data.Example) error {
	return func(ex data.Example) error {
		errs := set.Check([]reward.Sample{{Where: ex.Pos.String(), Prompt: ex.Prompt, Extra: ex.Extra}}, 1)
		if len(errs) > 0 {
			return errs[0]
		}
		return nil
	}
}

// describeRewards lists rewards for logs.
func describeRewards(rs []crucible.Reward) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, reward.Describe(r))
	}
	return fmt.Sprintf("%d reward function(s): %s", len(rs), strings.Join(parts, ", "))
}
