package miner_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/miner"
)

// An external trainer of a grpo task finds the task's rewards in the file
// CRUCIBLE_REWARDS names, and its progress lines may carry its reward.
func TestCommandStrategyGRPO(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "train.sh")
	os.WriteFile(script, []byte(`#!/bin/sh
cp "$CRUCIBLE_REWARDS" "$CRUCIBLE_OUT_DIR/rewards-seen.json"
echo 'CRUCIBLE_PROGRESS {"fraction":0.5,"step":3,"reward":0.25}'
`), 0o755)
	out := filepath.Join(dir, "job", "out")
	os.MkdirAll(out, 0o755)
	rs := []crucible.Reward{{Name: "numeric_answer", Weight: 1}, {Name: "mine", Weight: 0.5, Code: "def reward(p, c, e):\n    return 1\n"}}
	job := &miner.Job{TaskID: "t1", TaskType: crucible.TaskGRPO, ModelDir: dir, DataPath: filepath.Join(dir, "train.jsonl"),
		Mapping: &crucible.ColumnMapping{FieldPrompt: "prompt"}, Rewards: rs, Deadline: time.Now().Add(time.Minute), OutDir: out}
	var got []miner.Progress
	s := &miner.CommandStrategy{Argv: []string{script}}
	if err := s.Train(context.Background(), job, func(p miner.Progress) { got = append(got, p) }); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "rewards-seen.json"))
	if err != nil {
		t.Fatal(err)
	}
	var seen []crucible.Reward
	if err := json.Unmarshal(b, &seen); err != nil || len(seen) != 2 || seen[1].Code != rs[1].Code || seen[1].Weight != 0.5 {
		t.Fatalf("rewards the trainer saw: %s (%v)", b, err)
	}
	if len(got) != 1 || got[0].Reward == nil || *got[0].Reward != 0.25 || got[0].Step != 3 {
		t.Fatalf("progress %+v", got)
	}
}
