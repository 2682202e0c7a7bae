package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "crucible",
		Short: "A decentralized, competitive fine-tuning network",
		Long: `crucible runs a competitive fine-tuning network in one binary.

A customer names a base model and a dataset. A validator keeps a hidden test
split, offers the task to miners, evaluates every submission on the hidden
split, delivers the best model and turns the results into weights; auditors
re-check it all.

Start with "crucible demo" to run a whole network on this machine.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	return root
}

// subcommands holds the constructors of the top-level subcommands; each
// subcommand's file registers itself in an init function, so adding a command
// touches only its own file.
var subcommands []func() *cobra.Command

func register(f func() *cobra.Command) { subcommands = append(subcommands, f) }
