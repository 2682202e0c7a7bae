package main

import (
	"fmt"
	"io"

	"github.com/crucible-net/crucible/config/cli"
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
	root.Version = version
	root.SetVersionTemplate(versionLine())
	root.InitDefaultVersionFlag()
	root.Flags().Lookup("version").Usage = "print the version and the commit it was built from"
	root.SetFlagErrorFunc(cli.FlagError)
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	for _, c := range root.Commands() {
		cli.StrictArgs(c)
	}
	return root
}

// subcommands holds the constructors of the top-level subcommands; each
// subcommand's file registers itself in an init function, so adding a command
// touches only its own file.
var subcommands []func() *cobra.Command

func register(f func() *cobra.Command) { subcommands = append(subcommands, f) }

// printf writes to w and returns only the error, for text printers.
func printf(w io.Writer, format string, args ...any) error {
	_, err := fmt.Fprintf(w, format, args...)
	return err
}
