package minernode_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/node/minernode"
)

// TestCommandStrategyFindsTheTrainer checks that --command is looked up when
// the miner starts (a typo fails then, not at the first task) and that a
// relative path becomes absolute, since the trainer runs in each task's
// directory.
func TestCommandStrategyFindsTheTrainer(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "train.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	tests := []struct {
		argv    []string
		want    string // Argv[0] after the lookup; "" when it must fail
		wantErr string
	}{
		{[]string{"./train.sh", "--fast"}, filepath.Join(dir, "train.sh"), ""},
		{[]string{"sh", "-c", "true"}, "sh", ""},
		{[]string{"./missing.sh"}, "", `--command "./missing.sh": no such executable program`},
		{[]string{"no-such-trainer-program"}, "", "no such executable program"},
	}
	for _, tt := range tests {
		s, err := minernode.NewStrategy(miner.Config{Strategy: "command", Command: tt.argv}, 1, nil)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: err %v, want %q", tt.argv, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tt.argv, err)
			continue
		}
		cs := s.(*miner.CommandStrategy)
		if cs.Argv[0] != tt.want || !slices.Equal(cs.Argv[1:], tt.argv[1:]) {
			t.Errorf("%v: argv %v, want %s first", tt.argv, cs.Argv, tt.want)
		}
	}
}
