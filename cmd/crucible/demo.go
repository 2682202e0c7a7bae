package main

import (
	"github.com/crucible-net/crucible/crucible"
	"github.com/spf13/cobra"
)

func init() { register(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run a whole network on this machine: chain, validator, 4 miners and a task",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return crucible.Errorf(crucible.EINTERNAL, "crucible demo is not built yet").
				WithHint("the network (validator, miners, chain) is still being written; see the README")
		},
	}
}
