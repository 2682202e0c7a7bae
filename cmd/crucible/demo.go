package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/config/cli"
	"github.com/crucible-net/crucible/node/localnet"
)

func init() { register(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	cfg := localnet.DefaultDemoConfig()
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a whole network on this machine: chain, validator, 4 miners and a task",
		Long: `demo runs a complete crucible network in this process, on loopback: a local
chain with Yuma Consensus, a validator with its API, and four miners with
different strategies (auto, two adaptive, lora-quality). It submits a
fine-tuning task on the shipped base model and facts dataset, shows each
miner's progress, evaluates every submission on the hidden test split,
prints the leaderboard, a before/after generation and where the winner is,
sets weights and runs an epoch. Then it keeps serving until Ctrl-C (--exit
to quit at once).

With --tournament it runs a tournament instead: six miners with different
strategies (lora-fast, auto, adaptive, lora-quality, full, lora-small), the
first seeded as the champion; the other five enter with their
methods and play a group stage, a knockout final and a boss round (an
instruct, a dpo and a grpo task) against the champion, while a customer's task
is trained by the champion's miner. It prints the bracket, each task's losses
and the boss round's margins, the customer's result against the base model,
the champions' history and the weights (with the burned share). With
--miners sequential every miner trains each task alone on the machine for
--task-budget, one after another.`,
		Example: `  crucible demo
  crucible demo --budget 1m --exit
  crucible demo --tournament --exit`,
		Args: cobra.NoArgs,
	}
	return cli.Run(cmd, &cfg, func(ctx context.Context, cfg *localnet.DemoConfig) error {
		return localnet.Demo(ctx, *cfg, cmd.OutOrStdout())
	})
}
