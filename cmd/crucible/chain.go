package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/config/cli"
	"github.com/crucible-net/crucible/node/chainnode"
)

func init() { register(newChainCmd) }

func newChainCmd() *cobra.Command {
	cfg := chainnode.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "chain",
		Short: "Run a local chain: registration, weights and Yuma Consensus, served over HTTP",
		Long: `Run a local chain with Bittensor's rules: neurons register, serve their
address and set weights (checked as Subtensor checks set_weights), and every
--tempo blocks Yuma Consensus turns the weights into incentive, dividends and
emission. State is kept in --db and survives restarts.

Reads (GET /v1/metagraph, /v1/block, /v1/hyperparams) are open; writes
(register, serve_axon, set_weights, add_stake) must be signed by the hotkey
they act for, as crucible nodes sign their requests.`,
		Args: cobra.NoArgs,
	}
	cli.Run(cmd, &cfg, func(ctx context.Context, cfg *chainnode.Config) error {
		return chainnode.Run(ctx, *cfg, cmd.OutOrStdout())
	})
	cmd.AddCommand(newChainMetagraphCmd(), newChainRegisterCmd(), newChainStakeCmd())
	return cmd
}

func newChainMetagraphCmd() *cobra.Command {
	var cfg chainnode.ClientConfig
	config.Defaults(&cfg)
	cmd := &cobra.Command{Use: "metagraph", Short: "Print the metagraph of a running chain", Args: cobra.NoArgs}
	return cli.Run(cmd, &cfg, func(ctx context.Context, cfg *chainnode.ClientConfig) error {
		return chainnode.PrintMetagraph(ctx, *cfg, cmd.OutOrStdout())
	})
}

func newChainRegisterCmd() *cobra.Command {
	var cfg chainnode.RegisterConfig
	config.Defaults(&cfg)
	cmd := &cobra.Command{Use: "register", Short: "Register a key's hotkey on a running chain", Args: cobra.NoArgs}
	return cli.Run(cmd, &cfg, func(ctx context.Context, cfg *chainnode.RegisterConfig) error {
		return chainnode.Register(ctx, *cfg, cmd.OutOrStdout())
	})
}

func newChainStakeCmd() *cobra.Command {
	var cfg chainnode.StakeConfig
	config.Defaults(&cfg)
	cmd := &cobra.Command{Use: "stake", Short: "Add stake to a key's hotkey on a running chain", Args: cobra.NoArgs}
	return cli.Run(cmd, &cfg, func(ctx context.Context, cfg *chainnode.StakeConfig) error {
		return chainnode.Stake(ctx, *cfg, cmd.OutOrStdout())
	})
}
