package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/config/cli"
	"github.com/crucible-net/crucible/node/validatornode"
)

func init() { register(newValidatorCmd) }

func newValidatorCmd() *cobra.Command {
	cfg := validatornode.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "validator",
		Short: "Run a validator: take tasks, offer them to miners, evaluate, set weights",
		Long: `validator runs a crucible validator: its HTTP API (customers, miners and the
public results log), the durable task lifecycle (prepare data, offer, start,
collect, evaluate, score) and the weight setter.

Its state (database, blobs, hotkey) lives in --home ($CRUCIBLE_HOME, default
~/.crucible); a second validator on the same state refuses to start. Blobs
may live in S3 instead: --blobs s3://bucket/prefix, with the endpoint and
credentials in AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.

By default the validator embeds a local chain, its state kept in the
validator's database (a one-validator network); with --chain set to a
"crucible chain" URL, miners, auditors and other validators join the same
network from other processes.`,
		Example: `  crucible validator
  crucible validator --chain http://127.0.0.1:9944 --listen 0.0.0.0:8090 --public-url http://203.0.113.7:8090
  crucible validator --db postgres://crucible@127.0.0.1/crucible --blobs s3://crucible-artifacts/validator-1
  crucible validator --evaluator torch --torch-device cuda`,
		Args: cobra.NoArgs,
	}
	return cli.Run(cmd, &cfg, func(ctx context.Context, cfg *validatornode.Config) error {
		defer validatornode.UseSpareThreads(cfg.SpareThreads)()
		n, err := validatornode.Open(ctx, *cfg, validatornode.Deps{Out: os.Stdout})
		if err != nil {
			return err
		}
		return n.Run(ctx)
	})
}
