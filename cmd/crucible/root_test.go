package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestEveryCommandBuilds constructs the whole command tree (flag bindings
// included) and checks that help lists the main subcommands.
func TestEveryCommandBuilds(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"demo", "validator", "miner", "chain", "auditor", "keys", "data", "version", "bench"} {
		if !strings.Contains(out.String(), "  "+name+" ") {
			t.Errorf("--help does not list %q:\n%s", name, out.String())
		}
	}
	for _, c := range root.Commands() {
		var b bytes.Buffer
		c.SetOut(&b)
		if err := c.Help(); err != nil {
			t.Errorf("%s --help: %v", c.Name(), err)
		}
	}
}

// TestHelpStatesDefaultsOnce checks every flag of every command: a flag
// whose default is a value shows it once, as pflag's "(default ...)", so
// its usage text must not state it again. (A zero default shows nothing;
// its usage may say in words what zero means.)
func TestHelpStatesDefaultsOnce(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			zero := f.DefValue == "" || f.DefValue == "0" || f.DefValue == "false" || f.DefValue == "[]" || f.DefValue == "0s"
			usage := strings.ToLower(f.Usage)
			if !zero && (strings.Contains(usage, "(default") || strings.Contains(usage, "defaults to")) {
				t.Errorf("%s --%s states its default %q in its help too: %q", c.CommandPath(), f.Name, f.DefValue, f.Usage)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
}
