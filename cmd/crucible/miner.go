package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/miner"
	"github.com/spf13/cobra"
)

func init() { register(newMinerCmd) }

// minerSettings configure "crucible miner".
type minerSettings struct {
	miner.Config
	Key      string  `flag:"key" help:"this miner's hotkey file (created when missing). Defaults to $CRUCIBLE_HOME/keys/miner.json"`
	Chain    string  `flag:"chain" help:"URL of the \"crucible chain\" the network runs on (required)"`
	MinStake float64 `flag:"min-validator-stake" help:"stake (TAO) a validator needs before this miner answers it. Defaults to 0"`
	Seed     uint64  `flag:"seed" help:"seed for training. Defaults to 1"`
	Verbose  bool    `flag:"verbose" help:"log every job step"`
}

func newMinerCmd() *cobra.Command {
	cfg := &minerSettings{Config: miner.DefaultConfig(), Key: filepath.Join(crucibleHome(), "keys", "miner.json"), Seed: 1}
	cfg.WorkDir = filepath.Join(crucibleHome(), "miner")
	cmd := &cobra.Command{
		Use:   "miner",
		Short: "Run a miner: accept tasks from validators, fine-tune, upload results",
		Long: `miner runs a crucible miner. It registers its hotkey on the chain and
publishes its address, answers validators' signed task offers with its accept
policy, trains the tasks it is chosen for with its strategy, and uploads the
result before the deadline.

Strategies: auto (every hyperparameter chosen from the model, data and time
budget), the fixed recipes lora-fast, lora-quality and full, or command: any
external trainer (see the miner contract in the README).`,
		Args: cobra.NoArgs,
	}
	return daemon(cmd, cfg, runMiner)
}

func runMiner(ctx context.Context, cfg *minerSettings) error {
	if !isURL(cfg.Chain) {
		return crucible.Errorf(crucible.EINVALID, "--chain must be the URL of a \"crucible chain\" (got %q)", cfg.Chain).
			WithHint("start one with \"crucible chain\" and pass --chain http://127.0.0.1:9944")
	}
	log := newLogger(cfg.Verbose)
	key, err := loadOrCreateKey(cfg.Key)
	if err != nil {
		return fmt.Errorf("miner key: %w", err)
	}
	ch, _, err := openChain(cfg.Chain, key)
	if err != nil {
		return err
	}
	strategy, err := newStrategy(cfg.Config, cfg.Seed, log)
	if err != nil {
		return err
	}
	n, err := startMiner(cfg.Config, strategy, key, ch, cfg.MinStake, log)
	if err != nil {
		return err
	}
	if err := joinChain(ctx, ch, key, n.addr(), 0); err != nil {
		return err
	}
	fmt.Printf("miner %s (%s) listening on http://%s\n", key.Address(), strategy.Name(), n.addr())
	return n.run(ctx)
}
