package main

import (
	"bytes"
	"strings"
	"testing"
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
