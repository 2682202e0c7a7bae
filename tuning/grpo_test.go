package tuning

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// grpoRows asks the color of things, with the color as the extra column
// the rewards read.
func grpoRows(n int, seed uint64) []map[string]any {
	rng := rand.New(rand.NewPCG(seed, 3))
	rows := make([]map[string]any, n)
	for i := range rows {
		k := rng.IntN(len(things))
		rows[i] = map[string]any{"prompt": fmt.Sprintf("What color is the %s?", things[k]), "color": colors[k]}
	}
	return rows
}

var grpoRewards = []crucible.Reward{
	{Name: "contains_answer", Weight: 1, Args: map[string]any{"field": "color"}},
	{Name: "short", Weight: 0.5, Code: "def reward(prompt, completion, extra):\n    return 1.0 if len(completion.split()) <= 4 else 0.0\n"},
}

// A grpo run writes a model whose training.json holds the rewards, and
// the evaluator scores it on hidden prompts the same way twice.
func TestTrainGRPOThenEvaluate(t *testing.T) {
	base := tinyBase(t)
	dir := t.TempDir()
	trainPath := writeJSONL(t, dir, "train.jsonl", grpoRows(60, 1))
	testPath := writeJSONL(t, dir, "test.jsonl", grpoRows(12, 2))
	out := filepath.Join(dir, "out")
	var logs []string
	res, err := Train(context.Background(), Spec{ModelDir: base, DataPath: trainPath, Rewards: grpoRewards, OutDir: out, Budget: time.Minute, Seed: 2,
		Log:    func(s string) { logs = append(logs, s) },
		Recipe: Recipe{LoRA: boolPtr(false), LR: 1e-3, MaxSteps: 6, Generations: 4, MaxCompletion: 8}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.TaskType != crucible.TaskGRPO || res.GRPO == nil || res.GRPO.Completions != 6*4*4 || res.Train.Steps != 6 {
		t.Fatalf("result %+v", res)
	}
	b, err := os.ReadFile(filepath.Join(out, TrainingFile))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		TaskType string         `json:"task_type"`
		Results  map[string]any `json:"results"`
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.TaskType != "grpo" || rec.Results["reward_names"] == nil || rec.Results["val_reward"] == nil {
		t.Fatalf("training.json: %s (%v)", b, err)
	}
	if !strings.Contains(strings.Join(logs, "\n"), "rewards = contains_answer×1 (field=color), short×0.5 (starlark)") {
		t.Errorf("log lacks the rewards:\n%s", strings.Join(logs, "\n"))
	}
	spec := GRPOEvalSpec{BaseDir: base, ModelDir: out, TestPath: testPath, Rewards: grpoRewards, Seed: 77, MaxCompletion: 8}
	a, err := EvaluateGRPO(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	again, err := EvaluateGRPO(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if a.Failure != "" || a.Prompts != 12 || a.Completions != 24 || !(a.KL > 0) || math.Float64bits(a.Score) != math.Float64bits(again.Score) {
		t.Fatalf("evaluation %+v, again %+v", a, again)
	}
	if len(a.RewardNames) != 2 || a.Weights[1] != 0.5 || math.Abs(a.Score-(a.Reward-0.5*a.KL)) > 1e-12 {
		t.Fatalf("evaluation %+v", a)
	}
	// The base scores with no KL; an untrained copy is no fine-tune.
	spec.ModelDir = ""
	br, err := EvaluateGRPO(context.Background(), spec)
	if err != nil || !math.IsNaN(br.KL) || br.Score != br.Reward {
		t.Fatalf("base evaluation %+v, %v", br, err)
	}
	spec.ModelDir = base
	if r, err := EvaluateGRPO(context.Background(), spec); err != nil || r.Failure != FailIdentical {
		t.Fatalf("base as submission: %+v, %v", r, err)
	}
}

func TestTrainGRPOBadInput(t *testing.T) {
	base := tinyBase(t)
	dir := t.TempDir()
	good := writeJSONL(t, dir, "train.jsonl", grpoRows(20, 1))
	emptyColor := writeJSONL(t, dir, "empty.jsonl", append(grpoRows(3, 1), map[string]any{"prompt": "What color is the moon?", "color": ""}))
	long := writeJSONL(t, dir, "long.jsonl", []map[string]any{{"prompt": strings.Repeat("What color is the sky? ", 40), "color": "blue"}})
	cases := []struct {
		name string
		spec Spec
		want string
	}{
		{"no rewards", Spec{DataPath: good, TaskType: crucible.TaskGRPO}, "needs at least one reward function"},
		{"unknown reward", Spec{DataPath: good, Rewards: []crucible.Reward{{Name: "nope", Weight: 1}}}, "no built-in reward of this name"},
		{"syntax error", Spec{DataPath: good, Rewards: []crucible.Reward{{Name: "mine", Weight: 1, Code: "def reward(p, c, e):\n  return (\n"}}}, "reward mine (line 3): syntax error"},
		{"runtime error", Spec{DataPath: good, Rewards: []crucible.Reward{{Name: "mine", Weight: 1, Code: "def reward(p, c, e):\n    return e['colour']\n"}}},
			`train.jsonl:1: reward mine (line 2): key "colour" not in dict`},
		{"empty extra column", Spec{DataPath: emptyColor, Rewards: grpoRewards[:1]}, `empty.jsonl:4: reward contains_answer: extra column "color" is empty`},
		{"prompt too long", Spec{DataPath: long, Rewards: grpoRewards}, "long.jsonl:1: the prompt has"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.spec.ModelDir, c.spec.OutDir, c.spec.Budget = base, filepath.Join(dir, "o-"+strings.ReplaceAll(c.name, " ", "-")), time.Minute
			_, err := Train(context.Background(), c.spec, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) || crucible.ErrorCode(err) != crucible.EINVALID {
				t.Fatalf("got %v (code %s), want an EINVALID error containing %q", err, crucible.ErrorCode(err), c.want)
			}
			if _, err := os.Stat(c.spec.OutDir); err == nil {
				t.Fatal("a failed run left an output directory")
			}
		})
	}
}
