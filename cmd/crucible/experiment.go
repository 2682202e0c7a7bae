package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/config/cli"
	"github.com/crucible-net/crucible/node/experiment"
)

func init() { register(newExperimentCmd) }

func newExperimentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "experiment",
		Short: "Reproduce the network's experiments: a competition series, a platform comparison",
		Long: `experiment runs a whole network in this process, as the demo does, and
measures what the reference network made its case with. Both write a report
folder (--dir): results.json with every number, the command, versions and the
machine; report.md; the chart as SVG and PNG. The results are saved after
every step: run the same command again to resume an interrupted experiment.
A validator started with --experiments FOLDER shows the reports in that folder
on its dashboard (/experiments).

By default the miners take turns (--miners sequential): each trains alone on
the machine for --budget, as miners with their own hardware would.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newExperimentSeriesCmd(), newExperimentPlatformsCmd())
	return cmd
}

func newExperimentSeriesCmd() *cobra.Command {
	cfg := experiment.DefaultSeriesConfig()
	cmd := &cobra.Command{
		Use:   "series",
		Short: "Successive competitions on one model and dataset, with miners that learn",
		Long: `series runs --rounds competitions on the same base model and dataset (the same
hidden test split each time); the adaptive miners carry their history from
round to round and read each round's published results (every miner's recipe
and test loss). It reports the winner's test loss per round against the base
model's and a reference line: the base tuned (crucible train --recipe auto,
one miner's budget) on another shipped instruct dataset, evaluated on the same
split, as the reference network compared with its vendor's instruct model.`,
		Example: `  crucible experiment series --dir experiments/facts-series --rounds 5
  crucible experiment series --dir experiments/defs --dataset definitions --rounds 3 --budget 1m`,
		Args: cobra.NoArgs,
	}
	return cli.Run(cmd, &cfg, func(ctx context.Context, cfg *experiment.SeriesConfig) error {
		cfg.Command, cfg.Version = commandLine(), buildCommit()
		_, err := experiment.RunSeries(ctx, *cfg, cmd.OutOrStdout())
		return err
	})
}

func newExperimentPlatformsCmd() *cobra.Command {
	cfg := experiment.DefaultPlatformsConfig()
	cmd := &cobra.Command{
		Use:   "platforms",
		Short: "The network's winner against managed platforms' default recipes",
		Long: `platforms runs the network's competition and then, on the same train split and
hidden test split, one run of each managed platform's zero-configuration recipe
(together.ai, Google Vertex AI, OpenAI, Hugging Face AutoTrain, Axolotl's
example config; each recipe cites its sources) and of crucible train --recipe
auto, each with one miner's budget alone on the machine, and compares their
test losses.`,
		Example: `  crucible experiment platforms --dir experiments/facts-platforms
  crucible experiment platforms --dir experiments/p --platforms together,openai --auto-runs 1 --budget 1m`,
		Args: cobra.NoArgs,
	}
	return cli.Run(cmd, &cfg, func(ctx context.Context, cfg *experiment.PlatformsConfig) error {
		cfg.Command, cfg.Version = commandLine(), buildCommit()
		_, err := experiment.RunPlatforms(ctx, *cfg, cmd.OutOrStdout())
		return err
	})
}

// commandLine is how this process was started, for the record.
func commandLine() string { return experiment.CommandLine(os.Args[1:]) }
