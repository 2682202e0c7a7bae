package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/config/cli"
	"github.com/crucible-net/crucible/node/minernode"
)

func init() { register(newMinerCmd) }

func newMinerCmd() *cobra.Command {
	cfg := minernode.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "miner",
		Short: "Run a miner: accept tasks from validators, fine-tune, upload results",
		Long: `miner runs a crucible miner. It registers its hotkey on the chain and
publishes its address, answers validators' signed task offers with its accept
policy, trains the tasks it is chosen for with its strategy, and uploads the
result before the deadline. Its state (hotkey, work directory) lives in
--home ($CRUCIBLE_HOME, default ~/.crucible).

Strategies: auto (every hyperparameter chosen from the model, data and time
budget), the fixed recipes lora-fast, lora-quality, lora-small, full and
full-short, or command: any external trainer (see the miner contract in the
README). A miner enters the tournaments validators announce with its method
(the recipe and a hash of its settings, or the trainer program's hash and the
--method-image/--method-commit it declares), unless --no-tournaments.`,
		Example: `  crucible miner --chain http://127.0.0.1:9944
  crucible miner --chain http://127.0.0.1:9944 --strategy command --command ./train.sh --max-jobs 2
  crucible miner --chain http://127.0.0.1:9944 --strategy torch --torch-args --mode,lora`,
		Args: cobra.NoArgs,
	}
	return cli.Run(cmd, &cfg, func(ctx context.Context, cfg *minernode.Config) error {
		n, err := minernode.Open(ctx, *cfg, minernode.Deps{Out: os.Stdout})
		if err != nil {
			return err
		}
		return n.Run(ctx)
	})
}
