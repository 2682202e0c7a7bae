package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/config/cli"
	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/node/benchnet"
)

func newBenchNetworkCmd() *cobra.Command {
	var cfg benchnet.Config
	config.Defaults(&cfg)
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Measure the validator's overhead per task and its API latency under load, with simulated miners",
		Long: `network starts, in this process on loopback, a validator (its embedded chain;
SQLite, or Postgres with --db) and --miners miners that speak the node protocol
but do not train: each writes a random LoRA adapter of the base, so that every
submission is valid and is evaluated for real. It fills the store with
--store-tasks finished tasks, then runs --tasks tasks one after another through
the customer API while a customer load sends --rate requests a second (an open
loop) to the API's read routes.

It prints the validator's overhead per task: from offering the task to its
score, less the miners' training and the evaluation (each task's phases come
from its status events); the API's latency percentiles by route; and the
process's resident memory before and after the load. --duration keeps tasks
and load going that long: a soak, to see memory stay flat.

With --db, the run makes a schema of its own in that database and drops it
after. Without flags it runs the figures of record: 100 miners, 10,000 tasks
in the store, 10 tasks at 50 requests a second.`,
		Example: `  crucible bench network --miners 10 --tasks 3 --store-tasks 1000
  crucible bench network --duration 10m --rate 20
  crucible bench network --db postgres://crucible@127.0.0.1/crucible --miners 10 --store-tasks 1000`,
		Args: cobra.NoArgs,
	}
	return cli.Run(cmd, &cfg, func(ctx context.Context, cfg *benchnet.Config) error {
		w := cmd.OutOrStdout()
		if !cfg.JSON {
			cfg.Progress = w
			fmt.Fprintf(w, "%s", versionLine())
			fmt.Fprintf(w, "cpu: %s, %d threads; load average %s\n", orUnknown(kernel.CPUModel()), runtime.NumCPU(), loadAverages())
		}
		rep, err := benchnet.Run(ctx, *cfg)
		if err != nil {
			return fmt.Errorf("bench network: %w", err)
		}
		if cfg.JSON {
			return json.NewEncoder(w).Encode(rep)
		}
		if err := rep.Print(w); err != nil {
			return err
		}
		fmt.Fprintf(w, "load average at the end: %s\n", loadAverages())
		return nil
	})
}

// loadAverages is the machine's load over the last 1, 5 and 15 minutes
// ("unknown" where /proc does not say).
func loadAverages() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
