package main

import (
	"strings"

	"github.com/crucible-net/crucible/crucible"
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

// requireFlags returns EINVALID naming the flags of cmd, among names, left
// empty, after the list of all of them ("--model and --data are required:
// missing --data"), or nil when all are set.
func requireFlags(cmd *cobra.Command, names ...string) error {
	var all, missing []string
	for _, n := range names {
		all = append(all, "--"+n)
		if f := cmd.Flags().Lookup(n); f == nil || f.Value.String() == "" {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	list := strings.Join(all, " and ")
	if len(all) > 2 {
		list = strings.Join(all[:len(all)-1], ", ") + " and " + all[len(all)-1]
	}
	return crucible.Errorf(crucible.EINVALID, "%s are required: missing %s", list, strings.Join(missing, ", "))
}
