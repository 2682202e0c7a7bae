package validatornode_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node/localnet"
	"github.com/crucible-net/crucible/node/validatornode"
	"github.com/crucible-net/crucible/reward"
)

// A grpo task's rewards run on its dataset's rows before it is stored: a
// reward that loops forever, fails on a row or tries to load code is
// refused with its line and the row, and nothing is stored; a good one is
// stored with the task.
func TestSubmitGRPOChecksRewards(t *testing.T) {
	f := newFixture(t, "")
	n, err := f.open(t)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	ds, err := localnet.SampleDataset(t.TempDir(), assets.Arithmetic, 60)
	if err != nil {
		t.Fatal(err)
	}
	task := func(rs ...crucible.Reward) *crucible.Task {
		return &crucible.Task{Type: crucible.TaskGRPO, Model: "tiny", Dataset: ds, HoursToComplete: 0.01, IsOrganic: true, Rewards: rs}
	}
	star := func(code string) crucible.Reward { return crucible.Reward{Name: "mine", Weight: 1, Code: code} }
	for _, c := range []struct {
		name string
		task *crucible.Task
		want string
	}{
		{"endless loop", task(star("def reward(p, c, e):\n    n = 0\n    while True:\n        n += 1\n")), "reward mine (line 4): Starlark computation cancelled: ran past the step limit"},
		{"fails on a row", task(star("def reward(p, c, e):\n    return 10 / (e['answer'] - 2)\n")), "arithmetic.jsonl:1: reward mine (line 2): floating-point division by zero"},
		{"load", task(star("load('os.star', 'system')\ndef reward(p, c, e):\n    return 1\n")), "reward mine (line 1): load() is not available"},
		{"unknown column", task(crucible.Reward{Name: "numeric_answer", Weight: 1, Args: map[string]any{"field": "result"}}), `no extra column "result"`},
		{"no rewards", task(), "at least one reward"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := n.Submit(ctx, c.task)
			if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want EINVALID with %q", err, c.want)
			}
		})
	}
	if tasks, total, _ := n.Store().FindTasks(ctx, crucible.TaskFilter{}); total != 0 {
		t.Fatalf("refused tasks were stored: %+v", tasks)
	}
	good := task(crucible.Reward{Name: "numeric_answer", Weight: 1}, star("def reward(p, c, e):\n    return len(c) / 100.0\n"))
	if err := n.Submit(ctx, good); err != nil {
		t.Fatal(err)
	}
	got, err := n.Store().FindTask(ctx, good.ID)
	if err != nil || !reflect.DeepEqual(got.Rewards, good.Rewards) || got.Type != crucible.TaskGRPO {
		t.Fatalf("stored %+v, %v", got, err)
	}
}

// Synthetic grpo tasks come only from grpo datasets with their own
// rewards file: the shipped arithmetic set carries the demo's rewards, a
// grpo set without a file makes no candidate, and a broken file stops the
// node's start with the file's name.
func TestSyntheticGRPOCandidates(t *testing.T) {
	dir := t.TempDir()
	arith, err := localnet.SampleDataset(dir, assets.Arithmetic, 60)
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := fs.ReadFile(assets.FS(), assets.ArithmeticRewards)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "arithmetic.rewards.json"), shipped, 0o644); err != nil {
		t.Fatal(err)
	}
	bare := filepath.Join(t.TempDir(), "bare.jsonl")
	if b, err := os.ReadFile(arith); err != nil || os.WriteFile(bare, b, 0o644) != nil {
		t.Fatal(err)
	}
	cfg := validatornode.DefaultConfig()
	cfg.SyntheticModels = []string{"tiny"}
	cfg.SyntheticDatasets = []string{arith, bare}
	got, err := validatornode.SyntheticCandidates(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Type != crucible.TaskGRPO || got[0].Dataset != arith || !reflect.DeepEqual(got[0].Rewards, localnet.DemoRewards) {
		t.Fatalf("candidates %+v; want only the arithmetic set, with the shipped rewards", got)
	}
	if err := os.WriteFile(reward.SidecarPath(bare), []byte(`[{"name": "numeric_answer", "wieght": 1}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := validatornode.SyntheticCandidates(&cfg); err == nil || !strings.Contains(err.Error(), "bare.rewards.json") || !strings.Contains(err.Error(), "wieght") {
		t.Fatalf("a broken rewards file: %v; want an error naming the file and the field", err)
	}
}

// The dashboard's form gets the built-in rewards from the node and has a
// grpo task's rewards checked on its dataset before the customer confirms
// it, by the same check Submit runs; nothing is stored by either.
func TestFormRewardCheck(t *testing.T) {
	f := newFixture(t, "")
	n, err := f.open(t)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	b := validatornode.FormBackend(n)
	var names []string
	for _, r := range b.RewardBuiltins() {
		if r.Doc == "" || r.Range == "" {
			t.Errorf("built-in %s undocumented: %+v", r.Name, r)
		}
		names = append(names, r.Name)
	}
	if !slices.Contains(names, "numeric_answer") || !slices.Contains(names, "regex_match") {
		t.Fatalf("built-ins %v", names)
	}
	ds, err := localnet.SampleDataset(t.TempDir(), assets.Arithmetic, 60)
	if err != nil {
		t.Fatal(err)
	}
	task := &crucible.Task{Type: crucible.TaskGRPO, Model: "tiny", Dataset: ds,
		Rewards: []crucible.Reward{{Name: "mine", Weight: 1, Code: "def reward(p, c, e):\n    return 10 / (e['answer'] - 2)\n"}}}
	if err := b.CheckGRPO(ctx, task); crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), "floating-point division by zero") {
		t.Fatalf("failing reward: %v", err)
	}
	task.Rewards = []crucible.Reward{{Name: "numeric_answer", Weight: 1}}
	if err := b.CheckGRPO(ctx, task); err != nil {
		t.Fatalf("good reward: %v", err)
	}
	if _, total, _ := n.Store().FindTasks(ctx, crucible.TaskFilter{}); total != 0 {
		t.Fatalf("checking stored %d tasks", total)
	}
}
