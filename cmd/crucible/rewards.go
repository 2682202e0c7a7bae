package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/crucible"
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

// rewards reads the flags into the task's rewards and compiles them
// (reward.Parse).
func (rf *rewardFlags) rewards() ([]crucible.Reward, *reward.Set, error) {
	return reward.Parse(rf.specs, rf.files)
}
