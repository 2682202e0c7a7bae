package main

import (
	"context"
	"errors"

	"github.com/crucible-net/crucible/config/cli"
	"github.com/crucible-net/crucible/console"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/auditor"
	"github.com/crucible-net/crucible/node/auditornode"
)

func init() { register(newAuditorCmd) }

func newAuditorCmd() *cobra.Command {
	cfg := auditornode.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "auditor",
		Short: "Audit a validator: verify its results log, recompute weights, re-run evaluations",
		Long: `auditor re-checks a validator from the outside. It reads the validator's
public results log, verifies the hash chain and every signature, recomputes
each published weight vector from the logged results with the same scoring
code, compares the validator's weights on chain with what it published,
re-runs the evaluation of a random sample of submissions (each loss must match
exactly: the evaluator is deterministic), reports every discrepancy, and sets
its own weights from its own recomputation. Exit status 1 when it found any.`,
		Args: cobra.NoArgs,
	}
	return cli.Run(cmd, &cfg, func(ctx context.Context, cfg *auditornode.Config) error {
		err := auditornode.Run(ctx, *cfg, func(r *auditor.Report) error {
			if cfg.JSON {
				return console.PrintJSON(cmd.OutOrStdout(), r)
			}
			return r.WriteText(cmd.OutOrStdout())
		})
		if errors.Is(err, auditornode.ErrDiscrepancies) {
			return exitError{code: 1}
		}
		return err
	})
}
