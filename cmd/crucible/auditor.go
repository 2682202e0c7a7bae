package main

import (
	"context"
	"errors"
	"fmt"
	"os"

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
		err := auditornode.Run(ctx, *cfg, func(r *auditor.Report) error { return printAudit(r, cfg.JSON) })
		if errors.Is(err, auditornode.ErrDiscrepancies) {
			return exitError{code: 1}
		}
		return err
	})
}

func printAudit(r *auditor.Report, asJSON bool) error {
	if asJSON {
		return console.PrintJSON(os.Stdout, r)
	}
	fmt.Printf("results log: %d entries, %d tasks, %d weight vectors\n", r.Entries, r.Tasks, r.WeightSets)
	for _, re := range r.Reevaluated {
		mark := "ok"
		if !re.Match {
			mark = "MISMATCH"
		}
		fmt.Printf("re-evaluated %s / %s: logged %.6f, recomputed %.6f  %s\n", re.TaskID, re.Hotkey, re.Logged, re.Recomputed, mark)
	}
	if r.OnChainCosine != nil {
		fmt.Printf("on-chain weights vs published: cosine %.4f\n", *r.OnChainCosine)
	}
	if r.WeightsError != "" {
		fmt.Printf("could not set the auditor's own weights: %s\n", r.WeightsError)
	} else if r.WeightsBlock > 0 {
		fmt.Printf("auditor's own weights set at block %d\n", r.WeightsBlock)
	}
	if r.OK() {
		fmt.Println("no discrepancies")
		return nil
	}
	fmt.Printf("%d discrepancies:\n", len(r.Discrepancies))
	for _, d := range r.Discrepancies {
		where := ""
		if d.Seq > 0 {
			where = fmt.Sprintf("entry %d: ", d.Seq)
		}
		if d.TaskID != "" {
			where += "task " + d.TaskID + ": "
		}
		fmt.Printf("  %s%s\n", where, d.Message)
	}
	return nil
}
