package main

import "github.com/spf13/cobra"

func init() { register(newBenchCmd) }

// benchCommands holds the constructors of the "crucible bench" subcommands;
// each benchmark's file registers itself with registerBench.
var benchCommands []func() *cobra.Command

func registerBench(f func() *cobra.Command) { benchCommands = append(benchCommands, f) }

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure crucible's speed on this machine (kernels, training, tokenizer)",
		Long: `bench measures the speed of crucible's hot paths on this machine and prints
the figures; --json gives one object per row for scripts.`,
	}
	for _, add := range benchCommands {
		cmd.AddCommand(add())
	}
	return cmd
}
